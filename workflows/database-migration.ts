// DatabaseMigration: one database's runbook (docs/architecture.md, The runbook of one database).
// Each step is one activity; every side effect registers its undo before it runs, and what a
// failure or cancel may undo depends on the phase the run is in: before the cutover, everything;
// while the cutover blocks the source, only the source; past the point of no return, nothing.
// This file is the runbook; what it holds is in database-run.ts, its messages in
// database-handlers.ts, the wait for a decision and the cutover's loops in approval-wait.ts and
// cutover-attempts.ts, continue-as-new in carry-on.ts and resume.ts, the end of a failed or
// cancelled run in stop-by-phase.ts, and the wait after the cutover in after-cutover.ts.
import { CancellationScope, ContinueAsNew, patched } from '@temporalio/workflow';
import type { ReadyStats } from '../activities';
import type { FullDumpResult } from '../activities/replication-waits';
import type { Finding, ValidationResult } from '../activities/steps';
import { failure } from '../common/failures';
import type { DatabaseSummary } from '../common/status';
import { keepRollbackOpen } from './after-cutover';
import { startCopyHelpers } from './copy-helpers';
import { approveThenCutOver } from './cutover-attempts';
import type { DatabaseMigrationInput } from './database-input';
import { DatabaseRun } from './database-run';
import { describeError } from './errors';
import { afterFinalDiffers } from './leftovers';
import { resumeCarried } from './resume';
import { stopByPhase } from './stop-by-phase';

export type { DatabaseMigrationInput } from './database-input';

export async function DatabaseMigration(input: DatabaseMigrationInput): Promise<DatabaseSummary> {
  const run = new DatabaseRun(input); // answers its messages from here on: none sent early is missed
  const { acts, task, db, undo } = run;
  try {
    if (!input.carried) {
      // ── Before the cutover ── A failure or cancel undoes every step registered below, newest
      // first (COMPENSATING, then FAILED or CANCELLED); nothing here has touched the source's writes.
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
      const copying = acts.waitForFullDump(task);
      const helpers = startCopyHelpers(task); // plan copy.helpers; none: no command at all
      const copied = await copying.finally(() => helpers.stop());

      void db.enter('CDC', copiedFacts(copied));
      const ready = await acts.waitForReplicationReady(task);

      void db.enter('VALIDATING', lagWhenReady(ready, db.summary));
      const live = await acts.validateData(task, 'live');
      const held = notCarried(live);
      if (!live.ok && !held) throw failure('ValidationFailed', `validation failed: ${live.summary}`, live.tables);

      void db.enter('AWAITING_APPROVAL', { validation: live.summary, ...(held ? { nextAction: held } : {}) });
      if (input.approval.policy === 'manual') void run.notify('approval-needed', run.notifications.approvalFacts());
      // Replication is watched while a human decides or a window waits; otherwise the cutover follows at once.
      if (input.approval.policy === 'manual' || input.cutoverWindow) run.watcher.start();
    }
    // ── The cutover ── Once a decision holds (approved, inside the window, replication healthy).
    // While it runs the source is blocked: a failure or cancel only gives the source its writes
    // back. One that blocked nothing is tried again; one past its own point of no return is resumed
    // forward (cutover-attempts.ts). A run continued as new starts here, at its wait (resume.ts).
    const cut = input.carried ? await resumeCarried(run, input.carried) : await approveThenCutOver(run);

    // ── The point of no return ── The target has taken the writes and the source is closed. From
    // here nothing automatic reopens the source or touches the target, the job or the capacity: a
    // failure or cancel leaves NEEDS_ATTENTION, naming what is left and what to do.
    run.tookOver(cut);
    void db.enter('VERIFYING_TARGET', { writeBlockMs: cut.writeBlockMs });
    // Applications are told to move only once the target equals the source at the cutover's fence.
    const final = await acts.validateData(task, 'final');
    // With reverse replication the source is still a way back: a difference keeps it.
    const differs = !final.ok && cut.reverseReplication ? afterFinalDiffers(input, final.summary) : undefined;
    const wrong = `target differs from the source after cutover: ${final.summary}`;
    if (!final.ok && !differs) throw failure('TargetVerificationFailed', wrong, final.tables);
    const told = differs
      ? run.notify('failure', { state: 'COMPLETED', reason: differs.lastError, nextAction: differs.nextAction })
      : run.notify('cutover-done', { writeBlockMs: cut.writeBlockMs, endpoint: cut.endpoint });

    await acts.deleteMigrationJob(task);
    run.left.job = false;
    await acts.releaseCapacity(task);
    run.left.capacity = false;
    await told;
    // With reverse replication, COMPLETED keeps a rollback possible until it is finalized (after-cutover.ts).
    if (cut.reverseReplication) return await keepRollbackOpen(run.afterCutover(), final.summary, differs);
    const finishedAt = new Date().toISOString();
    await db.enter('COMPLETED', { validation: final.summary, finishedAt, lagSeconds: 0, lagBytes: 0 });
    return db.summary;
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err; // the next run carries on from here: nothing ended
    const lastError = describeError(err);
    run.watcher.stop();
    await CancellationScope.nonCancellable(() => stopByPhase(run, err, lastError));
    // NEEDS_ATTENTION completes, with its summary: a failed run's id may be started again (the
    // parent's reuse policy allows it for a retry), and a target that took over is never touched again.
    if (db.summary.state === 'NEEDS_ATTENTION') return db.summary;
    throw err;
  }
}

/**
 * The copy's rows, and its measured rate for the parent's fleet median (common/expected-rates.ts):
 * reporting it is a new signal to the parent (patch anomaly-rates-21). Workers before it returned
 * the rows alone.
 */
function copiedFacts(copied: FullDumpResult | number): Partial<DatabaseSummary> {
  if (typeof copied === 'number') return { rows: copied };
  const rate = copied.copyBytesPerSecond;
  if (rate === null || !(rate > 0) || !patched('anomaly-rates-21')) return { rows: copied.rows };
  return { rows: copied.rows, copyBytesPerSecond: Math.round(rate) };
}

/** Replication's lag once it is ready, the highest seen so far, and the catch-up's apply rate. */
function lagWhenReady(ready: ReadyStats, summary: DatabaseSummary): Partial<DatabaseSummary> {
  const maxLagSeconds = Math.max(summary.maxLagSeconds ?? 0, ready.maxLagSeconds ?? 0);
  const lag = { lagSeconds: ready.lagSeconds, lagBytes: ready.lagBytes, rows: ready.rows, maxLagSeconds };
  // The catch-up's apply rate, for the parent's fleet median: a new signal to it (patch anomaly-rates-21).
  const rate = ready.applyBytesPerSecond;
  if (!rate || !(rate > 0) || !patched('anomaly-rates-21')) return lag;
  return { ...lag, applyBytesPerSecond: Math.round(rate) };
}

function refuseBlockingFindings(findings: Finding[]): void {
  const blocking = findings.filter((f) => f.severity === 'error');
  if (!blocking.length) return;
  const issues = blocking.map((f) => f.message).join('; ');
  throw failure('AssessmentFailed', `assessment found ${blocking.length} blocking issue(s): ${issues}`, findings);
}

/**
 * What to do about a live validation whose only fault is objects replication does not carry (a
 * table a deploy made during CDC), or undefined when it has none or also a mismatch (which fails
 * the run). A new object never throws away a synced target: the database holds before the cutover,
 * with replication running, and the cutover's gate refuses it by name until it is carried or dropped.
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
