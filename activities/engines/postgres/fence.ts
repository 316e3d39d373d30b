// The write fence: one dedicated session holds LOCK TABLE ... IN SHARE MODE on every published
// application table in an open transaction. SHARE conflicts with the ROW EXCLUSIVE lock that
// INSERT, UPDATE, DELETE and MERGE take, and with everything stronger (TRUNCATE, DDL), for every
// role, whatever its session defaults; readers (ACCESS SHARE) pass ("Explicit Locking",
// table-level lock modes). A COMMIT PREPARED needs no new lock, but a prepared transaction that
// wrote a published table still holds its ROW EXCLUSIVE lock, so the LOCK cannot be granted
// while one exists.
//
// The lock lives and dies with the session, and the session is bounded by PostgreSQL itself:
// statement_timeout and idle_in_transaction_session_timeout are re-armed to what is left of the
// deadline around every statement (the session is idle in its transaction while the cutover
// works elsewhere), and from PostgreSQL 17 transaction_timeout bounds the whole transaction
// ("Client Connection Defaults"). A worker that dies or hangs cannot keep the source blocked past
// the deadline: the server ends the session, the transaction rolls back and writes come back.
//
// That holds from the LOCK's first instant: BEGIN, the timeouts and the LOCK travel in one Query
// message, so the server has idle_in_transaction_session_timeout set before it grants the lock. A
// worker frozen while the LOCK is on its way (or its reply is) leaves a session the server ends
// by the deadline; before PostgreSQL 17 nothing else would (TCP keepalive, about 2 hours). And the
// caller records the block, with its deadline and the session's identity, before the LOCK is sent
// (`record`), so a retry finds and ends a session whose reply never came back.
import type pg from 'pg';
import { MigrationError } from '../../../common/failures';
import { connect, type ConnectionParams } from './sessions';
import type { FenceRef } from './job-record';

/** How long the LOCK may queue: a queued SHARE request already holds back every later writer. */
const LOCK_WAIT_MS = 2_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A backend's identity that survives pid reuse: the pid and its start (µs since the epoch). */
const BACKEND = `pid, (extract(epoch from backend_start) * 1000000)::bigint::text as "backendStart"`;

export class Fence {
  private lost = false;

  private constructor(
    private readonly client: pg.Client,
    readonly ref: FenceRef,
    readonly deadline: number,
  ) {
    client.on('error', () => (this.lost = true));
    client.on('end', () => (this.lost = true));
  }

  /**
   * Opens the fence session and locks `tables`, or throws CutoverNotReady naming who holds a
   * conflicting lock (nothing stays blocked: the session is closed). `deadline` is when the
   * block must be over. `record` is called with the session's identity before the LOCK is sent:
   * a caller saves the block there, so the block is on record before it can start.
   */
  static async open(
    params: ConnectionParams,
    tables: string[],
    deadline: number,
    helper: pg.Client,
    record?: (ref: FenceRef) => Promise<void>,
  ): Promise<Fence> {
    const client = await connect(params);
    const { rows } = await client.query<FenceRef & { version: number }>(
      `select ${BACKEND}, current_setting('server_version_num')::int as version
         from pg_stat_activity where pid = pg_backend_pid()`,
    );
    const fence = new Fence(client, { pid: rows[0].pid, backendStart: rows[0].backendStart }, deadline);
    try {
      await client.query(`set application_name = 'dbmig fence'`);
      // A session setting, armed when the next transaction starts (BEGIN below).
      if (rows[0].version >= 170000) await client.query(`set transaction_timeout = ${fence.left()}`);
      await record?.(fence.ref);
      const left = fence.left();
      if (left < 1) throw new MigrationError('CutoverTimedOut', 'the write block reached its deadline before it began');
      const wait = Math.max(1, Math.min(LOCK_WAIT_MS, Math.floor(left / 4)));
      // One round trip: the server reads the timeouts before the LOCK. The LOCK itself waits at most
      // `wait`; once granted, the session goes idle in its transaction and is ended `left - wait`
      // later at the latest (re-armed to what is left by arm() when the reply does arrive), so a
      // lock granted while the worker is frozen ends by the deadline.
      const bounds = [
        `set local lock_timeout = ${wait}`,
        `set local statement_timeout = ${wait}`,
        `set local idle_in_transaction_session_timeout = ${Math.max(1, left - wait)}`,
      ];
      try {
        await client.query(`begin; ${bounds.join('; ')}; lock table ${tables.join(', ')} in share mode`);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== '55P03' && code !== '57014') throw err;
        const holders = await lockHolders(helper, tables, fence.ref.pid);
        throw new MigrationError(
          'CutoverNotReady',
          `could not lock the published tables within ${wait} ms, so nothing was blocked: ` +
            (holders || 'the holder has gone since'),
        );
      }
      await fence.arm();
      return fence;
    } catch (err) {
      await fence.end();
      throw err;
    }
  }

  /** Milliseconds left before the deadline. */
  left(): number {
    return this.deadline - Date.now();
  }

  /** False once the session is gone (terminated, timed out, connection lost): the lock with it. */
  alive(): boolean {
    return !this.lost;
  }

  /** Bounds the next statement and the idle time after it by what is left of the deadline. */
  private async arm(): Promise<void> {
    const left = this.left();
    if (left < 1) throw new MigrationError('CutoverTimedOut', 'the write block reached its deadline');
    await this.client.query(
      `set local statement_timeout = ${left}; set local idle_in_transaction_session_timeout = ${left}`,
    );
  }

  /** Runs `fn` on the fence session, inside its transaction, with the deadline re-armed around it. */
  async within<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    await this.arm();
    const out = await fn(this.client);
    await this.arm();
    return out;
  }

  /** Commits (the lock goes with it) and closes the session, whether or not the reply arrives. */
  async commit(): Promise<void> {
    try {
      await this.client.query('commit');
    } finally {
      this.lost = true;
      await this.client.end().catch(() => undefined);
    }
  }

  /** Ends the block: rolls the transaction back (writes come back) and closes the session. */
  async end(): Promise<void> {
    if (!this.lost) await this.client.query('rollback').catch(() => undefined);
    await this.client.end().catch(() => undefined);
    this.lost = true;
  }
}

