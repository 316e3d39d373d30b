// What the replication waits (replication-waits.ts) and the watcher (replication-watch.ts) share:
// one status read that keeps the activity alive while it runs, the progress they heartbeat
// (`dbmig status` and the Temporal UI read it there, never the history), and the poll loop of the
// waits. Progress travels per poll in heartbeat details and metrics only (safety rule 4).
import { Context } from '@temporalio/activity';
import { failure } from '../common/failures';
import type { ReplicationProgress } from '../common/messages';
import { catchUpOf } from '../common/catch-up';
import { RateWindow } from '../common/progress-rate';
import type { DatabaseTask, ReplicationStatus } from './steps';
import type { MigrationPlatform } from './platforms/platform';
import type { createMigrationMetrics } from './metrics';
import { heartbeatingStep } from './heartbeat-step';

/** What the replication activities need of the worker: the task's platform, the metrics. */
export interface ReplicationDeps {
  on: (task: DatabaseTask) => MigrationPlatform;
  /** The platform's poll interval where it sets one (sim), else `fallback`. */
  pollOf: (task: DatabaseTask, fallback: number) => number;
  metrics: ReturnType<typeof createMigrationMetrics>;
}

const BROKEN_AFTER_ERRORS = 3;

export const sleep = (ms: number) => Context.current().sleep(ms);

/** What the waits and the watcher heartbeat: `dbmig status` and the Temporal UI read it there. */
export function progressOf(s: ReplicationStatus, baselineErrors?: number, problem?: string): ReplicationProgress {
  return {
    phase: s.phase,
    lagSeconds: s.lagSeconds,
    lagBytes: s.lagBytes,
    ...(s.sampleAgeSeconds !== undefined ? { sampleAgeSeconds: s.sampleAgeSeconds } : {}),
    ...(s.detail ? { detail: s.detail } : {}),
    rows: s.rowsOnTarget,
    errorCount: s.errorCount,
    ...(baselineErrors !== undefined ? { baselineErrors } : {}),
    ...(problem ? { problem } : {}),
    at: new Date().toISOString(),
  };
}

/** The windows the catch-up's rate is measured over: one pair per wait or watch. */
export const catchUpWindows = () => ({ bytes: new RateWindow(), seconds: new RateWindow() });

/** `progress` with how fast the lag falls (a window per wait or watch), into metrics too. */
export function withCatchUp(
  deps: ReplicationDeps,
  task: DatabaseTask,
  s: ReplicationStatus,
  progress: ReplicationProgress,
  windows: ReturnType<typeof catchUpWindows>,
): ReplicationProgress {
  if (s.phase !== 'CDC') return progress;
  const catchUp = catchUpOf(s, windows, Date.now(), task.settings.lagThresholdSeconds);
  if (!catchUp) return progress;
  deps.metrics.catchUp(task, catchUp);
  return { ...progress, catchUp };
}

/** One status read that heartbeats `last` (the newest progress) while it runs. */
export function readStatus(
  deps: ReplicationDeps,
  task: DatabaseTask,
  last: () => ReplicationProgress | undefined,
): Promise<ReplicationStatus> {
  return heartbeatingStep(() => deps.on(task).getReplicationStatus(task), 5_000, last);
}

/**
 * Polls replication until `done` holds. Progress goes into heartbeat details and metrics, never a
 * signal per poll: a month-long wait must not grow the history (docs/architecture.md, Safety rules, rule 4).
 */
export async function pollReplication(
  deps: ReplicationDeps,
  task: DatabaseTask,
  pollMs: number,
  done: (s: ReplicationStatus, now: number) => boolean,
  extra: () => object = () => ({}),
): Promise<ReplicationStatus> {
  const ctx = Context.current();
  let firstErrorCount: number | undefined;
  let progress: ReplicationProgress | undefined;
  const catchUp = catchUpWindows();
  for (;;) {
    const s = await readStatus(deps, task, () => progress && { ...progress, ...extra() });
    progress = withCatchUp(deps, task, s, progressOf(s), catchUp);
    ctx.heartbeat({ ...progress, ...extra() });
    deps.metrics.lag(task, s);
    const now = Date.now();
    if (s.phase === 'NOT_CREATED' || s.phase === 'CREATED')
      throw new Error(`replication is ${s.phase}; the job must be started first`);
    // One error can be a blip the target retries through; errors that keep coming will not heal.
    firstErrorCount ??= s.errorCount;
    if (s.errorCount - firstErrorCount >= BROKEN_AFTER_ERRORS) {
      throw failure(
        'ReplicationBroken',
        `replication keeps failing on the target (${s.errorCount} errors): ` +
          `${s.errors.join(' | ') || 'see the target log'}. ` +
          'DDL on the source is the usual cause: it is not replicated',
      );
    }
    if (done(s, now)) return s;
    await sleep(pollMs);
  }
}
