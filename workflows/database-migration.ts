// DatabaseMigration: one database through its state machine (README, How it works). Each step is one
// activity; every side effect registers its undo before it runs. What a failure or cancel may undo
// depends on the phase (DESIGN.md, The runbook of one database): before the source is blocked,
// everything (COMPENSATING, then FAILED or CANCELLED); while the cutover blocks it, only the source
// is restored; once the cutover has returned (the point of no return), nothing: NEEDS_ATTENTION.
// Messages are handled by DatabaseHandlers; this file is the runbook.
import { CancellationScope, log, patched, setHandler, sleep } from '@temporalio/workflow';
import type { DatabasePlan, EffectiveSettings, GcpSettings } from '../common/plan';
import type { DatabaseSummary } from '../common/status';
import { failure } from '../common/failures';
import { formatDuration } from '../common/durations';
import { describeWindow, msUntilWindow, type CutoverWindow } from '../common/cutover-window';
import type { DatabaseTask } from '../activities';
import type { Finding } from '../activities/platforms/platform';
import {
  approveCutoverSignal,
  approveCutoverUpdate,
  databaseStatusQuery,
  lagReportSignal,
  rejectCutoverSignal,
  rejectCutoverUpdate,
} from '../common/messages';
import { stepActivities } from './activity-options';
import { Compensations } from './compensations';
import { DatabaseHandlers } from './database-handlers';
import { describeError, endState } from './errors';
import { afterFailedCutover, afterPointOfNoReturn, describeLeftovers, type Leftovers } from './leftovers';

/** How far the run got, which decides what a failure or cancel may undo. */
type Phase = 'before-cutover' | 'source-blocked' | 'target-took-over';

export interface DatabaseMigrationInput {
  migrationId: string;
  platform: 'local' | 'gcp';
  /** The parent's workflow id, to report progress to; absent when run on its own. */
  parentWorkflowId?: string;
  database: DatabasePlan;
  settings: EffectiveSettings;
  approval: { policy: 'manual' | 'auto'; timeoutMs: number };
  gcp?: GcpSettings;
  cutoverWindow?: CutoverWindow;
}

