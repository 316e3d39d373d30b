// The gate the copy (before each range) and the live validation (before each chunk) pass through:
// `await throttle.wait(signal)` returns at once while the source's load is under the plan's limits
// (common/throttle-plan.ts), and otherwise waits, reading the load again every pollInterval, until
// it is back under: the work resumes by itself. Why it waits, and since when, is `state`, which the
// callers put in their heartbeat details (the status and the metrics read it there, never history).
//
// What it reads, on one session of its own named 'dbmig throttle' (so it never counts itself):
//   - the plan's check, as the migration user in a read-only transaction: one boolean row, true = go;
//   - client sessions running a statement (pg_stat_activity), dbmig's own (application_name
//     dbmig…) not counted;
//   - the replay and write lag of the source's physical standbys (pg_stat_replication; the logical
//     walsenders, the migration's own among them, hold a logical slot and are left out);
//   - the CPU of the source's host, where that is this machine (/proc/stat; no session: a plan
//     that sets only this limit opens none).
// A limit that cannot be read holds the work too, saying why: a source whose load is unknown is not
// presumed idle. Several streams share one reading per interval; with no limit set nothing is read.
import { readFile } from 'node:fs/promises';
import type pg from 'pg';
import type { ThrottleReason, ThrottleSettings, Throttled } from '../../../common/throttle-plan';
import { throwIfCancelled } from '../../cancellation';
import { warn } from '../../log';
import { connect, type ConnectionParams } from './sessions';

/** dbmig's own sessions (every one is named so: sessions.ts, lease.ts, the copy's, the fence's). */
const OWN_SESSIONS = 'dbmig%';
/** The longest the check may run: a check that hangs must not hold the gate's reading forever. */
const CHECK_TIMEOUT_MS = 10_000;

type Verdict = { reason: ThrottleReason; why: string } | undefined;

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '::1']);

/** The machine's CPU time so far, in ticks: busy (all but idle and iowait) of total. */
export interface CpuTimes {
  busy: number;
  total: number;
}

export interface ThrottleOptions {
  /** Where the CPU times come from: /proc/stat unless a test says otherwise. */
  cpuTimes?: () => Promise<CpuTimes>;
}

export class Throttle {
  private session: pg.Client | undefined;
  private last: { at: number; verdict: Verdict } | undefined;
  private reading: Promise<Verdict> | undefined;
  private cpuSample: CpuTimes | undefined;
  private readonly cpuTimes: () => Promise<CpuTimes>;
  private cpuVisible: boolean;
  private listeners: ((t: Throttled | undefined) => void)[] = [];
  private closed = false;
  /** The pause in force, if any. */
  state: Throttled | undefined;

  /** A gate for `source`, or undefined when the plan sets no limit: then nothing is ever read. */
  static for(
    source: ConnectionParams,
    settings: ThrottleSettings | undefined,
    opts: ThrottleOptions = {},
  ): Throttle | undefined {
    return settings ? new Throttle(source, settings, opts) : undefined;
  }

  constructor(
    private readonly source: ConnectionParams,
    private readonly s: ThrottleSettings,
    opts: ThrottleOptions = {},
  ) {
    this.cpuTimes = opts.cpuTimes ?? procStatTimes;
    this.cpuVisible = s.maxCpuPercent === undefined || LOCAL_HOSTS.has(source.host) || source.host.startsWith('/');
    if (!this.cpuVisible)
      warn(
        `throttle: maxCpuPercent is not applied to the source at ${source.host}: its CPU is read from /proc/stat ` +
          "only when it runs on the worker's machine",
      );
  }

  /** Calls `fn` with the new state whenever a pause begins, changes, or ends; returns how to stop. */
  onChange(fn: (t: Throttled | undefined) => void): () => void {
    this.listeners.push(fn);
    return () => (this.listeners = this.listeners.filter((f) => f !== fn));
  }

