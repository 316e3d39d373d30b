// What both fenced cutovers (cutover.ts for PostgreSQL, cutover-mysql.ts for MySQL) and the
// dms-only one share about DMS: the dependencies they are given, the point of no return read from
// the job (clouddms v1 MigrationJob.State and .Phase), and the fresh lag reading Google's promote
// procedure asks for ("wait until the replication delay is at zero":
// https://cloud.google.com/database-migration/docs/postgres/promote-migration).
import { formatDuration } from '../../../common/durations';
import type { ConnectionParams } from '../local/clusters';
import { MigrationError } from '../platform';

export interface LagReading {
  seconds: number;
  /** When Cloud Monitoring's sample was taken (the point's interval end), not when it was read. */
  sampledAt: Date;
}

export interface GcpCutoverDeps {
  /** migrationJobs.get: state and phase (clouddms v1 MigrationJob.State, MigrationJob.Phase). */
  jobState(): Promise<{ state: string; phase?: string }>;
  /** A lag sample taken after `since`, or undefined while there is none yet. */
  freshLag(since: Date): Promise<LagReading | undefined>;
  /** migrationJobs.promote; resolves once DMS accepted the request: the point of no return. */
  promote(): Promise<void>;
  /** The promote operation, to its end. */
  waitPromoted(): Promise<void>;
  /** The target over SQL, when the worker reaches it: the fence is read there. */
  target?: ConnectionParams;
  /** The source, when resolved already; else from the plan (password through the worker's secret policy). */
  source?: ConnectionParams;
  /** How often Cloud Monitoring is read for a fresh sample (default 5 s). */
  lagPollMs?: number;
  /** dms-only: how long to wait for a fresh sample at most lag (default 5 min: 60 s sampling + 180 s delay). */
  freshSampleWaitMs?: number;
}

type Progress = (step: string) => void;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Cloud Monitoring samples DMS's lag every 60 s and may publish a point up to 180 s late. */
export const SAMPLE_DELAY_MS = 240_000;

/** Past the point of no return: the promote was accepted (DMS stopped reading the source) or has finished. */
export function promoted(job: { state: string; phase?: string }): boolean {
  return job.state === 'COMPLETED' || job.phase === 'PROMOTE_IN_PROGRESS';
}

/** The job must be replicating (RUNNING in CDC) before anything is blocked. */
export function requireReplicating(job: { state: string; phase?: string }, jobId: string): void {
  if (job.state === 'FAILED')
    throw new MigrationError('ReplicationBroken', `not cutting over: DMS job ${jobId} failed; nothing was blocked`);
  if (job.state !== 'RUNNING' || job.phase !== 'CDC')
    throw new MigrationError(
      'CutoverNotReady',
      `not cutting over: DMS job ${jobId} is ${describeJob(job)}, not RUNNING/CDC; nothing was blocked`,
    );
}

/**
 * Before the block: a DMS lag sample taken after now that reads at most `maxLagSeconds`. It takes
 * minutes (sampling and publication delay), which is why it is awaited before anything is blocked.
 */
export async function requireFreshLag(deps: GcpCutoverDeps, maxLagSeconds: number, progress: Progress): Promise<void> {
  const since = new Date();
  const waitMs = deps.freshSampleWaitMs ?? SAMPLE_DELAY_MS + 60_000;
  progress(
    `waiting up to ${formatDuration(waitMs)} for a DMS lag sample taken after ${since.toISOString()} ` +
      `at most ${maxLagSeconds} s`,
  );
  const { fresh, last } = await waitForLag(deps, since, maxLagSeconds, Date.now() + waitMs);
  if (!fresh)
    throw new MigrationError(
      'CutoverNotReady',
      `not cutting over: ${
        last ? `the newest DMS lag sample reads ${last.seconds} s` : 'no DMS lag sample came since the cutover began'
      }; nothing was blocked`,
    );
  progress(`DMS lag ${fresh.seconds} s, sampled ${fresh.sampledAt.toISOString()}`);
}

/**
 * Polls for a lag sample taken at or after `since` that reads at most `maxLag` seconds, until
 * `until`; `fresh` is that sample, `last` the newest fresh one seen (for the message).
 */
export async function waitForLag(
  deps: GcpCutoverDeps,
  since: Date,
  maxLag: number,
  until: number,
  check?: () => Promise<void>,
): Promise<{ fresh?: LagReading; last?: LagReading }> {
  let last: LagReading | undefined;
  for (;;) {
    const s = await deps.freshLag(since);
    if (s && s.sampledAt >= since) {
      last = s;
      if (s.seconds <= maxLag) return { fresh: s, last };
    }
    await check?.();
    const wait = Math.min(deps.lagPollMs ?? 5_000, until - Date.now());
    if (wait <= 0) return { last };
    await sleep(wait);
  }
}

export function describeJob(job: { state: string; phase?: string }): string {
  return `${job.state}${job.phase ? `/${job.phase}` : ''}`;
}