export async function DatabaseMigration(input: DatabaseMigrationInput): Promise<DatabaseSummary> {
  const acts = stepActivities(input.database.name);
  const task: DatabaseTask = {
    migrationId: input.migrationId,
    platform: input.platform,
    database: input.database,
    settings: input.settings,
    ...(input.gcp ? { gcp: input.gcp } : {}),
  };
  const db = new DatabaseHandlers(input.migrationId, input.database, input.parentWorkflowId);
  const undo = new Compensations();
  let phase: Phase = 'before-cutover';
  /** What exists and must be named if the run stops past the point where undos are allowed. */
  const left: Leftovers = { job: true, capacity: true, target: true };

  // Messages: registered before the first step, so none sent early is missed.
  setHandler(approveCutoverUpdate, (a) => db.approve(a), { validator: (a) => db.refuse(a) });
  setHandler(rejectCutoverUpdate, (r) => db.reject(r), { validator: (r) => db.refuse(r) });
  setHandler(approveCutoverSignal, (a) => db.approveBySignal(a));
  setHandler(rejectCutoverSignal, (r) => db.rejectBySignal(r));
  setHandler(databaseStatusQuery, () => db.summary);
  setHandler(lagReportSignal, (r) => db.reportLag(r));

  try {
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
    if (!live.ok) throw failure('ValidationFailed', `validation failed: ${live.summary}`, live.tables);

    void db.enter('AWAITING_APPROVAL', { validation: live.summary });
    if (input.approval.policy === 'auto') db.decide({ approved: true, by: 'policy:auto' });
    const decision = await db.awaitDecision(input.approval.timeoutMs);
    if (!decision) throw approvalTimedOut(input.approval.timeoutMs);
    if (!decision.approved) {
      const reason = decision.reason ? `: ${decision.reason}` : '';
      throw failure('CutoverRejected', `cutover rejected by ${decision.by}${reason}`);
    }
    if (input.cutoverWindow) await waitForWindow(input.cutoverWindow, decision.by, db);

    void db.enter('CUTTING_OVER', { approvedBy: decision.by, nextAction: '' });
    undo.push('give the source its writes back', () => acts.rollbackCutover(task));
    phase = 'source-blocked';
    const cut = await acts.cutover(task);
    // ── This is the point of no return. ── The cutover has returned: the target has taken the
    // writes and the source is closed. From here on nothing automatic reopens the source or touches
    // the target, the job or the capacity: a failure or cancel leaves NEEDS_ATTENTION, with what to do.
    phase = 'target-took-over';
    left.target = false; // now the database itself, not something this run could clean up

    void db.enter('VERIFYING_TARGET', { writeBlockMs: cut.writeBlockMs });
    const final = await acts.validateData(task, 'final');
    if (!final.ok) {
      const message = `target differs from the source after cutover: ${final.summary}`;
      throw failure('TargetVerificationFailed', message, final.tables);
    }

    await acts.deleteMigrationJob(task);
    left.job = false;
    await acts.releaseCapacity(task);
    left.capacity = false;
    await db.enter('COMPLETED', {
      validation: final.summary,
      finishedAt: new Date().toISOString(),
      lagSeconds: 0,
      lagBytes: 0,
    });
    return db.summary;
  } catch (err) {
    const lastError = describeError(err);
    // Runs from before the phases ran every undo whatever the phase; replaying them must do so too.
    if (!patched('compensate-by-phase-point-of-no-return')) {
      await undo.runInReverse();
      await CancellationScope.nonCancellable(() =>
        db.enter(endState(err), { lastError, finishedAt: new Date().toISOString() }),
      );
      throw err;
    }
    await CancellationScope.nonCancellable(() => stopByPhase(phase, err, lastError));
    throw err;
  }

  /** The end of a failed or cancelled run: only the undos its phase allows (see the file's header). */
  async function stopByPhase(at: Phase, err: unknown, lastError: string): Promise<void> {
    const finishedAt = new Date().toISOString();
    if (at === 'target-took-over') {
      // Past the point of no return: no undo at all, and the state says so.
      const kept = describeLeftovers(input, left);
      await db.enter('NEEDS_ATTENTION', { lastError, finishedAt, kept, nextAction: afterPointOfNoReturn(input, kept) });
      return;
    }
    await db.enter('COMPENSATING', { lastError, nextAction: '' });
    if (at === 'before-cutover') {
      await undo.runInReverse();
      await db.enter(endState(err), { lastError, finishedAt });
      return;
    }
    // The cutover itself failed or was cancelled, and the source may be blocked: restore it, and
    // nothing else. The target may already have taken writes (the activity can fail after that),
    // so it is never deleted here; the job and capacity stay too, so a retry cuts over again
    // without a new copy. A FAILED database keeps a retry open; a give-up names what to delete.
    let restored = true;
    try {
      await acts.rollbackCutover(task);
    } catch (e) {
      restored = false;
      log.error('compensation failed', { step: 'give the source its writes back', error: describeError(e) });
    }
    const kept = describeLeftovers(input, left);
    const end = endState(err);
    const why = restored ? lastError : `${lastError}; restoring the source failed too: check it takes writes`;
    await db.enter(end, {
      lastError: why,
      finishedAt,
      kept,
      nextAction: afterFailedCutover(input, kept, end, restored),
    });
  }
}

function refuseBlockingFindings(findings: Finding[]): void {
  const blocking = findings.filter((f) => f.severity === 'error');
  if (!blocking.length) return;
  const issues = blocking.map((f) => f.message).join('; ');
  throw failure('AssessmentFailed', `assessment found ${blocking.length} blocking issue(s): ${issues}`, findings);
}

function approvalTimedOut(timeoutMs: number) {
  const waited = formatDuration(timeoutMs);
  return failure(
    'ApprovalTimeout',
    `no cutover approval within ${waited}; escalate to the migration's owner and retry`,
  );
}

/** Approved outside the window: stay AWAITING_APPROVAL (approved) and sleep until it opens. */
async function waitForWindow(w: CutoverWindow, by: string, db: DatabaseHandlers): Promise<void> {
  for (let ms = msUntilWindow(new Date(), w); ms > 0; ms = msUntilWindow(new Date(), w)) {
    const opensIn = formatDuration(ms);
    void db.publish({
      approvedBy: by,
      nextAction: `approved by ${by}; cutover waits for the window ${describeWindow(w)} (opens in ${opensIn})`,
    });
    await sleep(ms);
  }
}
