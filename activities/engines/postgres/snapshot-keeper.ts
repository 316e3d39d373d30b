// The snapshot keeper: a small process, apart from the worker, that creates the job's logical slot
// over a replication connection with an exported snapshot (CREATE_REPLICATION_SLOT … SNAPSHOT
// 'export') and then holds that connection open, idle, because the snapshot lives exactly as long
// as it does ("Replication Protocol", CREATE_REPLICATION_SLOT). Every copy stream reads the rows
// as of that snapshot (SET TRANSACTION SNAPSHOT), and the slot's changes start exactly where it
// was taken: the rows and the changes meet with nothing missed and nothing twice.
//
// It is a process of its own so that a worker killed during the copy loses nothing: the next
// attempt (on any worker) finds the snapshot still open and copies only the ranges not yet done.
// It ends when the copy is released (dbmig.copy_state.released_at), when the target stops
// answering, or at its deadline; nothing else (a worker's exit) ends it. What it needs arrives
// on its stdin, never its arguments or environment, which other users of the machine may read.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { ConnectionParams } from './sessions';

export interface KeeperConfig {
  source: ConnectionParams;
  target: ConnectionParams;
  job: string;
  slot: string;
  /** ms since the epoch: the keeper ends then whatever happens (the source's vacuum waits for it). */
  deadline: number;
}

/** How long a keeper holds a snapshot at most: a copy longer than this starts over. */
export const KEEPER_MAX_MS = 48 * 3_600_000;

/** Starts a keeper for `config` and returns its pid; it outlives this process. */
export function spawnKeeper(config: KeeperConfig): number {
  const ts = existsSync(join(__dirname, 'snapshot-keeper-process.ts'));
  const entry = join(__dirname, ts ? 'snapshot-keeper-process.ts' : 'snapshot-keeper-process.js');
  // From source (tsx), the keeper needs tsx too; from dist it is plain JavaScript.
  const args = ts ? ['--import', 'tsx', entry] : [entry];
  const child = spawn(process.execPath, args, {
    cwd: resolve(dirname(entry), '..', '..', '..'),
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/' },
  });
  const { admit: _admit, ...source } = config.source;
  const { admit: _admitTarget, ...target } = config.target;
  child.stdin!.end(JSON.stringify({ ...config, source, target }));
  child.unref();
  return child.pid!;
}