  /** Returns once the source's load is under every limit; rejects only with the step's cancellation. */
  async wait(signal?: AbortSignal): Promise<void> {
    // Closed: the work it gated is over (a failed stream's siblings finish their range, read nothing more).
    while (!this.closed) {
      throwIfCancelled(signal);
      const v = await this.verdict();
      this.set(v);
      if (!v) return;
      await pause(this.s.pollIntervalMs, signal);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.session?.end().catch(() => undefined);
    this.session = undefined;
  }

  private set(v: Verdict): void {
    const before = this.state;
    if (!v) this.state = undefined;
    else if (before?.reason === v.reason) this.state = { ...before, why: v.why };
    else this.state = { ...v, since: new Date().toISOString() };
    if (before?.why !== this.state?.why) for (const fn of this.listeners) fn(this.state);
  }

  /** The newest reading, shared by every stream: at most one per interval. */
  private verdict(): Promise<Verdict> {
    if (this.last && Date.now() - this.last.at < this.s.pollIntervalMs) return Promise.resolve(this.last.verdict);
    this.reading ??= this.read()
      .then((verdict) => {
        this.last = { at: Date.now(), verdict };
        return verdict;
      })
      .finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async read(): Promise<Verdict> {
    try {
      // The CPU alone is read without a session: a plan that sets only it costs the source nothing.
      const { check, maxActiveConnections, maxReplicaLagSeconds } = this.s;
      const sql = [check, maxActiveConnections, maxReplicaLagSeconds].some((v) => v !== undefined);
      const c = sql ? await this.open() : undefined;
      return (
        (c && ((await this.check(c)) ?? (await this.active(c)) ?? (await this.replicaLag(c)))) ??
        (await this.cpu()) ??
        undefined
      );
    } catch (err) {
      await this.session?.end().catch(() => undefined);
      this.session = undefined; // a fresh session on the next reading
      return { reason: 'unreadable', why: `the source's load cannot be read: ${(err as Error).message}` };
    }
  }

  private async open(): Promise<pg.Client> {
    if (this.session) return this.session;
    const c = await connect({ ...this.source, applicationName: 'dbmig throttle' });
    try {
      if (this.s.maxActiveConnections !== undefined || this.s.maxReplicaLagSeconds !== undefined) {
        // Without it, other users' sessions show no state and standbys no lag: the limits would never trip.
        const { rows } = await c.query<{ ok: boolean }>(
          `select pg_has_role(current_user, 'pg_read_all_stats', 'usage') as ok`,
        );
        if (!rows[0].ok)
          throw new Error(
            `user ${this.source.user} cannot see other sessions' state or standbys' lag: grant it pg_read_all_stats`,
          );
      }
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    this.session = c;
    return c;
  }

  private async check(c: pg.Client): Promise<Verdict> {
    if (this.s.check === undefined) return undefined;
    const said = (what: string): Verdict => ({ reason: 'check', why: `the plan's check ${what}` });
    await c.query('begin read only');
    try {
      await c.query(`set local statement_timeout = ${CHECK_TIMEOUT_MS}`);
      const r = (await c.query({ text: this.s.check, rowMode: 'array' })) as pg.QueryResult<unknown[]> | unknown[];
      if (Array.isArray(r)) return said('must be one statement');
      if (r.rows.length !== 1 || r.fields.length !== 1 || typeof r.rows[0][0] !== 'boolean')
        return said(`returned ${r.rows.length} row(s) of ${r.fields.length} column(s), not one boolean`);
      return r.rows[0][0] ? undefined : said('says wait (false)');
    } catch (err) {
      return said(`failed: ${(err as Error).message}`);
    } finally {
      await c.query('rollback').catch(() => undefined);
    }
  }

  private async active(c: pg.Client): Promise<Verdict> {
    const max = this.s.maxActiveConnections;
    if (max === undefined) return undefined;
    const { rows } = await c.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity
        where backend_type = 'client backend' and state = 'active' and pid <> pg_backend_pid()
          and coalesce(application_name, '') not like $1`,
      [OWN_SESSIONS],
    );
    const n = rows[0].n;
    return n > max
      ? { reason: 'active-connections', why: `${n} active sessions on the source (limit ${max})` }
      : undefined;
  }

  private async replicaLag(c: pg.Client): Promise<Verdict> {
    const max = this.s.maxReplicaLagSeconds;
    if (max === undefined) return undefined;
    // The lags are the source's measures of the standby's replies (walsender.c, LagTrackerRead):
    // how long ago the source sent the WAL a reply says is written or replayed. A standby that has
    // replayed all the source's WAL is not behind, whatever its last measure: on an idle source the
    // first reply after a pause ends says replay_lag = the time since the last write, and only the
    // next (wal_receiver_status_interval later, 10 s by default) clears it to NULL. The source's end
    // of WAL is its flush position, or on a source that is itself a standby what it has received.
    const { rows } = await c.query<{ who: string; lag: number }>(
      `with wal as (select case when pg_is_in_recovery()
                                then greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                                else pg_current_wal_flush_lsn() end as lsn)
       select coalesce(nullif(r.application_name, ''), r.client_addr::text, 'pid ' || r.pid) as who,
              case when r.replay_lsn >= wal.lsn then 0
                   else coalesce(greatest(extract(epoch from r.replay_lag), extract(epoch from r.write_lag)), 0)
              end::float8 as lag
         from pg_stat_replication r, wal
        where not exists (select 1 from pg_replication_slots s where s.active_pid = r.pid and s.slot_type = 'logical')
        order by 2 desc limit 1`,
    );
    const worst = rows[0];
    return worst && worst.lag > max
      ? { reason: 'replica-lag', why: `standby ${worst.who} is ${worst.lag.toFixed(1)} s behind (limit ${max} s)` }
      : undefined;
  }

  private async cpu(): Promise<Verdict> {
    const max = this.s.maxCpuPercent;
    if (max === undefined || !this.cpuVisible) return undefined;
    let now: CpuTimes;
    try {
      if (!this.cpuSample) {
        this.cpuSample = await this.cpuTimes();
        await pause(250);
      }
      now = await this.cpuTimes();
    } catch (err) {
      this.cpuVisible = false;
      warn(
        `throttle: maxCpuPercent is not applied: this machine's /proc/stat cannot be read (${(err as Error).message})`,
      );
      return undefined;
    }
    const before = this.cpuSample;
    this.cpuSample = now;
    const total = now.total - before.total;
    const busy = total > 0 ? (100 * (now.busy - before.busy)) / total : 0;
    return busy > max
      ? { reason: 'cpu', why: `the source's host is ${Math.round(busy)}% busy (limit ${max}%)` }
      : undefined;
  }
}

/** The machine's CPU time so far (/proc/stat's first line): busy is all but idle and iowait. */
async function procStatTimes(): Promise<CpuTimes> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - v[3] - (v[4] ?? 0), total };
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
