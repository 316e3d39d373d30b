// DatabaseMigration: one database through its state machine (docs/architecture.md). Each step is one
// activity; every side effect registers its undo before it runs. What a failure or cancel may undo
// depends on the phase (docs/architecture.md, The runbook of one database): before the source is blocked,
// everything (COMPENSATING, then FAILED or CANCELLED); while the cutover blocks it, only the source
// is restored; once the cutover has returned (the point of no return), nothing: NEEDS_ATTENTION.
// Messages are handled by DatabaseHandlers; this file is the runbook.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { type DatabasePlan, type EffectiveSettings, type GcpSettings, type PlatformName } from '../common/plan';
import type { SimSettings } from '../common/sim-plan';
import { channelsFor, type NotificationSettings, type NotifyEvent } from '../common/notify-plan';
import type { NotifyFacts } from '../common/notify-message';
import type { DatabaseSummary } from '../common/status';
import { failure } from '../common/failures';
import { formatDuration } from '../common/durations';
import { describeWindow, msUntilWindow, type CutoverWindow } from '../common/cutover-window';
import type { DatabaseTask } from '../activities';
import type { CutoverResult, Finding, ValidationResult } from '../activities/platforms/platform';
import {
  approveCutoverSignal,
  approveCutoverUpdate,
  databaseStatusQuery,
  finalizeUpdate,
  lagReportSignal,
  rejectCutoverSignal,
  rejectCutoverUpdate,
  replicationHealthSignal,
  reverseHealthSignal,
  revokeApprovalSignal,
  revokeApprovalUpdate,
  rollbackUpdate,
} from '../common/messages';
import { notifyActivities, rollbackResumeActivities, stepActivities } from './activity-options';
import { keepRollbackOpen } from './after-cutover';
import { Compensations } from './compensations';
import { DatabaseHandlers, type Decision } from './database-handlers';
import { describeError, endState } from './errors';
import { afterFailedCutover, afterPointOfNoReturn, describeLeftovers, type Leftovers } from './leftovers';
import {
  ESCALATION_CAP_MS,
  RESUME_CAP_MS,
  RESUME_FIRST_MS,
  RETRY_CAP_MS,
  RETRY_FIRST_MS,
  budgetSpent,
  doubled,
  type CarriedRun,
} from './carried-run';

/** How far the run got, which decides what a failure or cancel may undo. */
type Phase = 'before-cutover' | 'source-blocked' | 'target-took-over';

interface Watcher {
  scope: CancellationScope;
  running: boolean;
}

/**
 * Cutover failures that blocked nothing: the database stays ready and the cutover is tried again.
 * MigratedSetChanged: the source's tables, sequences or large objects differ from what is
 * published and copied (a deploy during CDC); the finding says what to do.
 */
const NOT_STARTED = ['CutoverNotReady', 'PreparedTransactions', 'MigratedSetChanged'];

export interface DatabaseMigrationInput {
  migrationId: string;
  platform: PlatformName;
  /** The parent's workflow id, to report progress to; absent when run on its own. */
  parentWorkflowId?: string;
  database: DatabasePlan;
  settings: EffectiveSettings;
  /** From the validated plan, whose onTimeout defaults to escalate. */
  approval: { policy: 'manual' | 'auto'; timeoutMs: number; onTimeout: 'escalate' | 'fail' };
  notifications?: NotificationSettings;
  gcp?: GcpSettings;
  sim?: SimSettings;
  cutoverWindow?: CutoverWindow;
  /** Where the run this one continues from was (carried-run.ts); absent on a first run. */
  carried?: CarriedRun;
}

