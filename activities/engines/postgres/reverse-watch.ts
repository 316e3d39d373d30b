// The post-cutover watch of reverse replication (platform.ts, ReverseWatch): one look per call.
//
// Health: the reverse subscription on the source (there, enabled, no new apply errors) and its slot
// on the target (there, WAL not lost). A break means a rollback cannot start and the source falls
// behind the database of record.
//
// Writes on the closed source: the close sets the source read-only by default and revokes CONNECT,
// but a superuser, or any session that sets default_transaction_read_only = off, still writes there.
// Those writes conflict with reverse replication or vanish at finalize, so they are looked for. How:
// a logical slot on the source decoded with test_decoding's `only-local` option, which leaves out
// every change that carries a replication origin. The reverse subscription's apply worker stamps all
// it applies with its origin, so what remains is exactly what sessions committed on the source
// itself, table by table, with no trigger on the application's tables and no guessing. Counters
// were considered and rejected: pg_stat_user_tables counts the apply worker's rows too, and its
// numbers reach the view up to seconds late in either side's backend, so "source minus what was
// applied" has no exact moment to be compared at. The slot is read without consuming and moved on
// once the workflow has been told (so a write is never consumed unreported, and the slot holds the
// source's WAL only since the last report); it is dropped with reverse replication (finalize,
// rollback). Only table names and counts leave the worker, never row values. The cutover makes the
// slot right after the close committed (startSourceWatch), so a write is seen from the first one;
// where it could not (a long transaction elsewhere on the instance), the worker's log says why and
// the watch's first look makes it.
import type pg from 'pg';
import type { ReverseWatch } from '../../steps';
import { withClient } from './sessions';
import type { CutoverEnv } from './cutover-env';
import { applyErrorCount } from './cutover-checks';
import { rollbackPastPointOfNoReturn } from './job-record';
import type { JobNames } from './replication';

/** The source-side slot that decodes the closed source's own writes; within 63 bytes (names are at most 49). */
export const sourceWatchSlot = (names: JobNames): string => `${names.slot}_srcw`;

export async function watchReverse(env: CutoverEnv): Promise<ReverseWatch> {
  const rec = await env.records.read();
  const reverse = rec.reverse;
  if (!reverse || reverse.finalized || rollbackPastPointOfNoReturn(reverse.rollback))
    return { sourceWrites: [], sessions: [], unwatched: 'no reverse replication runs (finalized or rolled back)' };
  const problems: string[] = [];
  const slot = await withClient(env.target, (tg) =>
    tg.query<{ wal_status: string | null }>('select wal_status from pg_replication_slots where slot_name = $1', [
      reverse.slot,
    ]),
  );
  if (!slot.rowCount) problems.push(`its slot ${reverse.slot} is gone from the target`);
  else if (slot.rows[0].wal_status === 'lost')
    problems.push(`its slot ${reverse.slot} on the target lost WAL the source has not received`);
  return withClient(env.source, async (src) => {
    const sub = await src.query<{ oid: number; enabled: boolean }>(
      'select oid, subenabled as enabled from pg_subscription where subname = $1',
      [reverse.subscription],
    );
    let applyErrors: number | undefined;
    if (!sub.rowCount) problems.unshift(`the subscription ${reverse.subscription} is gone from the source`);
    else {
      if (!sub.rows[0].enabled) problems.unshift(`the subscription ${reverse.subscription} on the source is disabled`);
      applyErrors = await applyErrorCount(src, sub.rows[0].oid);
    }
    const found = await localWrites(src, sourceWatchSlot(env.names));
    const writing = found.writes.length > 0;
    return {
      ...(problems.length
        ? { problem: `reverse replication (target to source) is broken: ${problems.join('; ')}` }
        : {}),
      ...(applyErrors !== undefined ? { applyErrors } : {}),
      sourceWrites: found.writes,
      ...(found.upTo ? { watchedUpTo: found.upTo } : {}),
      sessions: await otherSessions(src, writing),
      ...(found.unwatched ? { unwatched: found.unwatched } : {}),
    };
  });
}

/**
 * The row changes committed on the source without a replication origin since the slot's position,
 * up to the source's current WAL position (`upTo`). Read without consuming: the watcher moves the
 * slot past them (advanceSourceWatch) only once the workflow knows of them.
 */
