// What both fenced cutovers (cutover.ts for PostgreSQL, cutover/mysql.ts for MySQL) and the
// dms-only one share about DMS: the dependencies they are given, the point of no return read from
// the job (clouddms v1 MigrationJob.State and .Phase), and the fresh lag reading Google's promote
// procedure asks for ("wait until the replication delay is at zero":
// https://cloud.google.com/database-migration/docs/postgres/promote-migration).
import { formatDuration, parseDuration } from '../../../../common/durations';
import { GCP_PROMOTE_TIMEOUT_DEFAULT_MS, gcpCutoverBudget } from '../../../../common/plan-defaults';
import type { ConnectionParams } from '../../../engines/postgres/sessions';
import { MigrationError } from '../../../../common/failures';
import { type DatabaseTask } from '../../../steps';
import {
  describeJob,
  promotable,
  promoted as isPromoted,
  waitsForWritesToStop,
  writesStopInstruction,
} from '../dms/phases';

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
  /**
   * Labels the target as taken over (target-mark.ts), before the promote is requested: from then
   * on no later run provisions, demotes or deletes it. Absent only in tests of the SQL side.
   */
  markTookOver?(): Promise<void>;
  /**
   * The newest promote operation DMS lists for the job (clouddms OperationMetadata verb "promote"):
   * 'pending' while it runs. Without it, a failed promote request with the job not promoting counts
   * as refused.
   */
  promoteOperation?(): Promise<PromoteOperationState>;
  /** How often the job is read while a promote's outcome is awaited (default 1 s). */
  jobPollMs?: number;
  /** The target over SQL, when the worker reaches it: the fence is read there. */
  target?: ConnectionParams;
  /** The source, when resolved already; else from the plan (password through the worker's secret policy). */
  source?: ConnectionParams;
  /** How often Cloud Monitoring is read for a fresh sample (default 5 s). */
  lagPollMs?: number;
  /** dms-only: how long to wait for a fresh sample at most lag (default 5 min: 60 s sampling + 180 s delay). */
  freshSampleWaitMs?: number;
}

export type PromoteOperationState = 'none' | 'pending' | 'succeeded' | 'failed';

type Progress = (step: string) => void;

/** gcp.promoteTimeout, or its default: how long DMS may take to answer a promote. */
export function promoteTimeoutMs(task: DatabaseTask): number {
  const set = task.gcp?.promoteTimeout;
  return (set ? parseDuration(set) : undefined) ?? GCP_PROMOTE_TIMEOUT_DEFAULT_MS;
}

/** Time the fenced cutovers keep for each of closing and reopening the source around the promote. */
export function switchMargin(timeoutMs: number, least: number): number {
  return gcpCutoverBudget(timeoutMs, 0, least).margin;
}

/**
 * Refuses, before anything is blocked, a cutover whose deadline (cutover.timeout) cannot cover a
 * drain, the close, DMS's answer to the promote (gcp.promoteTimeout) and a reopen should DMS refuse:
 * the plan's own rule (common/plan-defaults.ts gcpCutoverBudget), for tasks of plans validated before it.
 */
export function requireDeadlineCoversPromote(task: DatabaseTask, timeoutMs: number, leastMarginMs: number): void {
  const promoteMs = promoteTimeoutMs(task);
  const { margin, minDrainMs, fits } = gcpCutoverBudget(timeoutMs, promoteMs, leastMarginMs);
  if (fits) return;
  throw new MigrationError(
    'InvalidPlan',
    `not cutting over: cutover.timeout ${formatDuration(timeoutMs)} cannot cover DMS's answer to the promote ` +
      `(gcp.promoteTimeout ${formatDuration(promoteMs)}), ${formatDuration(margin)} each to close and to reopen ` +
      `the source, and a drain of at least ${formatDuration(minDrainMs)}; nothing was blocked. Raise ` +
      'cutover.timeout, or lower gcp.promoteTimeout if DMS answers faster',
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Cloud Monitoring samples DMS's lag every 60 s and may publish a point up to 180 s late. */
export const SAMPLE_DELAY_MS = 240_000;

/**
 * Past the point of no return: the promote was accepted (DMS stopped reading the source), has
 * finished, or the job fails back from the destination already (dms/phases.ts).
 */
export function promoted(job: { state: string; phase?: string }): boolean {
  return isPromoted(job);
}

/**
 * The job must take a promote (RUNNING in CDC, or READY_FOR_PROMOTE) before anything is blocked.
 * A job still waiting for the source's writes to stop before its dump (the RDS flow) is not
 * replicating at all: the refusal says what DMS waits for.
 */
export function requireReplicating(job: { state: string; phase?: string }, jobId: string, database?: string): void {
  if (job.state === 'FAILED')
    throw new MigrationError('ReplicationBroken', `not cutting over: DMS job ${jobId} failed; nothing was blocked`);
  if (waitsForWritesToStop(job))
    throw new MigrationError(
      'CutoverNotReady',
      `not cutting over: DMS job ${jobId} is ${describeJob(job)}, before its initial dump; nothing was blocked. ` +
        writesStopInstruction(job, database ?? 'the database'),
    );
  if (!promotable(job))
    throw new MigrationError(
      'CutoverNotReady',
      `not cutting over: DMS job ${jobId} is ${describeJob(job)}, not RUNNING/CDC or READY_FOR_PROMOTE; ` +
        'nothing was blocked',
    );
}

/**
 * Where DMS itself says when everything has arrived (READY_FOR_PROMOTE: SQL Server's final log
 * backup applied, https://cloud.google.com/database-migration/docs/sqlserver/migration-job-statuses),
 * the cutover waits for that phase, up to `until`, instead of reading lag. Returns the job as last read.
 */
export async function waitReadyForPromote(
  deps: GcpCutoverDeps,
  until: number,
  progress: Progress,
): Promise<{ state: string; phase?: string }> {
  for (let reported = false; ;) {
    const job = await deps.jobState();
    if (job.phase === 'READY_FOR_PROMOTE' || promoted(job) || job.state === 'FAILED') return job;
    if (!reported) progress(`waiting for DMS to show READY_FOR_PROMOTE (the job is ${describeJob(job)})`);
    reported = true;
    const wait = Math.min(deps.jobPollMs ?? 1_000, until - Date.now());
    if (wait <= 0) return job;
    await sleep(wait);
  }
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

export { describeJob };

/** migrationJobs.promote; a failed request counts if the job shows the promote taken after all. */
export async function promoteOrSeePromoted(deps: GcpCutoverDeps): Promise<void> {
  try {
    await deps.promote();
  } catch (err) {
    const now = await deps.jobState().catch(() => undefined);
    if (!now || !promoted(now)) throw err;
  }
}

/**
 * Past the promote's acceptance (the point of no return): the target marked as taken over (a
 * promote an earlier attempt, or a person, sent is marked all the same), then DMS waited for. A
 * failure here is CutoverIncomplete: a retry resumes forward, nothing is undone.
 */
export async function finishPromoted(deps: GcpCutoverDeps): Promise<void> {
  try {
    await deps.markTookOver?.();
    await deps.waitPromoted();
  } catch (err) {
    throw new MigrationError(
      'CutoverIncomplete',
      `${(err as Error).message}; DMS accepted the promote (the point of no return): a retry resumes`,
    );
  }
}