/** Who holds a lock on `tables` that conflicts with SHARE, for a message. */
async function lockHolders(h: pg.Client, tables: string[], except: number): Promise<string> {
  const { rows } = await h.query<{ who: string }>(
    `select distinct format('%s holds %s on %s', coalesce(format('pid %s (%s, %s, %s since %s)', a.pid, a.usename,
                     coalesce(nullif(a.application_name, ''), 'no application name'), a.state,
                     to_char(coalesce(a.xact_start, a.backend_start), 'HH24:MI:SS')), 'a prepared transaction'),
                     l.mode, l.relation::regclass) as who
       from pg_locks l left join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'relation' and l.granted and l.relation = any($1::regclass[])
        and l.mode not in ('AccessShareLock', 'RowShareLock', 'ShareLock') and l.pid is distinct from $2`,
    [tables, except],
  );
  return rows.map((r) => r.who).join('; ');
}

/** Prepared transactions of this database, as "gid (owner, prepared at)". */
export async function preparedTransactions(h: pg.Client): Promise<string[]> {
  const { rows } = await h.query<{ x: string }>(
    `select format('%s (by %s, prepared %s)', gid, owner, to_char(prepared, 'YYYY-MM-DD HH24:MI:SS')) as x
       from pg_prepared_xacts where database = current_database() order by prepared`,
  );
  return rows.map((r) => r.x);
}

/**
 * A previous attempt's fence session, if it outlived its worker (a hung process, a lost network):
 * ended here so a retry never adds a second block to it.
 */
export async function endFence(h: pg.Client, ref: FenceRef): Promise<boolean> {
  const { rows } = await h.query(
    `select 1 from (select ${BACKEND} from pg_stat_activity) a where pid = $1 and "backendStart" = $2`,
    [ref.pid, ref.backendStart],
  );
  if (!rows.length) return false;
  await h.query('select pg_terminate_backend($1)', [ref.pid]);
  await waitForExit(h, [ref.pid], Date.now() + 10_000);
  return true;
}

async function waitForExit(h: pg.Client, pids: number[], deadline: number): Promise<number[]> {
  for (;;) {
    const { rows } = await h.query<{ pid: number }>('select pid from pg_stat_activity where pid = any($1::int[])', [
      pids,
    ]);
    if (!rows.length || Date.now() >= deadline) return rows.map((r) => r.pid);
    await sleep(10);
  }
}

/** The default for superuser sessions a non-superuser cannot end: a refusal that names them. */
export function refuseSuperuserSessions(who: string[]): never {
  throw new MigrationError(
    'PermissionDenied',
    `superuser session(s) connected (${who.join('; ')}), which only a superuser may end and which CONNECT and ` +
      'the read-only default do not stop: end them (as a superuser), or migrate as a superuser',
  );
}

/**
 * Terminates every other client session of this database (any role; `keep` are the cutover's
 * own) and waits until they have exited: a writer queued behind the lock exits with its
 * transaction rolled back, so none of its writes lands. pg_terminate_backend only signals
 * ("Server Signaling Functions"); the wait is on pg_stat_activity. Returns who was ended.
 *
 * Only a superuser may end a superuser's backend (same page): a non-superuser migration user leaves
 * those connected and hands them to `kept`, which by default refuses by name (the close refuses
 * them before it commits too: close-source.ts). Where their writes are watched (the local switch,
 * reverse-watch.ts), the caller lets them stay and says so.
 */
export async function endOtherSessions(
  h: pg.Client,
  keep: number[],
  deadline: number,
  kept: (who: string[]) => void = refuseSuperuserSessions,
): Promise<string[]> {
  // CASE, unlike AND, guarantees pg_terminate_backend is not called for the rows it leaves out.
  const { rows } = await h.query<{ pid: number; who: string; endable: boolean }>(
    `with others as (
       select a.pid, format('pid %s (%s, %s)', a.pid, a.usename,
                            coalesce(nullif(a.application_name, ''), 'no application name')) as who,
              not coalesce(r.rolsuper, false) or (select rolsuper from pg_roles where rolname = current_user) as endable
         from pg_stat_activity a left join pg_roles r on r.oid = a.usesysid
        where a.datname = current_database() and a.backend_type = 'client backend' and a.pid <> all($1::int[]))
     select pid, who, endable, case when endable then pg_terminate_backend(pid) end as signalled from others`,
    [keep],
  );
  const superusers = rows.filter((r) => !r.endable).map((r) => r.who);
  if (superusers.length) kept(superusers);
  const ended = rows.filter((r) => r.endable);
  if (!ended.length) return [];
  const left = await waitForExit(
    h,
    ended.map((r) => r.pid),
    deadline,
  );
  if (left.length)
    throw new MigrationError('CutoverTimedOut', `sessions did not exit before the deadline: pids ${left.join(', ')}`);
  return ended.map((r) => r.who);
}
