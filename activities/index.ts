// createActivities(platforms) → the activity object the worker registers. Each activity is one
// step of the state machine: it heartbeats while it works, reports failures by their type
// (common/failures.ts), and never returns or logs a secret.
import { Context, log } from '@temporalio/activity';
import { failure } from '../common/failures';
import { lagReportSignal, type LagReport } from '../common/messages';
import {
  MigrationError,
  type DatabaseTask,
  type MigrationPlatform,
  type ReplicationStatus,
} from './platforms/platform';
import { createMigrationMetrics } from './metrics';

export type { DatabaseTask } from './platforms/platform';

export interface ReadyStats {
  waitedMs: number;
  maxLagSeconds: number | null;
  lagSeconds: number | null;
  lagBytes: number | null;
  rows: number;
}

const sleep = (ms: number) => Context.current().sleep(ms);
const BROKEN_AFTER_ERRORS = 3;

/**
 * Runs one platform call as an activity step: heartbeats on a timer while it runs, so long
 * single calls (pg_dump, operation polls) stay alive, and turns a MigrationError into the
 * ApplicationFailure of its type, so the retry policy knows whether retrying can help.
 */
async function heartbeatingStep<T>(fn: () => Promise<T>, every = 5_000): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat();
  const timer = setInterval(() => ctx.heartbeat(), every);
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
    return p;
  };

  async function report(task: DatabaseTask, s: ReplicationStatus): Promise<void> {
    metrics.lag(task, s);
    const info = Context.current().info;
    const payload: LagReport = {
      phase: s.phase,
      lagSeconds: s.lagSeconds,
      lagBytes: s.lagBytes,
      rows: s.rowsOnTarget,
      tablesReady: s.tablesReady,
      tablesTotal: s.tablesTotal,
    };
    try {
      await Context.current()
        .client.workflow.getHandle(info.workflowExecution!.workflowId)
        .signal(lagReportSignal, payload);
    } catch (err) {
      log.warn('could not report lag to the workflow', { error: (err as Error).message });
    }
  }

  /** Polls replication until `done` holds; heartbeats every poll and reports every few seconds. */
  async function pollReplication(
    task: DatabaseTask,
    pollMs: number,
    done: (s: ReplicationStatus, now: number) => boolean,
  ): Promise<ReplicationStatus> {
    const ctx = Context.current();
    let lastReport = 0;
    let firstErrorCount: number | undefined;
    for (;;) {
      const s = await heartbeatingStep(() => on(task).getReplicationStatus(task));
      ctx.heartbeat({ phase: s.phase, lagSeconds: s.lagSeconds, lagBytes: s.lagBytes });
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
      const finished = done(s, now);
      if (finished || now - lastReport >= 5_000) {
        lastReport = now;
        await report(task, s);
      }
      if (finished) return s;
      await sleep(pollMs);
    }
  }

  return {
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

    async waitForFullDump(task: DatabaseTask, pollMs = 1_000): Promise<number> {
      const s = await pollReplication(task, pollMs, (st) => st.phase === 'CDC');
      return s.rowsOnTarget;
    },

    /** Returns once lag has stayed at or under the threshold for the whole stable window. */
    async waitForReplicationReady(task: DatabaseTask, pollMs = 1_000): Promise<ReadyStats> {
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

    validateData: (task: DatabaseTask, mode: 'live' | 'final') =>
      heartbeatingStep(() => on(task).validateData(task, mode)),

    async cutover(task: DatabaseTask) {
      const ctx = Context.current();
      const result = await heartbeatingStep(() => on(task).cutover(task, (step) => ctx.heartbeat({ step })));
      metrics.cutover(task, result.writeBlockMs);
      return result;
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
