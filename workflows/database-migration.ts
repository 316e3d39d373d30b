// DatabaseMigration: one database through the state machine of DESIGN.md. Each step is one
// activity; every side effect registers its undo before it runs, and any failure or cancel
// runs the undos in reverse order in a non-cancellable scope.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  setHandler,
  setCurrentDetails,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { DatabasePlan, EffectiveSettings, GcpSettings } from '../common/plan';
import { approvalProblem, type ApprovalInput, type DatabaseSummary, type RejectionInput } from '../common/status';
import { isTerminal, type MigrationState } from '../common/states';
import { MIGRATION_STATE } from '../common/search-attributes';
import { childWorkflowId } from '../common/naming';
import { failure } from '../common/failures';
import { formatDuration } from '../common/durations';
import { describeWindow, msUntilWindow, type CutoverWindow } from '../common/cutover-window';
import type { DatabaseTask } from '../activities';
import {
  approveCutoverSignal,
  approveCutoverUpdate,
  childProgressSignal,
  databaseStatusQuery,
  lagReportSignal,
  rejectCutoverSignal,
  rejectCutoverUpdate,
} from '../common/messages';
import { stepActivities } from './activity-options';
import { detailsMarkdown } from './details';

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

type Decision = { approved: true; by: string; comment?: string } | { approved: false; by: string; reason?: string };

