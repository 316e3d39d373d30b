// What one run of DatabaseMigration holds while its runbook goes: the steps and their task, the
// database's status and the messages that steer it, the undo stack, the phase (which decides what a
// failure or cancel may undo), what is left in place past it, the replication watcher and the
// notifications. The runbook's parts (cutover-attempts.ts, carry-on.ts, resume.ts,
// stop-by-phase.ts, after-cutover.ts) share it; the runbook itself reads as its steps.
import type { DatabaseTask } from '../activities';
import type { CutoverResult } from '../activities/steps';
import type { NotifyEvent } from '../common/notify-plan';
import type { NotifyFacts } from '../common/notify-message';
import { rollbackResumeActivities, stepActivities, type StepActivities } from './activity-options';
import type { AfterCutoverContext } from './after-cutover';
import { Compensations } from './compensations';
import { DatabaseHandlers } from './database-handlers';
import { taskOf, type DatabaseMigrationInput } from './database-input';
import { answerMessages } from './database-messages';
import { DatabaseNotifications } from './database-notify';
import { reverseReplicationLeft, type Leftovers } from './leftovers';
import { ReplicationWatcher } from './replication-watcher';
import { holdsForDependencies } from './dependency-wait';
import { describeExpected } from '../common/expected-rates';

/**
 * How far the run got, which decides what a failure or cancel may undo: before the cutover,
 * everything; while the cutover blocks the source, only the source; once the target took over, nothing.
 */
export type Phase = 'before-cutover' | 'source-blocked' | 'target-took-over';

export class DatabaseRun {
  readonly acts: StepActivities;
  readonly task: DatabaseTask;
  readonly db: DatabaseHandlers;
  /** Each side effect's undo, registered before the step runs (a step may fail half-way). */
  readonly undo = new Compensations();
  readonly watcher: ReplicationWatcher;
  readonly notifications: DatabaseNotifications;
  phase: Phase = 'before-cutover';
  /** What exists and must be named if the run stops past the point where undos are allowed. */
  readonly left: Leftovers = { job: true, capacity: true, target: true };
  /** Cutover attempts started, in this run and the ones it continues (carried-run.ts). */
  cutoverAttempts = 0;
  /** Set while reverse replication keeps a rollback possible: what a stop then leaves to do. */
  rollbackOpen: string | undefined;
  /** Set when a rollback after the cutover stopped midway: what a stop must say instead. */
  rollbackStopped: string | undefined;
  /** Whether the cutover waits for the databases this one dependsOn (dependency-wait.ts; patch waves-21). */
  readonly holdsForDependencies: boolean;

  /** Builds the run and answers its messages from here on, so none sent before the first step is missed. */
  constructor(readonly input: DatabaseMigrationInput) {
    this.acts = stepActivities(input.database.name);
    this.task = taskOf(input);
    this.db = new DatabaseHandlers(input.migrationId, input.database, input.parentWorkflowId, input.roles);
    this.db.onAlert = (event, h) =>
      void this.notify(event, { problem: h.problem, lagSeconds: h.lagSeconds ?? this.db.summary.lagSeconds, at: h.at });
    this.db.onAnomaly = (a, cleared, occurrence) =>
      void this.notify('anomaly', { anomaly: a.kind, cleared, problem: a.detail, at: a.since }, occurrence);
    this.notifications = new DatabaseNotifications(input, this.db);
    // The watch starts from the anomalies the workflow believes active (a run continued as new
    // carried them), so one that cleared meanwhile is told as cleared.
    this.watcher = new ReplicationWatcher(() => this.acts.watchReplication(this.watchTask()));
    answerMessages(this.db);
    // What copy-slow and apply-slow compare with, or that nothing is (the status shows it).
    this.db.summary.expectedRates = describeExpected(input.expected);
    this.holdsForDependencies = holdsForDependencies(input);
  }

  private watchTask(): DatabaseTask {
    const { active } = this.db.anomalyState;
    return active.length ? { ...this.task, anomalies: active } : this.task;
  }

  /** Tells people about `event` on the plan's routes; never fails the run (database-notify.ts). */
  notify(event: NotifyEvent, facts: NotifyFacts, occurrence?: number): Promise<void> {
    return this.notifications.send(event, facts, occurrence);
  }

  /**
   * The point of no return: the cutover has returned, the target took the writes. The target is now
   * the database itself, not something this run could clean up; with reverse replication the job
   * is gone (the cutover removed it from the source) and what runs is the way back.
   */
  tookOver(cut: CutoverResult): void {
    this.phase = 'target-took-over';
    this.left.target = false;
    if (!cut.reverseReplication) return;
    this.left.job = false;
    this.rollbackOpen = reverseReplicationLeft(cut.reverseReplication);
  }

  /** What the wait after the cutover needs, while reverse replication keeps a rollback possible. */
  afterCutover(): AfterCutoverContext {
    const { input } = this;
    return {
      migrationId: input.migrationId,
      database: input.database,
      settings: input.settings,
      task: this.task,
      db: this.db,
      acts: this.acts,
      resume: rollbackResumeActivities(input.database.name),
      notify: (event, facts) => this.notify(event, facts),
      setStopped: (next) => (this.rollbackStopped = next),
    };
  }
}
