// Activities with the real names and result shapes, doing nothing but recording each call
// (in server time, so time-skipped waits are visible) and failing or blocking where a test
// asks. The workflow tests assert on these records: which steps ran, in which order, when.
import { Context, CancelledFailure } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Activities, DatabaseTask } from '../../activities';
import { failure, type FailureType } from '../../common/failures';
import { replicationHealthSignal, type ReplicationHealth } from '../../common/messages';
import { awaitChildrenEnded, childRunBefore, relayDecision } from '../../activities/children';
import type { NotifyInput } from '../../common/notify-message';
import type { FleetTask } from '../../activities/steps';

export type StepName = keyof Activities;

export interface Call {
  name: StepName;
  migrationId: string;
  database: string;
  /** validateData's mode. */
  mode?: 'live' | 'final';
  attempt: number;
  /** When the attempt ran, on the server's clock (which time skipping moves). */
  at: number;
}

/** Which calls a rule applies to: one migration, optionally one database or validateData mode. */
export interface Where {
  migrationId: string;
  database?: string;
  mode?: 'live' | 'final';
}

interface Rule extends Where {
  name: StepName;
  /** How many more calls the rule applies to. */
  left: number;
  /** The rule applies to calls made before this server time only. */
  untilMs?: number;
  act: () => Promise<void>;
}

export interface FailOptions {
  /** Fail at once, past the activity's retry policy: the runbook's own loop is what is tested. */
  nonRetryable?: boolean;
  /** Only calls made before this server time fail (time skipping moves it). */
  untilMs?: number;
}

const quiet = () => undefined;

/** The runbook's steps as `steps()` names them, in order, when nothing goes wrong. */
export const HAPPY_PATH = [
  'assessSource',
  'provisionTarget',
  'reserveCapacity',
  'createMigrationJob',
  'verifyMigrationJob',
  'startMigrationJob',
  'waitForFullDump',
  'waitForReplicationReady',
  'validateData:live',
  'cutover',
  'validateData:final',
  'deleteMigrationJob',
  'releaseCapacity',
];
/** Up to and including the wait in CDC. */
export const UNTIL_CDC = HAPPY_PATH.slice(0, HAPPY_PATH.indexOf('waitForReplicationReady') + 1);
/** What a failure or cancel undoes once the migration job exists, before the cutover. */
export const UNDO_BEFORE_CUTOVER = ['stopMigrationJob', 'deleteMigrationJob', 'releaseCapacity', 'deleteTarget'];

export class MockActivities {
  readonly calls: Call[] = [];
  /** What the workflows asked the notifier to tell. */
  readonly notified: NotifyInput[] = [];
  /** The fleet-level steps (monitoring set-up and removal) the parent ran. */
  readonly fleetSteps: { name: 'prepareMigration' | 'finishMigration'; migrationId: string }[] = [];
  private rules: Rule[] = [];
  /** Migrations whose cutover reports reverse replication (a rollback path), as the local platform's does. */
  readonly reverse = new Set<string>();
  /** Migrations whose rollbackCutover finds the cutover past its point of no return (the source closed). */
  readonly pastPointOfNoReturn = new Set<string>();

  /**
   * `now` reads the server's clock: the Java test server stamps a retry attempt's scheduled time
   * with the previous failure's time (temporalio/sdk-java#3078), so activity info cannot say when.
   */
  constructor(private readonly now: () => Promise<number>) {}

  /**
   * Calls of one migration, as `step` or `validateData:mode` names. The replication watcher runs
   * beside the steps (its start races validateData's), so it is left out: `watches()` counts it.
   */
  steps(migrationId: string, database?: string): string[] {
    return this.calls
      .filter((c) => c.migrationId === migrationId && (database === undefined || c.database === database))
      .filter((c) => c.name !== 'watchReplication')
      .map((c) => (c.mode ? `${c.name}:${c.mode}` : c.name));
  }

  /** How many times the replication watcher started for a migration (and database). */
  watches(migrationId: string, database?: string): number {
    return this.calls.filter(
      (c) =>
        c.name === 'watchReplication' &&
        c.migrationId === migrationId &&
        (database === undefined || c.database === database),
    ).length;
  }

