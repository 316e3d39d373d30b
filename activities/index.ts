// createActivities(platforms) → the activity object the worker registers. Each activity is one
// step of the state machine: it heartbeats while it works, reports failures by their type
// (common/failures.ts, heartbeat-step.ts), and never returns or logs a secret. This file is the
// registration list, one entry per activity; an activity with plumbing of its own lives in its own
// file (replication-waits.ts, replication-watch.ts, reverse-watch.ts) and is listed here.
import { Context } from '@temporalio/activity';
import { MigrationError } from '../common/failures';
import type { DatabaseTask, FleetTask, PreparedMigration } from './steps';
import { type MigrationPlatform } from './platforms/platform';
import { createMigrationMetrics } from './metrics';
import { withOwnedGauges } from './gauge-owner';
import { awaitChildrenEnded, childRunBefore, relayDecision } from './children';
import { createNotifier } from './notify';
import { reverseWatchActivity } from './reverse-watch';
import { watchHealth } from './health-watch';
import type { Throttled } from '../common/throttle-plan';
import type { ValidationProgress } from '../common/validation-progress';
import { heartbeatingStep, requestScope } from './heartbeat-step';
import type { ReplicationDeps } from './replication-poll';
import { replicationWaits } from './replication-waits';
import { watchReplicationActivity } from './replication-watch';
import { helpCopyRanges } from './copy-helper';

export type { DatabaseTask, FleetTask, PreparedMigration } from './steps';
// Imported from here by the workflows (ReadyStats) and the initial-sync benchmark (POLL_MS).
export { POLL_MS, type ReadyStats } from './replication-waits';

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

  const replication: ReplicationDeps = { on, pollOf, metrics };

  // A database's gauges are the running step's: back to no value when it ends (gauge-owner.ts).
  return withOwnedGauges({
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
    /** From COMPLETED, when the plan names a health check: returns only on a held breach or the window's end. */
    watchHealth,
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

    // waitForFullDump, waitForReplicationReady (replication-waits.ts)
    ...replicationWaits(replication),
    /**
     * From CDC until the cutover, while a human decides: lag and apply errors in heartbeat details,
     * the workflow told only when health changes (replication-watch.ts).
     */
    watchReplication: watchReplicationActivity(replication),

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
  });
}

export type Activities = ReturnType<typeof createActivities>;
