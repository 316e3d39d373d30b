// One consistent point for the live validation (validate-live.ts): a snapshot of the source and a
// snapshot of the target that hold exactly the same transactions of the published tables, taken
// while the source keeps taking writes and the subscription keeps applying them.
//
// Why the two snapshots hold the same data (the argument the verdict rests on):
//   1. The target holds its apply at a fence token F. Before F exists, a hold session on the target
//      takes an advisory lock keyed by F; a BEFORE trigger on the target's dbmig.fence, enabled
//      ALWAYS so that the apply worker (session_replication_role = replica) fires it, asks for that
//      lock when it applies the row carrying F, and waits there, inside F's transaction. The apply
//      worker applies the source's transactions one at a time in the source's commit order (a
//      streamed transaction's parallel worker commits only when the leader reaches its commit, which
//      it cannot while it waits), so while it waits the target has committed exactly the
//      transactions that committed on the source before F, and none after. A target snapshot taken
//      then (and only once the wait is seen in pg_locks) is that prefix.
//   2. On the source, F is written while one session holds LOCK ... IN SHARE MODE on every table
//      compared (the cutover's Fence, fence.ts: deadline armed before the lock is asked for, safety
//      rule 2). The lock is granted only when no transaction holds ROW EXCLUSIVE on those tables,
//      and a writer releases that lock after it became visible (CommitTransaction ends the
//      transaction in the ProcArray, then releases its locks). The source snapshot is exported
//      while the lock is held; F commits, and the lock goes, after it. So a transaction that wrote
//      a compared table either committed before the lock was granted (before F in commit order,
//      visible in the snapshot) or writes them only after F committed (after F, invisible).
//   Hence, table by table, source snapshot = source commits before F = target snapshot, when
//   replication is faithful. Anything else the two snapshots show differently is a real difference
//   of the target at that point: a change made behind replication's back, a skipped transaction.
//
// Cost: writes to the compared tables wait for the length of three round trips (the lock, the
// export, F's commit), a few milliseconds, bounded by PAUSE_MS; a lock not granted within a quarter
// of it (a long writer) is given up with nothing blocked and tried again, for up to LOCK_TRIES_MS;
// the lock is not asked for while a VACUUM or DDL holds a lock it would queue behind (writers would
// queue behind the request: autovacuum on a large table runs for seconds). The apply waits from F's
// arrival to the target export, one more round trip. Both snapshots stay open for the round's
// comparison (they hold back VACUUM on both sides for that long, as one long scan would).
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { MigrationError } from '../../../common/failures';
import { Fence } from './fence';
import type { ConnectionParams } from './sessions';

/** The advisory lock class of the hold ('dbmg'); the token's hash is the object. */
const HOLD_CLASS = 1684172135;
/** The bound of a source pause (the fence session's deadline). */
const PAUSE_MS = 1_000;
/** How long a point keeps trying to lock the source's tables (a long writer, a VACUUM) before failing. */
const LOCK_TRIES_MS = 120_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PointSessions {
  /** Source session that exports the source snapshot and keeps it open for the round. */
  sourceSnapshot: pg.Client;
  /** Target session that exports the target snapshot and keeps it open for the round. */
  targetSnapshot: pg.Client;
  /** Target session that holds the apply at the token. */
  hold: pg.Client;
  /** A source session for messages (who holds a lock). */
  helper: pg.Client;
}

export interface Point {
  source: string;
  target: string;
  token: string;
  /** How long the source's writes to the compared tables waited (ms). */
  pauseMs: number;
  /** How long the target took to reach the point (ms): its catch-up. */
  catchUpMs: number;
}

/** The trigger that lets the hold stop the apply at a validation token (get-or-replace). */
export async function installHold(t: pg.Client): Promise<void> {
  await t.query('begin');
  try {
    await t.query(
      `create or replace function dbmig.validation_hold() returns trigger language plpgsql
         set search_path = pg_catalog as $$
       begin
         perform pg_advisory_xact_lock_shared(${HOLD_CLASS}, hashtext(new.token));
         return new;
       end $$`,
    );
    await t.query('drop trigger if exists validation_hold on dbmig.fence');
    await t.query(
      `create trigger validation_hold before insert or update on dbmig.fence for each row
         when (new.token like 'validate:%') execute function dbmig.validation_hold()`,
    );
    // ALWAYS: the apply worker runs as a replica, where ordinary triggers do not fire.
    await t.query('alter table dbmig.fence enable always trigger validation_hold');
    await t.query('commit');
  } catch (err) {
    await t.query('rollback').catch(() => undefined);
    throw err;
  }
}

/** Removes the trigger and its function, so dbmig's schema can be dropped with the job (owned.ts). */
export async function removeHold(t: pg.Client): Promise<void> {
  await t.query('drop trigger if exists validation_hold on dbmig.fence');
  await t.query('drop function if exists dbmig.validation_hold()');
}

async function exportSnapshot(c: pg.Client): Promise<string> {
  await c.query('begin isolation level repeatable read read only');
  return (await c.query<{ id: string }>('select pg_export_snapshot() as id')).rows[0].id;
}