  /** The next `times` calls of `name` fail with a failure of `type` (retryable as common/failures says). */
  fail(name: StepName, where: Where, type: FailureType | 'Error', times = Infinity, opts: FailOptions = {}): void {
    this.rules.push({
      name,
      ...where,
      left: times,
      ...(opts.untilMs !== undefined ? { untilMs: opts.untilMs } : {}),
      act: async () => {
        const message = `${name} failed (test)`;
        if (opts.nonRetryable)
          throw ApplicationFailure.create({ type: type === 'Error' ? 'Error' : type, message, nonRetryable: true });
        if (type === 'Error') throw new Error(message);
        throw failure(type, message);
      },
    });
  }

  /** Calls that ended by cancellation: which step, and when (server time). */
  readonly cancelled: { name: StepName; migrationId: string; at: number }[] = [];
  /** Calls that returned or failed: when each attempt ended (server time). */
  readonly ended: { name: StepName; migrationId: string; at: number }[] = [];

  /**
   * The next call of `name` is slow: it runs, heartbeating, until the workflow cancels it, and then
   * takes `stopMs` (wall clock) more to stop, as a real step finishing its SQL or API call does.
   * `lastWord`, when given, is a health report the step sends its workflow meanwhile: a watcher's
   * last poll that lands after the runbook moved on.
   */
  slowToStop(name: StepName, where: Where, stopMs: number, lastWord?: ReplicationHealth): void {
    this.rules.push({
      name,
      ...where,
      left: 1,
      act: async () => {
        const ctx = Context.current();
        try {
          await heartbeatUntil(ctx.cancelled);
        } catch (err) {
          if (!(err instanceof CancelledFailure)) throw err;
          if (lastWord) {
            const { workflowId, runId } = ctx.info.workflowExecution!;
            await ctx.client.workflow.getHandle(workflowId, runId).signal(replicationHealthSignal, lastWord);
          }
          await new Promise((r) => setTimeout(r, stopMs));
          throw err;
        }
      },
    });
  }

  /**
   * The next call of `name` tells its workflow `health` at once (as a watcher does when the
   * anomalies it finds change), then waits, heartbeating, until the workflow cancels it.
   */
  tells(name: StepName, where: Where, health: ReplicationHealth): void {
    this.rules.push({
      name,
      ...where,
      left: 1,
      act: async () => {
        const ctx = Context.current();
        const { workflowId, runId } = ctx.info.workflowExecution!;
        await ctx.client.workflow.getHandle(workflowId, runId).signal(replicationHealthSignal, health);
        await heartbeatUntil(ctx.cancelled);
      },
    });
  }

  /** The next call of `name` waits, heartbeating, until the workflow cancels it. */
  block(name: StepName, where: Where): void {
    this.rules.push({
      name,
      ...where,
      left: 1,
      act: () => heartbeatUntil(Context.current().cancelled),
    });
  }

  /**
   * The next call of `name` waits, heartbeating, until the returned function is called: for
   * looking at the workflow while a step (an undo, which no cancel reaches) is still running.
   */
  hold(name: StepName, where: Where): () => void {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    this.rules.push({
      name,
      ...where,
      left: 1,
      act: () => heartbeatUntil(released),
    });
    return release;
  }

  private async record(name: StepName, task: DatabaseTask, mode?: 'live' | 'final'): Promise<void> {
    const now = await this.now();
    this.calls.push({
      name,
      migrationId: task.migrationId,
      database: task.database.name,
      ...(mode ? { mode } : {}),
      attempt: Context.current().info.attempt,
      at: now,
    });
    const rule = this.rules.find(
      (r) =>
        r.name === name &&
        r.left > 0 &&
        (r.untilMs === undefined || now < r.untilMs) &&
        r.migrationId === task.migrationId &&
        (r.database === undefined || r.database === task.database.name) &&
        (r.mode === undefined || r.mode === mode),
    );
    if (!rule) return;
    rule.left--;
    try {
      await rule.act();
    } finally {
      const end = { name, migrationId: task.migrationId, at: await this.now().catch(() => NaN) };
      if (Context.current().cancellationSignal.aborted) this.cancelled.push(end);
      else this.ended.push(end);
    }
  }

