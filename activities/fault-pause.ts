// Opt-in pause points inside a step, for tests and the reliability benchmark that kill the worker
// at a precise instant of a step (not only after it: worker/fault-injection.ts holds a finished
// step's result). OFF unless DBMIG_FAULT_PAUSE_AT is set: `pauseAt` then returns without waiting,
// reading nothing but the environment.
//
//   DBMIG_FAULT_PAUSE_AT=<point>[:<ms>]   e.g. cutover/close-committed
//   DBMIG_FAULT_MARKER=<file>             optional: written when the pause begins
//   DBMIG_FAULT_RESUME=<file>             optional: the pause ends as soon as this file exists
//
// At the named point, once per process, the step writes the marker and waits <ms> (default 10
// minutes), or until the resume file appears, before going on: a SIGKILL on the marker lands
// exactly there, and a test can change the world around the paused step (restart a server) and
// then let it go on. The points:
//   cutover/close-committed   the fence's COMMIT returned (the source is closed, the block released),
//                             the job record still says 'closing'
//   cutover/switching         past the point of no return, inside the switch: replication stopped,
//                             the target marked as cut over, reverse replication not yet set up
//   copy/range-streaming      inside the snapshot copy, once a range is done: another range's rows
//                             are on their way into the target, not committed
import { randomBytes } from 'node:crypto';
import { existsSync, renameSync, writeFileSync } from 'node:fs';

export const PAUSE_AT_ENV = 'DBMIG_FAULT_PAUSE_AT';
export const PAUSE_MARKER_ENV = 'DBMIG_FAULT_MARKER';
export const PAUSE_RESUME_ENV = 'DBMIG_FAULT_RESUME';
const DEFAULT_PAUSE_MS = 10 * 60_000;

export type PausePoint = 'cutover/close-committed' | 'cutover/switching' | 'copy/range-streaming' | 'copy/rows-in';

/** What the marker holds. */
export interface PauseMarker {
  point: PausePoint;
  pid: number;
  /** When the pause began, ms since the epoch. */
  at: number;
}

let paused = false; // once per process: a worker that was not killed goes on normally

/** Waits at `point` when DBMIG_FAULT_PAUSE_AT names it (tests and benchmarks only); otherwise returns at once. */
export async function pauseAt(point: PausePoint, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const spec = env[PAUSE_AT_ENV];
  if (!spec || paused) return;
  const [name, ms] = spec.split(':');
  if (name !== point) return;
  paused = true;
  const file = env[PAUSE_MARKER_ENV];
  if (file) {
    const marker: PauseMarker = { point, pid: process.pid, at: Date.now() };
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, JSON.stringify(marker), { mode: 0o600 });
    renameSync(tmp, file); // never half a marker
  }
  process.stderr.write(`dbmig: FAULT INJECTION: paused at ${point} (pid ${process.pid})\n`);
  const until = Date.now() + (ms ? Number(ms) : DEFAULT_PAUSE_MS);
  const resume = env[PAUSE_RESUME_ENV];
  while (Date.now() < until && !(resume && existsSync(resume)))
    await new Promise((r) => setTimeout(r, Math.min(100, Math.max(0, until - Date.now()))));
}