export async function DatabaseMigration(input: DatabaseMigrationInput): Promise<DatabaseSummary> {
  const acts = stepActivities(input.database.name);
  const task: DatabaseTask = {
    migrationId: input.migrationId,
    platform: input.platform,
    database: input.database,
    settings: input.settings,
    ...(input.gcp ? { gcp: input.gcp } : {}),
    ...(input.sim ? { sim: input.sim } : {}),
  };
  const db = new DatabaseHandlers(input.migrationId, input.database, input.parentWorkflowId);
  db.onAlert = (event, h) =>
    void notify(event, { problem: h.problem, lagSeconds: h.lagSeconds ?? db.summary.lagSeconds, at: h.at });
  const notifier = notifyActivities(input.database.name);
  const undo = new Compensations();
  let phase: Phase = 'before-cutover';
  /** What exists and must be named if the run stops past the point where undos are allowed. */
  const left: Leftovers = { job: true, capacity: true, target: true };
  /** The replication watcher, from AWAITING_APPROVAL until the cutover. */
  let watcher: Watcher | undefined;
  /** Set while reverse replication keeps a rollback possible: what a stop then leaves to do. */
  let rollbackOpen: string | undefined;
  /** Cutover attempts started, in this run and the ones it continues (carried-run.ts). */
  let cutoverAttempts = 0;
  /** Set when a rollback after the cutover failed midway: neither side may take writes. */
  let rollbackStopped: string | undefined;

  // Messages: registered before the first step, so none sent early is missed.
  setHandler(approveCutoverUpdate, (a) => db.approve(a), { validator: (a) => db.refuse(a, 'approve') });
  setHandler(rejectCutoverUpdate, (r) => db.reject(r), { validator: (r) => db.refuse(r, 'reject') });
  setHandler(approveCutoverSignal, (a) => db.approveBySignal(a));
  setHandler(rejectCutoverSignal, (r) => db.rejectBySignal(r));
  setHandler(revokeApprovalUpdate, (r) => db.revoke(r), { validator: (r) => db.refuse(r, 'revoke') });
  setHandler(revokeApprovalSignal, (r) => db.revokeBySignal(r));
  setHandler(replicationHealthSignal, (h) => db.replicationHealth(h));
  setHandler(reverseHealthSignal, (h) => db.reverseHealth(h));
  setHandler(rollbackUpdate, (r) => db.requestAfterCutover('rollback', r), {
    validator: (r) => db.refuseAfterCutover(r, 'rollback'),
  });
  setHandler(finalizeUpdate, (r) => db.requestAfterCutover('finalize', r), {
    validator: (r) => db.refuseAfterCutover(r, 'finalize'),
  });
  setHandler(databaseStatusQuery, () => db.summary);
  setHandler(lagReportSignal, (r) => db.reportLag(r));

  try {
    const cut = input.carried ? await resumeCarried(input.carried) : await untilCutover();
    // ── This is the point of no return. ── The cutover has returned: the target has taken the
    // writes and the source is closed. From here on nothing automatic reopens the source or touches
    // the target, the job or the capacity: a failure or cancel leaves NEEDS_ATTENTION, with what to do.
    phase = 'target-took-over';
    left.target = false; // now the database itself, not something this run could clean up
    if (cut.reverseReplication) {
      // The cutover removed replication from the source (the job); what runs now is the way back.
      const r = cut.reverseReplication;
      left.job = false;
      rollbackOpen =
        `reverse replication from the target to the source still runs (subscription ${r.subscription} on the ` +
        `source; publication ${r.publication} and slot ${r.slot}, which holds the target's WAL, on the target): ` +
        'drop them by hand when no rollback is wanted; nothing reopened the source';
    }

    void db.enter('VERIFYING_TARGET', { writeBlockMs: cut.writeBlockMs });
    const doneFacts = { writeBlockMs: cut.writeBlockMs, endpoint: cut.endpoint };
    // Applications are told to move only once the target is known to equal the source at the
    // cutover's fence: told before, one that moves at once races the comparison.
    const final = await acts.validateData(task, 'final');
    // With reverse replication the source is still a way back: a difference keeps it (differs).
    const differs = !final.ok && cut.reverseReplication ? heldAfter(final.summary) : undefined;
    if (!final.ok && !differs) {
      const message = `target differs from the source after cutover: ${final.summary}`;
      throw failure('TargetVerificationFailed', message, final.tables);
    }
    const told = differs
      ? notify('failure', { state: 'COMPLETED', reason: differs.lastError, nextAction: differs.nextAction })
      : notify('cutover-done', doneFacts);

    await acts.deleteMigrationJob(task);
    left.job = false;
    await acts.releaseCapacity(task);
    left.capacity = false;
    await told;
    if (cut.reverseReplication) return await keepRollbackOpenAfter(final.summary, differs);
    await db.enter('COMPLETED', {
      validation: final.summary,
      finishedAt: new Date().toISOString(),
      lagSeconds: 0,
      lagBytes: 0,
    });
    return db.summary;
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err; // the next run carries on from here: nothing ended
    const lastError = describeError(err);
    stopWatching();
    await CancellationScope.nonCancellable(() => stopByPhase(phase, err, lastError));
    // NEEDS_ATTENTION completes, with its summary: a failed run's id may be started again (the
    // parent's reuse policy allows it for a retry), and a target that took over is never touched again.
    if (db.summary.state === 'NEEDS_ATTENTION') return db.summary;
    throw err;
  }

  /**
   * A run continued as new: back at the wait the last run was in, with what it knew (carried-run.ts).
   * No earlier step runs again; past the point of no return the cutover is resumed, never undone.
   */
  async function resumeCarried(c: CarriedRun): Promise<CutoverResult> {
    db.restore(c.summary, c.decision);
    Object.assign(left, c.left);
    cutoverAttempts = c.attempts;
    void db.enter(c.summary.state);
    if (c.at === 'resuming-cutover') {
      phase = 'source-blocked';
      return await resumePastPointOfNoReturn(c);
    }
    // What the first run registered before the decision, in the same order, so a failure or cancel
    // still undoes all of it (the target is synced, nothing has taken over).
    undo.push('delete target', () => acts.deleteTarget(task));
    undo.push('release capacity', () => acts.releaseCapacity(task));
    undo.push('delete migration job', () => acts.deleteMigrationJob(task));
    undo.push('stop migration job', () => acts.stopMigrationJob(task));
    if (c.attempts > 0) undo.push('give the source its writes back', () => acts.rollbackCutover(task));
    if (c.watching) watcher = startWatching();
    return await approveThenCutOver(c);
  }

  /** Ends this run at a wait and starts the next from there, carrying what this one knows. */
  async function carryOn(
    c: Omit<CarriedRun, 'summary' | 'left' | 'decision' | 'watching' | 'attempts'>,
  ): Promise<never> {
    const watching = watcher !== undefined;
    stopWatching();
    await condition(allHandlersFinished);
    const summary = { ...db.summary };
    const carried: CarriedRun = { ...c, summary, left: { ...left }, watching, attempts: cutoverAttempts };
    if (db.current) carried.decision = db.current;
    return await continueAsNew<typeof DatabaseMigration>({ ...input, carried });
  }

  /** From the first step to a cutover that has returned: everything a first run does before the point of no return. */
  async function untilCutover(): Promise<CutoverResult> {
    void db.enter('ASSESSING');
    const assessment = await acts.assessSource(task);
    refuseBlockingFindings(assessment.findings);

    void db.enter('PROVISIONING_TARGET', { rows: assessment.estimatedRows });
    undo.push('delete target', () => acts.deleteTarget(task));
    await acts.provisionTarget(task);

    void db.enter('RESERVING_CAPACITY');
    undo.push('release capacity', () => acts.releaseCapacity(task));
    await acts.reserveCapacity(task);

    void db.enter('CREATING_JOB');
    undo.push('delete migration job', () => acts.deleteMigrationJob(task));
    undo.push('stop migration job', () => acts.stopMigrationJob(task));
    await acts.createMigrationJob(task);

    void db.enter('VERIFYING');
    const problems = await acts.verifyMigrationJob(task);
    if (problems.length)
      throw failure('JobVerificationFailed', `migration job verification failed: ${problems.join('; ')}`);

    void db.enter('FULL_DUMP');
    await acts.startMigrationJob(task);
    const copied = await acts.waitForFullDump(task);

    void db.enter('CDC', { rows: copied });
    const ready = await acts.waitForReplicationReady(task);

    void db.enter('VALIDATING', {
      lagSeconds: ready.lagSeconds,
      lagBytes: ready.lagBytes,
      rows: ready.rows,
      maxLagSeconds: Math.max(db.summary.maxLagSeconds ?? 0, ready.maxLagSeconds ?? 0),
    });
    const live = await acts.validateData(task, 'live');
    const held = notCarried(live);
    if (!live.ok && !held) throw failure('ValidationFailed', `validation failed: ${live.summary}`, live.tables);

    void db.enter('AWAITING_APPROVAL', { validation: live.summary, ...(held ? { nextAction: held } : {}) });
    if (input.approval.policy === 'manual') void notify('approval-needed', approvalFacts());
    // From here until the cutover, replication is watched: a break shows while a human decides
    // (the waits before measured it themselves, and the validation compared the data). Where
    // nobody decides and no window waits, the cutover follows at once: there is nothing to watch.
    if (input.approval.policy === 'manual' || input.cutoverWindow) watcher = startWatching();
    return await approveThenCutOver();
  }

  /** Runs the replication watcher in its own scope, so the runbook can stop it before the cutover. */
  function startWatching(): Watcher {
    const w: Watcher = { scope: new CancellationScope(), running: true };
    // It only ends by cancellation; a failure of its own is retried by its activity options.
    w.scope
      .run(() => acts.watchReplication(task))
      .catch(() => undefined)
      .finally(() => (w.running = false));
    return w;
  }

  /** Stops the watcher; one that has already ended gets no cancel request. */
  function stopWatching(): void {
    if (watcher?.running) watcher.scope.cancel();
    watcher = undefined;
  }

  /**
   * From AWAITING_APPROVAL to a cutover that has returned. The cutover starts only once a decision
   * holds: approved, inside the window, replication healthy. A revocation before the cutover starts
   * goes back to awaiting a decision; a cutover that blocked nothing (lag, prepared transactions)
   * leaves the database ready and is tried again, with a backoff, until it starts or is cancelled.
   */
  async function approveThenCutOver(from?: CarriedRun): Promise<CutoverResult> {
    if (input.approval.policy === 'auto' && !from) db.decide({ approved: true, by: 'policy:auto' });
    let delayMs = from?.delayMs ?? RETRY_FIRST_MS;
    for (let attempt = (from?.attempts ?? 0) + 1; ; attempt++) {
      const decision = await approvedAndReady(from);
      from = undefined; // what was carried applies to the first wait only
      if (attempt === 1) undo.push('give the source its writes back', () => acts.rollbackCutover(task));
      cutoverAttempts = attempt;
      stopWatching();
      void db.enter('CUTTING_OVER', { approvedBy: decision.by, nextAction: '', replication: undefined });
      phase = 'source-blocked';
      try {
        return await resumePastPointOfNoReturn();
      } catch (err) {
        // With a budget, a cutover that did not start never fails the run: the synced target is
        // kept, replication runs, and the finding stays in the status until it is fixed or cancelled.
        if (!failedAs(err, NOT_STARTED)) throw err;
        phase = 'before-cutover';
        const why = describeError(err);
        const revoked = db.revocations;
        watcher = startWatching();
        const next =
          `Holding: the target stays synced and replication runs; fix the cause, or cancel. Trying again in ` +
          `${formatDuration(delayMs)} (attempt ${attempt + 1})`;
        void db.enter('AWAITING_APPROVAL', {
          lastError: why,
          nextAction: `approved by ${decision.by}; the cutover did not start and nothing was blocked: ${why}. ${next}`,
        });
        await condition(() => db.revocations !== revoked, delayMs);
        delayMs = doubled(delayMs, RETRY_CAP_MS);
        if (budgetSpent()) await carryOn({ at: 'awaiting-approval', delayMs });
      }
    }
  }

  /**
   * The cutover, resumed for as long as it takes once it has passed its point of no return: the
   * source is closed then, so the only way out of the outage is forward (the platform resumes from
   * its job record; nothing reopens the source). Before that point a failure is the caller's.
   */
  async function resumePastPointOfNoReturn(from?: CarriedRun): Promise<CutoverResult> {
    // Backoff from 30 s to 30 min, and a new run before this one grows too long
    // (about 1,450 attempts in 30 days, in runs of at most RUN_EVENT_BUDGET events).
    let delayMs = from?.delayMs ?? RESUME_FIRST_MS;
    for (let resumed = from?.resumed ?? 0; ; resumed++) {
      try {
        return await acts.cutover(task);
      } catch (err) {
        if (!failedAs(err, ['CutoverIncomplete'])) throw err;
        const why = describeError(err);
        void db.publish({
          lastError: why,
          nextAction:
            'the cutover passed its point of no return (the source is closed, the target took over) and did ' +
            `not finish; resuming it in ${formatDuration(delayMs)} (resumed ${resumed + 1} time(s))`,
        });
        await sleep(delayMs);
        delayMs = doubled(delayMs, RESUME_CAP_MS);
        if (budgetSpent()) await carryOn({ at: 'resuming-cutover', delayMs, resumed: resumed + 1 });
      }
    }
  }

  /**
   * The decision. When none comes within the approval timeout, the plan's onTimeout decides: fail
   * (`approval.onTimeout: fail`), or escalate: the escalation route
   * is told, the status says since when it is overdue, and the database keeps waiting, telling
   * again each timeout. A synced target is never thrown away because a human was slow.
   */
  async function decisionOrEscalate(from?: CarriedRun): Promise<Decision> {
    const { timeoutMs, onTimeout } = input.approval;
    // Each wait after the first is twice the one before (at most a day, or the
    // timeout if longer): people are told about 40 times in 30 days, not once per timeout.
    const cap = Math.max(timeoutMs, ESCALATION_CAP_MS);
    let { waitedMs, nextWaitMs, told: overdue } = from?.escalation ?? { waitedMs: 0, nextWaitMs: timeoutMs, told: 0 };
    for (;;) {
      const decision = await db.awaitDecision(nextWaitMs);
      if (decision === 'retracted') {
        // An approval and its revocation in one activation: as if they came one after the other.
        void db.enter('AWAITING_APPROVAL', { nextAction: 'the approval was revoked: awaiting a new decision' });
        ({ waitedMs, nextWaitMs, overdue } = { waitedMs: 0, nextWaitMs: timeoutMs, overdue: 0 });
        continue;
      }
      if (decision) {
        if (db.summary.approvalOverdueSince) void db.publish({ approvalOverdueSince: undefined });
        return decision;
      }
      if (onTimeout === 'fail') throw approvalTimedOut(timeoutMs);
      waitedMs += nextWaitMs;
      overdue++;
      const since = db.summary.approvalOverdueSince ?? new Date().toISOString();
      const to = channelsFor(input.notifications, 'approval-overdue');
      const told = to.length ? `escalated to ${to.join(', ')}` : 'no escalation route in the plan';
      void db.publish({
        approvalOverdueSince: since,
        nextAction:
          `approval overdue: no decision in ${formatDuration(waitedMs)}; ${told}; ` +
          'the database keeps waiting (nothing is deleted): approve, reject or cancel',
      });
      void notify('approval-overdue', { ...approvalFacts(), overdueSince: since, waitedMs }, overdue);
      nextWaitMs = doubled(nextWaitMs, cap);
      if (budgetSpent())
        await carryOn({ at: 'awaiting-approval', escalation: { waitedMs, nextWaitMs, told: overdue } });
    }
  }

  /** What an approval message needs: the commands and where to look. */
  function approvalFacts(): NotifyFacts {
    return {
      state: db.summary.state,
      validation: db.summary.validation,
      lagSeconds: db.summary.lagSeconds,
      timeoutMs: input.approval.timeoutMs,
      onTimeout: input.approval.onTimeout,
    };
  }

  /**
   * Tells people about `event` on the plan's routes. Never fails the migration: the activity retries
   * each channel that did not take it, and a channel that still refuses shows in the status.
   */
  async function notify(event: NotifyEvent, facts: NotifyFacts, occurrence?: number): Promise<void> {
    if (!input.notifications || channelsFor(input.notifications, event).length === 0) return;
    try {
      await notifier.notify({
        event,
        migrationId: input.migrationId,
        database: input.database.name,
        childWorkflowId: workflowInfo().workflowId,
        notifications: input.notifications,
        facts,
        ...(occurrence ? { occurrence } : {}),
      });
      if (db.summary.notifications) void db.publish({ notifications: undefined });
    } catch (err) {
      void db.publish({ notifications: `${event} not delivered: ${describeError(err)}` });
    }
  }

  /** Waits for an approval that still holds once the window is open and replication is healthy. */
  async function approvedAndReady(from?: CarriedRun): Promise<Extract<Decision, { approved: true }>> {
    for (;;) {
      const decision = await decisionOrEscalate(from);
      from = undefined;
      if (!decision.approved) throw rejected(decision);
      const revoked = db.revocations;
      const stillApproved = () => db.revocations === revoked;
      if (input.cutoverWindow && msUntilWindow(new Date(), input.cutoverWindow) > 0) {
        const w = input.cutoverWindow;
        void db.enter('APPROVED_WAITING_WINDOW', {
          nextAction: `approved by ${decision.by}; the cutover waits for the window ${describeWindow(w)}`,
        });
        for (let ms = msUntilWindow(new Date(), w); ms > 0 && stillApproved(); ms = msUntilWindow(new Date(), w))
          await condition(() => !stillApproved(), ms);
      }
      if (stillApproved() && db.summary.replication) {
        void db.enter('AWAITING_APPROVAL', {
          nextAction:
            `approved by ${decision.by}; the cutover waits until replication is healthy again ` +
            `(${db.summary.replication}); fix the cause or cancel`,
        });
        // Health changes are signals: a replication that keeps breaking and healing writes events.
        await condition(() => !stillApproved() || !db.summary.replication || budgetSpent());
        if (stillApproved() && db.summary.replication) await carryOn({ at: 'awaiting-approval' });
      }
      if (stillApproved()) return decision;
      void db.enter('AWAITING_APPROVAL', { nextAction: 'the approval was revoked: awaiting a new decision' });
    }
  }

  /**
   * After a final comparison that found the target different from the source at the fence: the
   * source (closed, with every write up to the fence) stays reachable through the rollback, and
   * nobody was told to move. What the status says then.
   */
  function heldAfter(summary: string): { lastError: string; nextAction: string } {
    const { migrationId: id, database } = input;
    return {
      lastError: `the target differs from the source at the cutover's fence: ${summary}`,
      nextAction:
        'cutover-done was not sent: applications were not told to move and the source stays closed; ' +
        `\`dbmig rollback ${id} ${database.name}\` gives the source back as it was at the fence; to keep the ` +
        `target as it is instead, point applications at it yourself and \`dbmig finalize ${id} ${database.name}\``,
    };
  }

  /**
   * COMPLETED, with reverse replication from the target keeping a rollback possible until an
   * operator finalizes or rolls back, or `cutover.reverseReplicationFor` runs out (after-cutover.ts).
   * `held`: the final comparison found a difference; the status says it instead of the usual.
   */
  async function keepRollbackOpenAfter(
    validation: string,
    held?: { lastError: string; nextAction: string },
  ): Promise<DatabaseSummary> {
    return keepRollbackOpen(
      {
        migrationId: input.migrationId,
        database: input.database,
        settings: input.settings,
        task,
        db,
        acts,
        resume: rollbackResumeActivities(input.database.name),
        notify: (event, facts) => notify(event, facts),
        setStopped: (next) => (rollbackStopped = next),
      },
      validation,
      held,
    );
  }

  /** The end of a failed or cancelled run: only the undos its phase allows (see the file's header). */
  async function stopByPhase(at: Phase, err: unknown, lastError: string): Promise<void> {
    const finishedAt = new Date().toISOString();
    if (at === 'target-took-over') {
      // Past the point of no return: no undo at all, and the state says so.
      const kept = describeLeftovers(input, left);
      const nextAction =
        rollbackStopped ??
        (rollbackOpen ? `${afterPointOfNoReturn(input, kept)}; ${rollbackOpen}` : afterPointOfNoReturn(input, kept));
      await db.enter('NEEDS_ATTENTION', { lastError, finishedAt, kept, nextAction, rollbackUntil: undefined });
      await notify('failure', { state: 'NEEDS_ATTENTION', reason: lastError, nextAction });
      return;
    }
    await db.enter('COMPENSATING', { lastError, nextAction: '' });
    if (at === 'before-cutover') {
      await undo.runInReverse();
      await db.enter(endState(err), { lastError, finishedAt });
      if (endState(err) === 'FAILED') await notify('failure', { state: 'FAILED', reason: lastError });
      return;
    }
    // The cutover itself failed or was cancelled, and the source may be blocked: restore it, and
    // nothing else. The target may already have taken writes (the activity can fail after that),
    // so it is never deleted here; the job and capacity stay too, so a retry cuts over again
    // without a new copy. A FAILED database keeps a retry open; a give-up names what to delete.
    let restored = true;
    try {
      const undone = await acts.rollbackCutover(task);
      if (undone?.pastPointOfNoReturn) {
        // The cutover had passed its point of no return: nothing was (or may be) reopened.
        const kept = describeLeftovers(input, { ...left, target: false });
        const nextAction =
          'the cutover passed its point of no return (the source is closed, the target took over) but did not ' +
          `finish: ${lastError}. Nothing reopened the source. ${afterPointOfNoReturn(input, kept)}`;
        await db.enter('NEEDS_ATTENTION', { lastError, finishedAt, kept, nextAction });
        await notify('failure', { state: 'NEEDS_ATTENTION', reason: lastError, nextAction });
        return;
      }
    } catch (e) {
      restored = false;
      log.error('compensation failed', { step: 'give the source its writes back', error: describeError(e) });
    }
    const kept = describeLeftovers(input, left);
    const end = endState(err);
    const why = restored ? lastError : `${lastError}; restoring the source failed too: check it takes writes`;
    const next = afterFailedCutover(input, kept, end, restored);
    await db.enter(end, { lastError: why, finishedAt, kept, nextAction: next });
    if (end === 'FAILED') await notify('failure', { state: end, reason: why, nextAction: next });
  }
}