/** Ends the round's snapshots (the sessions stay for the next point). */
export async function releasePoint(x: PointSessions): Promise<void> {
  await x.sourceSnapshot.query('rollback').catch(() => undefined);
  await x.targetSnapshot.query('rollback').catch(() => undefined);
}

/**
 * Takes a point (the argument above). `tables` are the compared tables, `job` the fence row.
 * Throws when the source's tables cannot be locked within their bound after a few tries (long
 * writers), or when the target does not reach the point within `waitMs` (lag, broken apply).
 */
export async function takePoint(
  source: ConnectionParams,
  x: PointSessions,
  job: string,
  tables: string[],
  waitMs: number,
): Promise<Point> {
  const token = `validate:${randomUUID()}`;
  // Bounded by the server: a worker that dies or hangs cannot keep the apply waiting.
  await x.hold.query('begin');
  await x.hold.query(`set local idle_in_transaction_session_timeout = ${waitMs + 30_000}`);
  await x.hold.query(`select pg_advisory_xact_lock(${HOLD_CLASS}, hashtext($1))`, [token]);
  try {
    const sourceId = await pauseAndMark(source, x, job, token, tables);
    const written = Date.now();
    await waitForApply(x.hold, token, waitMs);
    const targetId = await exportSnapshot(x.targetSnapshot);
    // The target's snapshot must not hold F itself: it was taken inside F's transaction's wait.
    const seen = await x.targetSnapshot.query('select 1 from dbmig.fence where token = $1', [token]);
    if (seen.rowCount) throw new Error('the target applied the validation token before its snapshot was taken');
    return { source: sourceId.id, target: targetId, token, pauseMs: sourceId.pauseMs, catchUpMs: Date.now() - written };
  } catch (err) {
    await releasePoint(x);
    throw err;
  } finally {
    await x.hold.query('commit').catch(() => undefined);
  }
}

/** Locks the tables, exports the source snapshot, writes F and commits; retried on a busy lock. */
async function pauseAndMark(
  source: ConnectionParams,
  x: PointSessions,
  job: string,
  token: string,
  tables: string[],
): Promise<{ id: string; pauseMs: number }> {
  const until = Date.now() + LOCK_TRIES_MS;
  for (let attempt = 1; ; attempt++) {
    let fence: Fence | undefined;
    try {
      // A lock that would queue behind a VACUUM (autovacuum takes SHARE UPDATE EXCLUSIVE, which every
      // mode that stops writers conflicts with) would hold the writers queued behind it: wait first.
      if (tables.length) await noStrongLocks(x.helper, tables, until);
      fence = tables.length ? await Fence.open(source, tables, Date.now() + PAUSE_MS, x.helper) : undefined;
    } catch (err) {
      if (!(err instanceof MigrationError && err.type === 'CutoverNotReady') || Date.now() > until) throw err;
      await sleep(Math.min(2_000, 100 * attempt));
      continue;
    }
    const locked = Date.now();
    try {
      const id = await exportSnapshot(x.sourceSnapshot);
      const mark = (c: pg.Client) =>
        c.query('update dbmig.fence set token = $2, at = clock_timestamp() where job = $1', [job, token]);
      const { rowCount } = fence ? await fence.within(mark) : await mark(x.helper);
      if (rowCount !== 1) throw new Error(`the source has no fence row for job ${job}`);
      await fence?.commit();
      return { id, pauseMs: Date.now() - locked };
    } catch (err) {
      await fence?.end();
      await x.sourceSnapshot.query('rollback').catch(() => undefined);
      throw err;
    }
  }
}

/**
 * Waits until no other session holds a lock on `tables` that a SHARE lock would queue behind,
 * other than the writers' own ROW EXCLUSIVE (their transactions are short: the lock waits for
 * them). Throws CutoverNotReady naming the holders at `until`.
 */
async function noStrongLocks(h: pg.Client, tables: string[], until: number): Promise<void> {
  for (;;) {
    const { rows } = await h.query<{ who: string }>(
      `select format('pid %s holds %s on %s', l.pid, l.mode, l.relation::regclass) as who
         from pg_locks l where l.locktype = 'relation' and l.granted and l.relation = any($1::regclass[])
          and l.mode in ('ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock',
                         'AccessExclusiveLock') and l.pid is distinct from pg_backend_pid()`,
      [tables],
    );
    if (!rows.length) return;
    if (Date.now() > until)
      throw new MigrationError(
        'CutoverNotReady',
        `the validation could not take a consistent point: ${rows.map((r) => r.who).join('; ')}`,
      );
    await sleep(100);
  }
}

/** Waits until the apply worker waits on the hold of `token`: the target is then exactly before F. */
async function waitForApply(hold: pg.Client, token: string, waitMs: number): Promise<void> {
  const until = Date.now() + waitMs;
  for (;;) {
    const { rows } = await hold.query<{ waiting: boolean }>(
      `select exists (select 1 from pg_locks where locktype = 'advisory' and not granted and objsubid = 2
                        and classid = ${HOLD_CLASS}::oid and objid = hashtext($1)::oid) as waiting`,
      [token],
    );
    if (rows[0].waiting) return;
    if (Date.now() > until)
      throw new Error(
        `the target did not apply up to the validation's point within ${Math.round(waitMs / 1000)} s ` +
          '(replication lags or is stopped)',
      );
    await sleep(5);
  }
}
