// From AWAITING_APPROVAL to a cutover that has returned. The cutover starts only once a decision
// holds (approval-wait.ts); while it runs the source is blocked. A cutover that blocked nothing
// (lag, prepared transactions, a changed migrated set) leaves the database ready, synced and
// replicating, and is tried again with a backoff: it never fails the run. A cutover past its point
// of no return is resumed forward until it finishes: the source is closed then, and the only way
// out of the outage is forward. Both loops have an event budget (carried-run.ts).
import { ActivityFailure, ApplicationFailure, condition, sleep } from '@temporalio/workflow';
import type { CutoverResult } from '../activities/steps';
import { formatDuration } from '../common/durations';
import { approvedAndReady } from './approval-wait';
import { carryOn } from './carry-on';
import {
  RESUME_CAP_MS,
  RESUME_FIRST_MS,
  RETRY_CAP_MS,
  RETRY_FIRST_MS,
  budgetSpent,
  doubled,
  type CarriedRun,
} from './carried-run';
import type { DatabaseRun } from './database-run';
import { describeError } from './errors';

/**
 * Cutover failures that blocked nothing: the database stays ready and the cutover is tried again.
 * MigratedSetChanged: the source's tables, sequences or large objects differ from what is
 * published and copied (a deploy during CDC); the finding says what to do.
 */
const NOT_STARTED = ['CutoverNotReady', 'PreparedTransactions', 'MigratedSetChanged'];

/**
 * Waits for a decision that holds, then cuts over. A revocation before the cutover starts goes
 * back to awaiting a decision; a cutover that blocked nothing is tried again, with a backoff, until
 * it starts or the database is cancelled.
 */
export async function approveThenCutOver(run: DatabaseRun, from?: CarriedRun): Promise<CutoverResult> {
  const { db, acts, task, input } = run;
  if (input.approval.policy === 'auto' && !from) db.decide({ approved: true, by: 'policy:auto' });
  let delayMs = from?.delayMs ?? RETRY_FIRST_MS;
  for (let attempt = (from?.attempts ?? 0) + 1; ; attempt++) {
    const decision = await approvedAndReady(run, from);
    from = undefined; // what was carried applies to the first wait only
    if (attempt === 1) run.undo.push('give the source its writes back', () => acts.rollbackCutover(task));
    run.cutoverAttempts = attempt;
    run.watcher.stop();
    void db.enter('CUTTING_OVER', { approvedBy: decision.by, nextAction: '', replication: undefined });
    run.phase = 'source-blocked';
    try {
      return await resumePastPointOfNoReturn(run);
    } catch (err) {
      // A cutover that did not start never fails the run: the synced target is kept, replication
      // runs, and the finding stays in the status until it is fixed or cancelled.
      if (!failedAs(err, NOT_STARTED)) throw err;
      run.phase = 'before-cutover';
      const why = describeError(err);
      const revoked = db.revocations;
      run.watcher.start();
      const next =
        `Holding: the target stays synced and replication runs; fix the cause, or cancel. Trying again in ` +
        `${formatDuration(delayMs)} (attempt ${attempt + 1})`;
      void db.enter('AWAITING_APPROVAL', {
        lastError: why,
        nextAction: `approved by ${decision.by}; the cutover did not start and nothing was blocked: ${why}. ${next}`,
      });
      await condition(() => db.revocations !== revoked, delayMs);
      delayMs = doubled(delayMs, RETRY_CAP_MS);
      if (budgetSpent()) await carryOn(run, { at: 'awaiting-approval', delayMs });
    }
  }
}

/**
 * The cutover, resumed for as long as it takes once it has passed its point of no return (the
 * platform resumes from its job record; nothing reopens the source). Before that point a failure is
 * the caller's. Backoff from 30 s to 30 min, and a new run before this one grows too long (about
 * 1,450 attempts in 30 days, in runs of at most RUN_EVENT_BUDGET events).
 */
export async function resumePastPointOfNoReturn(run: DatabaseRun, from?: CarriedRun): Promise<CutoverResult> {
  const { db, acts, task } = run;
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
      if (budgetSpent()) await carryOn(run, { at: 'resuming-cutover', delayMs, resumed: resumed + 1 });
    }
  }
}

/** Whether an activity failed with one of `types` (an ActivityFailure wraps the platform's failure). */
function failedAs(err: unknown, types: string[]): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure && types.includes(cause.type ?? '');
}
