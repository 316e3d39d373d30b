// createActivities(platforms) → the activity object the worker registers. Each activity is one
// step of the state machine: it heartbeats while it works, reports failures by their type
// (common/failures.ts), and never returns or logs a secret.
import { Context, log } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { failure } from '../common/failures';
import { replicationHealthSignal, type ReplicationHealth, type ReplicationProgress } from '../common/messages';
import { MigrationError } from '../common/failures';
import {
  notCreatedStatus as notCreated,
  type DatabaseTask,
  type FleetTask,
  type PreparedMigration,
  type ReplicationStatus,
} from './steps';
import { type MigrationPlatform } from './platforms/platform';
import { createMigrationMetrics } from './metrics';
import { awaitChildrenEnded, childRunBefore, relayDecision } from './children';
import { createNotifier } from './notify';
import { reverseWatchActivity } from './reverse-watch';
import type { CopyProgress } from '../common/copy-progress';
import type { Throttled } from '../common/throttle-plan';
import { catchUpOf } from '../common/catch-up';
import { RateWindow } from '../common/progress-rate';
import type { ValidationProgress } from '../common/validation-progress';
import { helpCopyRanges } from './copy-helper';

export type { DatabaseTask, FleetTask, PreparedMigration } from './steps';

export interface ReadyStats {
  waitedMs: number;
  maxLagSeconds: number | null;
  lagSeconds: number | null;
  lagBytes: number | null;
  rows: number;
}

const sleep = (ms: number) => Context.current().sleep(ms);
/**
 * How often the waits read replication's status. The initial copy's end is noticed within a poll,
 * and each one is a few connections: 250 ms keeps dbmig within a few percent of a hand-made
 * publication and subscription (bench/initial-sync.ts), where 1 s cost up to a whole second.
 */
export const POLL_MS = { fullDump: 250, ready: 250 } as const;
const BROKEN_AFTER_ERRORS = 3;
/** Apply errors this recent mean replication is failing now (PostgreSQL retries apply every ~5 s). */
const STILL_FAILING_MS = 60_000;

/**
 * Whether the target has applied a heartbeat written after the last apply error (lag is the age of
 * the newest applied one): then apply got past whatever failed, and replication is healthy again
 * without waiting STILL_FAILING_MS.
 */
function appliedSince(s: ReplicationStatus, msSinceError: number): boolean {
  return s.lagSeconds !== null && s.lagSeconds * 1000 < msSinceError;
}

/**
 * Runs one platform call as an activity step: heartbeats on a timer while it runs, so long
 * single calls (pg_dump, operation polls) stay alive, and turns a MigrationError into the
 * ApplicationFailure of its type, so the retry policy knows whether retrying can help.
 */
async function heartbeatingStep<T>(fn: () => Promise<T>, every = 5_000, details?: () => unknown): Promise<T> {
  const ctx = Context.current();
  // A heartbeat replaces the last details: a step that reports progress keeps sending it.
  const beat = () => ctx.heartbeat(details?.());
  beat();
  const timer = setInterval(beat, every);
  try {
    return await fn();
  } catch (err) {
    if (err instanceof MigrationError) {
      throw failure(err.type, err.message);
    }
    throw err;
  } finally {
    clearInterval(timer);
  }
}

/**
 * This activity's place in its workflow run: the same for every retry of the activity and new for
 * a new attempt at the step (another run, or the step scheduled again). Google request ids derive
 * from it, so a retry is deduplicated and a re-run within Google's dedupe window is not.
 */
function requestScope(): string | undefined {
  try {
    const info = Context.current().info;
    return `${info.workflowExecution?.runId ?? 'standalone'}/${info.activityId}`;
  } catch {
    return undefined; // called outside an activity (tests driving a platform directly)
  }
}

export type Platforms = Partial<Record<DatabaseTask['platform'], MigrationPlatform>>;

