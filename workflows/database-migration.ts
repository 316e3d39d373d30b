// DatabaseMigration: one database through its state machine (README, How it works). Each step is one
// activity; every side effect registers its undo before it runs, and any failure or cancel
// runs the undos in reverse order in a non-cancellable scope. Messages are handled by
// DatabaseHandlers; this file is the runbook.
import { CancellationScope, setHandler, sleep } from '@temporalio/workflow';
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
    const cut = await acts.cutover(task);

    void db.enter('VERIFYING_TARGET', { writeBlockMs: cut.writeBlockMs });
    const final = await acts.validateData(task, 'final');
    if (!final.ok) {
      const message = `target differs from the source after cutover: ${final.summary}`;
      throw failure('TargetVerificationFailed', message, final.tables);
    }

    await acts.deleteMigrationJob(task);
    await acts.releaseCapacity(task);
    await db.enter('COMPLETED', {
      validation: final.summary,
      finishedAt: new Date().toISOString(),
      lagSeconds: 0,
      lagBytes: 0,
    });
    return db.summary;
  } catch (err) {
    const lastError = describeError(err);
    await undo.runInReverse();
    await CancellationScope.nonCancellable(() =>
      db.enter(endState(err), { lastError, finishedAt: new Date().toISOString() }),
    );
    throw err;
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
