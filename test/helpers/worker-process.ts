// The real `dbmig worker` entry point in a process of its own, from the sources (bin/ would prefer a
// possibly stale dist/), so a test can kill it (SIGKILL) or freeze it (SIGSTOP) at a real window.
// Each test file runs in its own process: the workers it started are the ones killWorkers() ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Harness } from './harness';

export interface WorkerAt {
  /** The Temporal frontend (or a proxy in front of it). */
  address: string;
  taskQueue: string;
  stateDir: string;
}

export interface WorkerProcess {
  child: ChildProcess;
  /** Whole lines of stderr so far (the worker's log). */
  lines: string[];
  /** The last 4,000 characters of stderr, for an error message. */
  stderr(): string;
}

const started: ChildProcess[] = [];

/** Where a harness's workers poll; `address`: a proxy in front of its Temporal, if any. */
export const workerAt = (h: Harness, address = h.env.address): WorkerAt => ({
  address,
  taskQueue: h.taskQueue,
  stateDir: h.stateDir,
});

/** `args`: the worker command's own flags (`--data-plane`, `--control-plane`). */
export function spawnWorker(at: WorkerAt, env: NodeJS.ProcessEnv = {}, args: string[] = []): WorkerProcess {
  const main = join(__dirname, '..', '..', 'cli', 'main.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'worker', ...args], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: at.address,
      TEMPORAL_TASK_QUEUE: at.taskQueue,
      DBMIG_STATE_DIR: at.stateDir,
      DBMIG_METRICS_ADDRESS: 'off',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: string[] = [];
  let tail = '';
  let rest = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    tail = (tail + text).slice(-4_000);
    const parts = (rest + text).split('\n');
    rest = parts.pop()!;
    lines.push(...parts);
  });
  started.push(child);
  return { child, lines, stderr: () => tail };
}

/** SIGKILLs every worker this file started that still runs (a frozen one is woken first, or it would linger). */
export function killWorkers(): void {
  for (const w of started) {
    if (w.exitCode !== null || w.signalCode !== null) continue;
    w.kill('SIGCONT');
    w.kill('SIGKILL');
  }
}

/**
 * A test file's teardown before its harness closes: cancels the migration it started, if any (a run
 * that has ended is no error), then kills its workers, so nothing polls a server being torn down.
 */
export async function endRunAndWorkers(h: Harness | undefined, migrationId: string | undefined): Promise<void> {
  if (h && migrationId)
    await h.env.client.workflow
      .getHandle(migrationId)
      .cancel()
      .catch(() => undefined);
  killWorkers();
}
