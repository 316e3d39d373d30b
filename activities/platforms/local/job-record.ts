// The cutover's job record: stateDir/jobs/<job>.json, written after every step so a retry on any
// worker of this machine resumes where the last attempt stopped. It holds connection facts of the
// source (pids, the ACL), hence mode 0600; it is replaced by rename so a crash never leaves half a file.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CarriedSequence, CutoverResult } from '../platform';
import type { SourceAccess } from './close-source';

/**
 * How far the cutover got. Before 'closing' nothing of the source outlives the fence session;
 * 'closing' is only as far as the fence token on the source says (committed or not); from
 * 'closed' on, the source is closed for good: the point of no return.
 */
export type CutoverPhase = 'blocked' | 'drained' | 'closing' | 'closed' | 'switched';

export interface FenceRef {
  /** The backend holding the lock: a retry ends it if it outlived its worker. */
  pid: number;
  backendStart: string;
}

export interface BlockRecord extends FenceRef {
  /** When the lock was requested (ms since the epoch): the write-block window starts here. */
  startedAt: number;
  /** startedAt + cutover.timeout: PostgreSQL ends the fence session by then (fence.ts). */
  deadline: number;
}

export interface JobRecord {
  phase?: CutoverPhase;
  /** Blocks this cutover has taken; more than one only when a block ended before the point of no return. */
  blocks?: number;
  block?: BlockRecord;
  /** The fence the target applied under the block. */
  fence?: { token: string; lsn: string };
  /** What closing the source changes, as it was before, and the token committed with the close. */
  close?: { token: string; before: SourceAccess };
  /** The source's state the target took over at (the last fence, after every other session ended). */
  switched?: {
    at: number;
    finalLsn: string;
    writeBlockMs: number;
    sequences: CarriedSequence[];
    materializedViews: string[];
  };
  /** The cutover disabled the subscription (only past the point of no return). */
  subscriptionDisabled?: boolean;
  result?: CutoverResult;
}

/** Past the point of no return: the source stays closed, nothing reopens it automatically. */
export function pastPointOfNoReturn(rec: JobRecord): boolean {
  return rec.phase === 'closed' || rec.phase === 'switched' || !!rec.result;
}

export class JobRecords {
  constructor(private readonly file: string) {}

  async read(): Promise<JobRecord> {
    return existsSync(this.file) ? (JSON.parse(await readFile(this.file, 'utf8')) as JobRecord) : {};
  }

  async write(rec: JobRecord): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(rec), { mode: 0o600 });
    await rename(tmp, this.file);
  }

  async clear(): Promise<void> {
    await rm(this.file, { force: true });
  }
}