async function localWrites(
  src: pg.Client,
  slot: string,
  peek = false,
): Promise<{ writes: ReverseWatch['sourceWrites']; unwatched?: string; upTo?: string }> {
  const exists = await src.query('select 1 from pg_replication_slots where slot_name = $1', [slot]);
  if (!exists.rowCount && peek) return { writes: [] };
  if (!exists.rowCount) {
    const unwatched = await makeWatchSlot(src, slot, 5_000);
    if (unwatched) return { writes: [], unwatched };
  }
  const counts = new Map<string, number>();
  const upTo = (await src.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0].lsn;
  // Only the local changes come back (the apply's are filtered out in the decoder), so few rows.
  const { rows } = await src.query<{ data: string }>(
    `select data from pg_logical_slot_peek_changes($1, $2::pg_lsn, null, 'only-local', '1', 'skip-empty-xacts', '1')`,
    [slot, upTo],
  );
  for (const { data } of rows) {
    const m = /^table (.+?): (INSERT|UPDATE|DELETE|TRUNCATE)(:|$)/.exec(data);
    if (!m || m[1].startsWith('dbmig.')) continue; // dbmig's own bookkeeping is not the application's
    const key = `${m[1]}\t${m[2].toLowerCase()}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const writes = [...counts].map(([key, count]) => {
    const [table, kind] = key.split('\t');
    return { table, kind, count };
  });
  return { writes, ...(peek ? {} : { upTo }) };
}

/**
 * Makes the slot that watches the closed source, if it is not there; the cutover calls this right
 * after the close committed. Never fails: what stopped it is returned, and the watcher tries again.
 */
export async function startSourceWatch(
  src: pg.Client,
  names: JobNames,
  timeoutMs: number,
): Promise<string | undefined> {
  const slot = sourceWatchSlot(names);
  const exists = await src.query('select 1 from pg_replication_slots where slot_name = $1', [slot]);
  if (exists.rowCount) return undefined;
  return makeWatchSlot(src, slot, timeoutMs);
}

/**
 * Creating a logical slot waits for every transaction with an xid on the instance: bounded by
 * `timeoutMs`, and tried again at the watcher's next look. Undefined once made, else why not.
 */
async function makeWatchSlot(src: pg.Client, slot: string, timeoutMs: number): Promise<string | undefined> {
  await src.query(`set statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
  try {
    await src.query(`select pg_create_logical_replication_slot($1, 'test_decoding')`, [slot]);
    return undefined;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    // 42710: a concurrent maker (the watcher, a retried cutover) made it first.
    if (e.code === '42710') return undefined;
    return e.code === '57014'
      ? 'writes on the closed source are not watched yet: making its slot waits for transactions ' +
          'on the source instance'
      : `writes on the closed source cannot be watched: ${e.message ?? String(err)}`;
  } finally {
    await src.query('reset statement_timeout').catch(() => undefined);
  }
}

/** Moves the watch slot past `upTo`: what was read up to there is known to the workflow. */
export async function advanceSourceWatch(env: CutoverEnv, upTo: string): Promise<void> {
  await withClient(env.source, (src) =>
    src.query(
      `select pg_replication_slot_advance(slot_name, $2::pg_lsn) from pg_replication_slots
        where slot_name = $1 and confirmed_flush_lsn < $2::pg_lsn`,
      [sourceWatchSlot(env.names), upTo],
    ),
  );
}

/**
 * Writes on the closed source that no look has reported yet (made since the watcher's last poll),
 * described, or undefined when there are none. Finalize reads them (without consuming) before it
 * drops anything, so none slips between the last look and the finalize.
 */
export async function unreportedSourceWrites(src: pg.Client, names: JobNames): Promise<string | undefined> {
  const { writes } = await localWrites(src, sourceWatchSlot(names), true);
  if (!writes.length) return undefined;
  const n = writes.reduce((sum, w) => sum + w.count, 0);
  const sessions = await otherSessions(src, true);
  return (
    `${n} row change(s) on the closed source not made by reverse replication ` +
    `(${writes.map((w) => `${w.table}: ${w.count} ${w.kind}`).join(', ')})` +
    (sessions.length ? `; sessions connected to it now: ${sessions.join('; ')}` : '')
  );
}

/**
 * Sessions on the closed source other than dbmig's and replication's: who may have written. All of
 * them when writes were just found, else only those writing now (holding a transaction id).
 */
async function otherSessions(src: pg.Client, all: boolean): Promise<string[]> {
  const { rows } = await src.query<{ who: string }>(
    `select format('%s from %s (%s, pid %s%s)', usename, coalesce(host(client_addr), 'a local socket'),
                   coalesce(nullif(application_name, ''), 'no application name'), pid,
                   case when backend_xid is not null then ', writing now' else '' end) as who
       from pg_stat_activity
      where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid()
        and application_name not like 'dbmig%' and ($1 or backend_xid is not null)
      order by backend_start`,
    [all],
  );
  return rows.map((r) => r.who);
}

/**
 * Drops the watch slot if it is there: with reverse replication (finalize, rollback). A watcher
 * still decoding from it (its cancel is on its way) is ended first: a slot left behind would hold
 * the source's WAL for good.
 */
export async function dropSourceWatch(src: pg.Client, names: JobNames): Promise<void> {
  const slot = sourceWatchSlot(names);
  for (let tries = 0; ; tries++) {
    const { rows } = await src.query<{ pid: number | null }>(
      'select active_pid as pid from pg_replication_slots where slot_name = $1',
      [slot],
    );
    if (!rows.length) return;
    if (rows[0].pid === null || tries >= 50) break;
    await src.query('select pg_terminate_backend($1)', [rows[0].pid]);
    await new Promise((r) => setTimeout(r, 100));
  }
  await src.query('select pg_drop_replication_slot($1)', [slot]);
}
