// The final comparison at the cutover's fence. At the switch (cutover.ts), once the last fence is
// drained and forward replication has stopped, and before reverse replication or any application
// can change either side, one REPEATABLE READ transaction on each side exports its snapshot: the
// source and the target as of the fence. Taking them costs two round trips inside the write-block
// window (the sessions connect before the block, and the cutover spares the source's when it ends
// every other session: it is its own, and never writes); the comparison itself runs later, in
// the final validation (validateData 'final', validate.ts), which imports both snapshots by their
// ids (recorded in the job record), so it never sees what reverse replication carries back or
// what an application that has moved writes meanwhile, and its duration does not add to the block.
//
// An exported snapshot lives as long as the transaction that exported it: the holder sessions stay
// open in the worker that ran the cutover, until the comparison has imported them (the importer
// keeps its own copy) or HOLD_MS passes, whichever is first: a held snapshot keeps VACUUM from
// removing rows deleted since on both servers. A comparison that runs on another worker imports
// them all the same (PostgreSQL checks only the database); one that comes after the holders are
// gone (this worker died, or HOLD_MS passed) is told so, and validate.ts falls back.
import type pg from 'pg';
import { connect, type ConnectionParams } from './sessions';

/** How long a cutover's snapshots are held for the final validation that follows it. */
export const HOLD_MS = 30 * 60_000;

/** What the job record keeps of the snapshots: their ids, and until when they are held at most. */
export interface FenceSnapshotIds {
  source: string;
  target: string;
  /** When they were taken (ms since the epoch). */
  at: number;
  heldUntil: number;
}

interface Held {
  sessions: pg.Client[];
  timer: NodeJS.Timeout;
}

/** The holders of this worker, by job. */
const held = new Map<string, Held>();

/** Two sessions, connected before they are needed: connecting (authentication) costs more than the export. */
export interface SnapshotSessions {
  source: pg.Client;
  target: pg.Client;
  /** The source session's backend, which the cutover spares when it ends every other session. */
  sourcePid: number;
}

/**
 * Connects the holder sessions. They outlive the activity (no cancellation signal): they are
 * released by releaseFenceSnapshots or the timer. A connection that fails is ended with the other.
 */
export async function openSnapshotSessions(
  source: ConnectionParams,
  target: ConnectionParams,
): Promise<SnapshotSessions> {
  const [s, t] = await Promise.allSettled([connect(source, undefined), connect(target, undefined)]);
  if (s.status === 'fulfilled' && t.status === 'fulfilled') {
    const x = { source: s.value, target: t.value, sourcePid: 0 };
    try {
      x.sourcePid = (await x.source.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
    } catch (err) {
      await endSnapshotSessions(x);
      throw err;
    }
    return x;
  }
  for (const r of [s, t]) if (r.status === 'fulfilled') await r.value.end().catch(() => undefined);
  throw (s.status === 'rejected' ? s.reason : (t as PromiseRejectedResult).reason) as Error;
}

export async function endSnapshotSessions(x: SnapshotSessions | undefined): Promise<void> {
  if (x) await Promise.all([x.source.end().catch(() => undefined), x.target.end().catch(() => undefined)]);
}

async function exportSnapshot(c: pg.Client): Promise<string> {
  await c.query('begin isolation level repeatable read read only');
  return (await c.query<{ id: string }>('select pg_export_snapshot() as id')).rows[0].id;
}

/**
 * Takes both snapshots at once, at the fence, and keeps them held for `job` until released or
 * HOLD_MS. Replaces (and ends) what an earlier attempt of this worker held for the same job.
 */
export async function takeFenceSnapshots(job: string, x: SnapshotSessions): Promise<FenceSnapshotIds> {
  const [source, target] = await Promise.all([exportSnapshot(x.source), exportSnapshot(x.target)]);
  const at = Date.now();
  releaseFenceSnapshots(job);
  const timer = setTimeout(() => releaseFenceSnapshots(job), HOLD_MS);
  timer.unref(); // the sessions are the worker's business, not a reason to keep a process alive
  held.set(job, { sessions: [x.source, x.target], timer });
  return { source, target, at, heldUntil: at + HOLD_MS };
}

/** Ends the holders of `job` in this worker, if any: its snapshots cannot be imported afterwards. */
export function releaseFenceSnapshots(job: string): void {
  const h = held.get(job);
  if (!h) return;
  held.delete(job);
  clearTimeout(h.timer);
  for (const c of h.sessions) void c.end().catch(() => undefined);
}

/** Whether this worker still holds snapshots for `job` (tests, and the cutover's own pid list). */
export function holdsFenceSnapshots(job: string): boolean {
  return held.has(job);
}

/**
 * Starts a REPEATABLE READ transaction on `c` as of snapshot `id`. False when the snapshot cannot
 * be imported any more (its holder ended: "invalid snapshot identifier", or its backend exited);
 * the transaction is rolled back then.
 */
export async function importSnapshot(c: pg.Client, id: string): Promise<boolean> {
  await c.query('begin isolation level repeatable read read only');
  try {
    await c.query(`set transaction snapshot '${id.replace(/'/g, "''")}'`);
    return true;
  } catch (err) {
    await c.query('rollback').catch(() => undefined);
    // 22023: invalid snapshot identifier; 55000: the exporting transaction is gone.
    if (['22023', '55000'].includes((err as { code?: string }).code ?? '')) return false;
    throw err;
  }
}