export function createActivities(platforms: Platforms) {
  const metrics = createMigrationMetrics();
  const on = (task: DatabaseTask): MigrationPlatform => {
    const p = platforms[task.platform];
    if (!p)
      throw new MigrationError(
        'PlatformUnavailable',
        `platform "${task.platform}" is not configured on this worker (it has: ${Object.keys(platforms).join(', ')})`,
      );
    task.requestScope ??= requestScope();
    return p;
  };

  /** The platform of a fleet-level step; its request ids are scoped like a database step's. */
  const onFleet = (fleet: FleetTask): MigrationPlatform => {
    const p = platforms[fleet.platform];
    if (!p)
      throw new MigrationError(
        'PlatformUnavailable',
        `platform "${fleet.platform}" is not configured on this worker (it has: ${Object.keys(platforms).join(', ')})`,
      );
    fleet.requestScope ??= requestScope();
    return p;
  };

  /** The platform's poll interval where it sets one (sim), else the default for the wait. */
  const pollOf = (task: DatabaseTask, fallback: number): number => {
    const p = platforms[task.platform];
    return p?.pollIntervalMs?.(task) ?? fallback;
  };

  /** What the waits and the watcher heartbeat: `dbmig status` and the Temporal UI read it there. */
  function progressOf(s: ReplicationStatus, baselineErrors?: number, problem?: string): ReplicationProgress {
    return {
      phase: s.phase,
      lagSeconds: s.lagSeconds,
      lagBytes: s.lagBytes,
      ...(s.sampleAgeSeconds !== undefined ? { sampleAgeSeconds: s.sampleAgeSeconds } : {}),
      rows: s.rowsOnTarget,
      errorCount: s.errorCount,
      ...(baselineErrors !== undefined ? { baselineErrors } : {}),
      ...(problem ? { problem } : {}),
      at: new Date().toISOString(),
    };
  }

  const catchUpWindows = () => ({ bytes: new RateWindow(), seconds: new RateWindow() });

  /** `progress` with how fast the lag falls (a window per wait or watch), into metrics too. */
  function withCatchUp(
    task: DatabaseTask,
    s: ReplicationStatus,
    progress: ReplicationProgress,
    windows: ReturnType<typeof catchUpWindows>,
  ): ReplicationProgress {
    if (s.phase !== 'CDC') return progress;
    const catchUp = catchUpOf(s, windows, Date.now(), task.settings.lagThresholdSeconds);
    if (!catchUp) return progress;
    metrics.catchUp(task, catchUp);
    return { ...progress, catchUp };
  }

  /** One status read that heartbeats `last` (the newest progress) while it runs. */
  function readStatus(task: DatabaseTask, last: () => ReplicationProgress | undefined): Promise<ReplicationStatus> {
    return heartbeatingStep(() => on(task).getReplicationStatus(task), 5_000, last);
  }

  /**
   * Polls replication until `done` holds. Progress goes into heartbeat details and metrics, never a
   * signal per poll: a month-long wait must not grow the history (docs/architecture.md, Safety rules, rule 4).
   */
  async function pollReplication(
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
      const s = await readStatus(task, () => progress && { ...progress, ...extra() });
      progress = withCatchUp(task, s, progressOf(s), catchUp);
      ctx.heartbeat({ ...progress, ...extra() });
      metrics.lag(task, s);
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

  /** Tells the workflow that replication's health changed; a lost signal is sent again on the next poll. */
  async function tellHealth(health: ReplicationHealth): Promise<boolean | 'closed'> {
    const { workflowId, runId } = Context.current().info.workflowExecution!;
    try {
      await Context.current().client.workflow.getHandle(workflowId, runId).signal(replicationHealthSignal, health);
      return true;
    } catch (err) {
      // The run has ended (its cutover went on without waiting for this watch to stop): nobody to tell.
      if (err instanceof WorkflowNotFoundError) return 'closed';
      log.warn('could not tell the workflow about replication health', { error: (err as Error).message });
      return false;
    }
  }

  return {
    ...createNotifier(),
    awaitChildrenEnded,
    childRunBefore,
    relayDecision,
    assessSource: (task: DatabaseTask) => heartbeatingStep(() => on(task).assessSource(task)),
    provisionTarget: (task: DatabaseTask) => heartbeatingStep(() => on(task).provisionTarget(task)),
    reserveCapacity: (task: DatabaseTask) => heartbeatingStep(() => on(task).reserveCapacity(task)),
    releaseCapacity: (task: DatabaseTask) => heartbeatingStep(() => on(task).releaseCapacity(task)),
    createMigrationJob: (task: DatabaseTask) => heartbeatingStep(() => on(task).createMigrationJob(task)),
    verifyMigrationJob: (task: DatabaseTask) => heartbeatingStep(() => on(task).verifyMigrationJob(task)),
    startMigrationJob: (task: DatabaseTask) => heartbeatingStep(() => on(task).startMigrationJob(task)),
    stopMigrationJob: (task: DatabaseTask) => heartbeatingStep(() => on(task).stopMigrationJob(task)),
    deleteMigrationJob: (task: DatabaseTask) => heartbeatingStep(() => on(task).deleteMigrationJob(task)),
    deleteTarget: (task: DatabaseTask) => heartbeatingStep(() => on(task).deleteTarget(task)),
    rollbackCutover: (task: DatabaseTask) => heartbeatingStep(() => on(task).rollbackCutover(task)),
    rollbackAfterCutover: (task: DatabaseTask) =>
      heartbeatingStep(() => on(task).rollbackAfterCutover(task, (step) => Context.current().heartbeat({ step }))),
    finalizeCutover: (task: DatabaseTask) => heartbeatingStep(() => on(task).finalizeCutover(task)),
    /** How far the last rollback after the cutover got; null where the platform cannot tell. */
    rollbackProgress: (task: DatabaseTask) =>
      heartbeatingStep(async () => {
        const p = on(task);
        return p.rollbackProgress ? p.rollbackProgress(task) : null;
      }),
    /** From COMPLETED until a rollback or finalize: reverse replication's health, writes on the closed source. */
    watchReverseReplication: (task: DatabaseTask, pollMs?: number) =>
      reverseWatchActivity(() => on(task))(task, pollMs ?? pollOf(task, 2_000)),
    helpCopyRanges: (task: DatabaseTask) => helpCopyRanges(on(task), task),
    /** Once per migration, before the first database: what serves the whole fleet (gcp: monitoring). */
    prepareMigration: (fleet: FleetTask): Promise<PreparedMigration> =>
      heartbeatingStep(async () => {
        const p = onFleet(fleet);
        return p.prepareMigration ? p.prepareMigration(fleet) : { resources: [] };
      }),
    /** Once, when the fleet has finished: removes what prepareMigration made (unless the plan keeps it). */
    finishMigration: (fleet: FleetTask): Promise<void> =>
      heartbeatingStep(async () => {
        const p = onFleet(fleet);
        if (p.finishMigration) await p.finishMigration(fleet);
      }),

    async waitForFullDump(task: DatabaseTask, pollMs: number = pollOf(task, POLL_MS.fullDump)): Promise<number> {
      const platform = on(task);
      if (platform.copyInitialData) {
        // The copy's progress is the heartbeat: what dbmig status and the UI show, and nothing in history.
        let last: CopyProgress | undefined;
        const beat = setInterval(() => Context.current().heartbeat({ copy: last }), 5_000);
        const gauge = metrics.throttleGauge(task, 'copy');
        try {
          await platform.copyInitialData(task, (p) => {
            last = structuredClone(p);
            Context.current().heartbeat({ copy: last });
            metrics.copy(task, last);
            gauge(p.throttled);
          });
        } finally {
          clearInterval(beat);
          gauge(undefined);
        }
        // Until CDC the copy's last word (100%) stays readable next to the lag.
        const s = await pollReplication(
          task,
          pollMs,
          (st) => st.phase === 'CDC',
          () => ({ copy: last }),
        );
        return s.rowsOnTarget;
      }
      const s = await pollReplication(task, pollMs, (st) => st.phase === 'CDC');
      return s.rowsOnTarget;
    },

    /** Returns once lag has stayed at or under the threshold for the whole stable window. */
    async waitForReplicationReady(
      task: DatabaseTask,
      pollMs: number = pollOf(task, POLL_MS.ready),
    ): Promise<ReadyStats> {
      const started = Date.now();
      let stableSince: number | undefined;
      let maxLag: number | null = null;
      const { lagThresholdSeconds, stableWindowMs } = task.settings;
      const s = await pollReplication(task, pollMs, (st, now) => {
        if (st.lagSeconds !== null) maxLag = Math.max(maxLag ?? 0, st.lagSeconds);
        const ok = st.phase === 'CDC' && st.lagSeconds !== null && st.lagSeconds <= lagThresholdSeconds;
        stableSince = ok ? (stableSince ?? now) : undefined;
        return stableSince !== undefined && now - stableSince >= stableWindowMs;
      });
      return {
        waitedMs: Date.now() - started,
        maxLagSeconds: maxLag,
        lagSeconds: s.lagSeconds,
        lagBytes: s.lagBytes,
        rows: s.rowsOnTarget,
      };
    },

    /**
     * From CDC until the cutover, while a human decides: keeps measuring lag and apply errors. Lag
     * travels in heartbeat details and metrics; the workflow is told only when health changes
     * (healthy ↔ broken), so a break shows within one poll and a month of watching adds no history.
     * Runs until the workflow cancels it; a retry resumes from the last heartbeat's error baseline.
     */
    async watchReplication(task: DatabaseTask, pollMs = pollOf(task, 2_000)): Promise<void> {
      const ctx = Context.current();
      const resumed = ctx.info.heartbeatDetails as ReplicationProgress | undefined;
      let baseline = resumed?.baselineErrors;
      /** What the workflow believes: healthy until told otherwise (a retry resumes the last belief). */
      let told = !resumed?.problem;
      /** Whether the workflow was told lag is above the alert level (notifications.lagAlertSeconds). */
      let toldLagging = resumed?.lagging ?? false;
      const alertAt = task.settings.lagAlertSeconds;
      let lastCount = resumed?.errorCount;
      let lastErrorAt = 0;
      let progress = resumed;
      const catchUp = catchUpWindows();
      for (;;) {
        let problem: string | undefined;
        try {
          const s = await readStatus(task, () => progress);
          metrics.lag(task, s);
          const now = Date.now();
          baseline ??= s.errorCount;
          if (lastCount !== undefined && s.errorCount > lastCount) lastErrorAt = now;
          lastCount = s.errorCount;
          if (s.phase !== 'CDC') problem = `replication is ${s.phase}${s.detail ? ` (${s.detail})` : ''}, not CDC`;
          else if (
            s.errorCount > baseline &&
            now - lastErrorAt < STILL_FAILING_MS &&
            !appliedSince(s, now - lastErrorAt)
          )
            problem =
              `the target fails to apply changes (${s.errorCount - baseline} errors since the watch began): ` +
              `${s.errors.join(' | ') || 'see the target log'}`;
          progress = withCatchUp(task, s, progressOf(s, baseline, problem), catchUp);
        } catch (err) {
          if (ctx.cancellationSignal.aborted) throw err;
          problem = `replication status cannot be read: ${(err as Error).message}`;
          progress = { ...(progress ?? progressOf(notCreated())), problem, at: new Date().toISOString() };
        }
        // Lag above the alert level, and back under half of it (so a lag hovering at the level is one alert).
        const lag = progress?.lagSeconds ?? null;
        const lagging =
          alertAt !== undefined && lag !== null ? (toldLagging ? lag > alertAt / 2 : lag > alertAt) : toldLagging;
        progress = { ...progress!, lagging };
        ctx.heartbeat(progress);
        const ok = problem === undefined;
        if (ok !== told || lagging !== toldLagging) {
          const at = new Date().toISOString();
          const sent = await tellHealth({ ok, lagging, lagSeconds: lag, ...(problem ? { problem } : {}), at });
          if (sent === 'closed') return;
          if (sent) [told, toldLagging] = [ok, lagging];
        }
        await sleep(pollMs);
      }
    },

    /**
     * A chunked validation checkpoints in its heartbeat details (never in the history): a retried
     * attempt gets the last one it sent and continues from there (validate-live.ts).
     */
    validateData: (task: DatabaseTask, mode: 'live' | 'final') => {
      const ctx = Context.current();
      let last: unknown = ctx.info.heartbeatDetails;
      const gauge = metrics.throttleGauge(task, 'validation');
      const save = (c: unknown) => {
        last = c;
        ctx.heartbeat(c);
        const { summary, throttled } = (c ?? {}) as { summary?: ValidationProgress; throttled?: Throttled };
        if (summary) metrics.validation(task, summary);
        gauge(throttled);
      };
      return heartbeatingStep(
        () => on(task).validateData(task, mode, { from: last, save }),
        5_000,
        () => last,
      ).finally(() => gauge(undefined));
    },

    async cutover(task: DatabaseTask) {
      const ctx = Context.current();
      const result = await heartbeatingStep(() => on(task).cutover(task, (step) => ctx.heartbeat({ step })));
      metrics.cutover(task, result.writeBlockMs);
      return result;
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