function refuseBlockingFindings(findings: Finding[]): void {
  const blocking = findings.filter((f) => f.severity === 'error');
  if (!blocking.length) return;
  const issues = blocking.map((f) => f.message).join('; ');
  throw failure('AssessmentFailed', `assessment found ${blocking.length} blocking issue(s): ${issues}`, findings);
}

/**
 * What to do about a live validation whose only fault is objects replication does not carry, or
 * undefined when it has none or also a mismatch (which fails the run as before). A new object
 * never throws away a synced target: the cutover's gate refuses it by name until it is carried or dropped.
 */
function notCarried(live: ValidationResult): string | undefined {
  const findings = live.findings ?? [];
  if (live.ok || !findings.length || live.tables.some((t) => t.verdict === 'mismatch')) return undefined;
  return (
    `held before the cutover: replication keeps running and nothing is deleted, but the cutover refuses ` +
    `(MigratedSetChanged) while the source has what replication does not carry: ` +
    `${findings.map((f) => f.message).join('; ')}`
  );
}

function rejected(decision: Extract<Decision, { approved: false }>): ApplicationFailure {
  const reason = decision.reason ? `: ${decision.reason}` : '';
  return failure('CutoverRejected', `cutover rejected by ${decision.by}${reason}`);
}

/** Whether an activity failed with one of `types` (an ActivityFailure wraps the platform's failure). */
function failedAs(err: unknown, types: string[]): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure && types.includes(cause.type ?? '');
}

function approvalTimedOut(timeoutMs: number) {
  const waited = formatDuration(timeoutMs);
  return failure(
    'ApprovalTimeout',
    `no cutover approval within ${waited}; escalate to the migration's owner and retry`,
  );
}