export async function DatabaseMigration(input: DatabaseMigrationInput): Promise<DatabaseSummary> {
  const acts = stepActivities(input.database.name);
  const task: DatabaseTask = {
    migrationId: input.migrationId,
    platform: input.platform,
    database: input.database,
    settings: input.settings,
    ...(input.gcp ? { gcp: input.gcp } : {}),
  };
  const name = input.database.name;
  const summary: DatabaseSummary = {
    database: name,
    priority: input.database.priority,
    state: 'PENDING',
    childWorkflowId: childWorkflowId(input.migrationId, name),
    started: true,
    lagSeconds: null,
    lagBytes: null,
    maxLagSeconds: null,
    rows: null,
    startedAt: new Date().toISOString(),
  };
  let decision: Decision | undefined;
  const undo: { label: string; run: () => Promise<unknown> }[] = [];

  // Progress reaches the parent as signals, so the parent never polls its children.
  const publish = async (patch: Partial<DatabaseSummary>): Promise<void> => {
    Object.assign(summary, patch, { updatedAt: new Date().toISOString() });
    setCurrentDetails(detailsMarkdown(input.migrationId, summary));
    if (!input.parentWorkflowId) return;
    try {
      await getExternalWorkflowHandle(input.parentWorkflowId).signal(childProgressSignal, {
        ...patch,
        database: name,
        updatedAt: summary.updatedAt,
      });
    } catch (err) {
      log.warn('could not report to the parent', { error: describe(err) });
    }
  };
  const enter = (state: MigrationState, patch: Partial<DatabaseSummary> = {}): Promise<void> => {
    upsertSearchAttributes([{ key: MIGRATION_STATE, value: state }]);
    return publish({ ...patch, state });
  };

  // Approvals: the Update's validator refuses a wrong database, state or approver; the signal
  // applies the same rule and ignores what it would refuse (its sender cannot be told).
  const problem = (a: { database?: unknown; approver?: unknown }) =>
    approvalProblem(a, (db) => (db === name ? summary : undefined), [name]);
  const decide = (d: Decision) => {
    decision ??= d;
    return {
      database: name,
      accepted: true as const,
      decision: d.approved ? ('approved' as const) : ('rejected' as const),
      by: d.by,
    };
  };
  const approve = (a: ApprovalInput) => decide({ approved: true, by: a.approver, comment: a.comment });
  const reject = (r: RejectionInput) => decide({ approved: false, by: r.approver, reason: r.reason });
  const refuse = (a: { database?: unknown; approver?: unknown }) => {
    const p = problem(a);
    if (p) throw new Error(p);
  };
  setHandler(approveCutoverUpdate, approve, { validator: refuse });
  setHandler(rejectCutoverUpdate, reject, { validator: refuse });
  setHandler(approveCutoverSignal, (a) => {
    if (problem(a)) log.warn('approval ignored', { reason: problem(a) });
    else approve(a);
  });
  setHandler(rejectCutoverSignal, (r) => {
    if (problem(r)) log.warn('rejection ignored', { reason: problem(r) });
    else reject(r);
  });
  setHandler(databaseStatusQuery, () => summary);
  setHandler(lagReportSignal, (r) => {
    if (isTerminal(summary.state)) return;
    const maxLagSeconds =
      r.lagSeconds === null ? summary.maxLagSeconds : Math.max(summary.maxLagSeconds ?? 0, r.lagSeconds);
    void publish({ lagSeconds: r.lagSeconds, lagBytes: r.lagBytes, rows: r.rows, maxLagSeconds });
  });

  try {
    void enter('ASSESSING');
    const assessment = await acts.assessSource(task);
    const blocking = assessment.findings.filter((f) => f.severity === 'error');
    if (blocking.length) {
      throw failure(
        'AssessmentFailed',
        `assessment found ${blocking.length} blocking issue(s): ${blocking.map((f) => f.message).join('; ')}`,
        assessment.findings,
      );
    }

    void enter('PROVISIONING_TARGET', { rows: assessment.estimatedRows });
    undo.push({ label: 'delete target', run: () => acts.deleteTarget(task) });
    await acts.provisionTarget(task);

    void enter('RESERVING_CAPACITY');
    undo.push({ label: 'release capacity', run: () => acts.releaseCapacity(task) });
    await acts.reserveCapacity(task);

    void enter('CREATING_JOB');
    undo.push({ label: 'delete migration job', run: () => acts.deleteMigrationJob(task) });
    undo.push({ label: 'stop migration job', run: () => acts.stopMigrationJob(task) });
    await acts.createMigrationJob(task);

    void enter('VERIFYING');
    const problems = await acts.verifyMigrationJob(task);
    if (problems.length)
      throw failure('JobVerificationFailed', `migration job verification failed: ${problems.join('; ')}`);

    void enter('FULL_DUMP');
    await acts.startMigrationJob(task);
    const copied = await acts.waitForFullDump(task);

    void enter('CDC', { rows: copied });
    const ready = await acts.waitForReplicationReady(task);

    void enter('VALIDATING', {
      lagSeconds: ready.lagSeconds,
      lagBytes: ready.lagBytes,
      rows: ready.rows,
      maxLagSeconds: Math.max(summary.maxLagSeconds ?? 0, ready.maxLagSeconds ?? 0),
    });
    const live = await acts.validateData(task, 'live');
    if (!live.ok) throw failure('ValidationFailed', `validation failed: ${live.summary}`, live.tables);

    void enter('AWAITING_APPROVAL', { validation: live.summary });
    if (input.approval.policy === 'auto') decide({ approved: true, by: 'policy:auto' });
    if (!(await condition(() => decision !== undefined, input.approval.timeoutMs))) {
      throw failure(
        'ApprovalTimeout',
        `no cutover approval within ${formatDuration(input.approval.timeoutMs)}; escalate to the migration's owner and retry`,
      );
    }
    if (!decision!.approved) {
      throw failure(
        'CutoverRejected',
        `cutover rejected by ${decision!.by}${decision!.reason ? `: ${decision!.reason}` : ''}`,
      );
    }

    if (input.cutoverWindow) await waitForWindow(input.cutoverWindow, decision!.by, publish);

    void enter('CUTTING_OVER', { approvedBy: decision!.by, nextAction: '' });
    undo.push({ label: 'give the source its writes back', run: () => acts.rollbackCutover(task) });
    const cut = await acts.cutover(task);

    void enter('VERIFYING_TARGET', { writeBlockMs: cut.writeBlockMs });
    const final = await acts.validateData(task, 'final');
    if (!final.ok)
      throw failure(
        'TargetVerificationFailed',
        `target differs from the source after cutover: ${final.summary}`,
        final.tables,
      );

    await acts.deleteMigrationJob(task);
    await acts.releaseCapacity(task);
    await enter('COMPLETED', {
      validation: final.summary,
      finishedAt: new Date().toISOString(),
      lagSeconds: 0,
      lagBytes: 0,
    });
    return summary;
  } catch (err) {
    const cancelled = isCancellation(err) || (err instanceof ApplicationFailure && err.type === 'CutoverRejected');
    const message = describe(err);
    await CancellationScope.nonCancellable(async () => {
      for (const step of undo.reverse()) {
        try {
          await step.run();
        } catch (e) {
          log.error('compensation failed', { step: step.label, error: describe(e) });
        }
      }
    });
    await CancellationScope.nonCancellable(() =>
      enter(cancelled ? 'CANCELLED' : 'FAILED', { lastError: message, finishedAt: new Date().toISOString() }),
    );
    throw err;
  }
}

/** Approved outside the window: stay AWAITING_APPROVAL (approved) and sleep until it opens. */
async function waitForWindow(
  w: CutoverWindow,
  by: string,
  publish: (p: Partial<DatabaseSummary>) => Promise<void>,
): Promise<void> {
  for (let ms = msUntilWindow(new Date(), w); ms > 0; ms = msUntilWindow(new Date(), w)) {
    void publish({
      approvedBy: by,
      nextAction: `approved by ${by}; cutover waits for the window ${describeWindow(w)} (opens in ${formatDuration(ms)})`,
    });
    await sleep(ms);
  }
}

function describe(err: unknown): string {
  if (isCancellation(err)) return 'cancelled';
  const e = err as { message?: string; cause?: { message?: string } };
  return e.cause?.message ?? e.message ?? String(err);
}