  /** The object a Worker registers; typed as the real one so a renamed activity fails to compile. */
  activities(): Activities {
    const step =
      <T>(name: StepName, result: (task: DatabaseTask) => T) =>
      async (task: DatabaseTask): Promise<T> => {
        await this.record(name, task);
        return result(task);
      };
    return {
      // The real ones: the fleet's watch on earlier children asks the server, and the notifier is
      // only scheduled when a plan routes an event (tests that need receivers use real ones).
      awaitChildrenEnded,
      childRunBefore,
      relayDecision,
      notify: async (input: NotifyInput) => {
        this.notified.push(input);
        return { delivered: [] };
      },
      // Scheduled only when a plan sets copy.helpers (workflows/copy-helpers.ts): nothing to share here.
      helpCopyRanges: async () => 0,
      prepareMigration: async (fleet: FleetTask) => {
        this.fleetSteps.push({ name: 'prepareMigration', migrationId: fleet.migrationId });
        return { resources: [] };
      },
      finishMigration: async (fleet: FleetTask) => {
        this.fleetSteps.push({ name: 'finishMigration', migrationId: fleet.migrationId });
      },
      assessSource: step('assessSource', () => ({
        serverVersion: '16.4',
        tables: ['items'],
        estimatedRows: 1000,
        findings: [],
        blocked: false,
      })),
      provisionTarget: step('provisionTarget', (t) => ({
        endpoint: `${t.database.target.instance}/${t.settings.targetDatabase}`,
        ownedByMigration: true,
      })),
      reserveCapacity: step('reserveCapacity', (t) => ({
        name: `cap-${t.database.name}`,
        mode: 'calendar' as const,
        workers: 1,
      })),
      releaseCapacity: step('releaseCapacity', quiet),
      createMigrationJob: step('createMigrationJob', quiet),
      verifyMigrationJob: step('verifyMigrationJob', () => [] as string[]),
      startMigrationJob: step('startMigrationJob', quiet),
      stopMigrationJob: step('stopMigrationJob', quiet),
      deleteMigrationJob: step('deleteMigrationJob', quiet),
      deleteTarget: step('deleteTarget', quiet),
      rollbackCutover: step('rollbackCutover', (t) =>
        this.pastPointOfNoReturn.has(t.migrationId) ? { pastPointOfNoReturn: true } : undefined,
      ),
      rollbackAfterCutover: step('rollbackAfterCutover', () => ({
        writeBlockMs: 37,
        sequences: [],
        materializedViews: [],
      })),
      finalizeCutover: step('finalizeCutover', quiet),
      // As a platform that cannot tell how far a rollback got (null): the runbook reads the failure's type then.
      rollbackProgress: step('rollbackProgress', () => null),
      // Returns at once, as watchReplication does: the time-skipping server skips time only while no activity runs.
      watchReverseReplication: step('watchReverseReplication', quiet),
      watchHealth: step('watchHealth', () => ({ breached: false, reason: 'the window ended without a breach' })),
      waitForFullDump: step('waitForFullDump', () => ({ rows: 1000, copyBytesPerSecond: null })),
      waitForReplicationReady: step('waitForReplicationReady', () => ({
        waitedMs: 3000,
        maxLagSeconds: 2,
        lagSeconds: 0.5,
        lagBytes: 128,
        rows: 1000,
      })),
      // Returns at once: the time-skipping server skips time only while no activity runs, and the
      // real watcher runs until the cutover. `block` makes it watch until cancelled, as the real one.
      watchReplication: step('watchReplication', quiet),
      validateData: async (task: DatabaseTask, mode: 'live' | 'final') => {
        await this.record('validateData', task, mode);
        return { mode, ok: true, tables: [], summary: `1 table(s) match (${mode})` };
      },
      cutover: step('cutover', (t) => ({
        endpoint: `${t.database.target.instance}/${t.settings.targetDatabase}`,
        finalLsn: '0/16B3748',
        sequencesCopied: 1,
        writeBlockMs: 42,
        ...(this.reverse.has(t.migrationId)
          ? { reverseReplication: { publication: 'rev_pub', slot: 'rev_slot', subscription: 'rev_sub' } }
          : {}),
      })),
    };
  }
}

/** Keeps the running activity alive until `done` settles (a cancel rejects Context.cancelled). */
async function heartbeatUntil(done: Promise<unknown>): Promise<void> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), 200);
  try {
    await done;
  } finally {
    clearInterval(beat);
  }
}
