// Lag in seconds from dbmig.heartbeat: each read writes this job's heartbeat on the source
// (clock_timestamp()) and reads the newest one the target has applied. Lag is the source's clock
// now minus that heartbeat's time, so both ends of the subtraction come from one clock (no skew
// between servers), an idle source still shows how far behind the target is, and broken
// replication reads as lag that grows, never as 0. pg_stat_replication.replay_lag, used before,
// is NULL on an idle link and only moves with the subscriber's feedback.
import type pg from 'pg';
import { hasOwnedTables } from './owned';

/** Microseconds since the epoch, as text: exact in BigInt, where a float would round. */
const US = (expr: string) => `(extract(epoch from ${expr}) * 1000000)::bigint::text`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface HeartbeatLag {
  /** Source now minus the newest heartbeat applied on the target; null when none ever arrived. */
  lagSeconds: number | null;
  /** The age of this sample when it is returned (taken live: the time since the target was read). */
  sampleAgeSeconds: number | null;
  /** Whether the heartbeat this read wrote has arrived within the wait. */
  arrived: boolean;
}

const NO_LAG: HeartbeatLag = { lagSeconds: null, sampleAgeSeconds: null, arrived: false };

/** Writes this job's heartbeat on the source; returns its time (µs), or undefined without dbmig's tables. */
export async function writeHeartbeat(src: pg.Client, job: string): Promise<bigint | undefined> {
  if (!(await hasOwnedTables(src))) return undefined;
  const { rows } = await src.query<{ at: string }>(
    `insert into dbmig.heartbeat as h (job, at) values ($1, clock_timestamp())
     on conflict (job) do update set at = excluded.at returning ${US('h.at')} as at`,
    [job],
  );
  return BigInt(rows[0].at);
}

async function appliedHeartbeat(target: pg.Client, job: string): Promise<bigint | undefined> {
  if (!(await hasOwnedTables(target))) return undefined;
  const { rows } = await target.query<{ at: string }>(`select ${US('at')} as at from dbmig.heartbeat where job = $1`, [
    job,
  ]);
  return rows.length ? BigInt(rows[0].at) : undefined;
}

/**
 * Writes a heartbeat and gives it up to `waitMs` to arrive, then measures. When it arrives, lag is
 * the time it took; when not, lag is the age of the newest heartbeat that did arrive, which is at
 * least the wait. The wait keeps a healthy idle link from reading as "one poll interval behind".
 */
export async function heartbeatLag(
  src: pg.Client,
  target: pg.Client,
  job: string,
  waitMs: number,
): Promise<HeartbeatLag> {
  const written = await writeHeartbeat(src, job);
  if (written === undefined) return NO_LAG;
  const until = Date.now() + waitMs;
  let applied = await appliedHeartbeat(target, job);
  while ((applied === undefined || applied < written) && Date.now() < until) {
    await sleep(10);
    applied = await appliedHeartbeat(target, job);
  }
  const readAt = Date.now();
  if (applied === undefined) return NO_LAG;
  const now = BigInt((await src.query<{ now: string }>(`select ${US('clock_timestamp()')} as now`)).rows[0].now);
  return {
    lagSeconds: Math.max(0, Number(now - applied) / 1e6),
    sampleAgeSeconds: (Date.now() - readAt) / 1000,
    arrived: applied >= written,
  };
}

/** The age of the newest heartbeat applied on the target (seconds, source clock), without writing one. */
export async function heartbeatAge(src: pg.Client, target: pg.Client, job: string): Promise<number | null> {
  const applied = await appliedHeartbeat(target, job);
  if (applied === undefined) return null;
  const now = BigInt((await src.query<{ now: string }>(`select ${US('clock_timestamp()')} as now`)).rows[0].now);
  return Math.max(0, Number(now - applied) / 1e6);
}
