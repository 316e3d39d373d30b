// The end of a failed or cancelled run: only the undos its phase allows (database-run.ts, Phase).
// Before the cutover, every undo registered so far, newest first: COMPENSATING, then FAILED or
// CANCELLED. While the cutover blocked the source, only the source is given its writes back; the
// job, the capacity and the target stay for a retry. Past the point of no return, nothing:
// NEEDS_ATTENTION, naming what is left and what to do.
import { log } from '@temporalio/workflow';
import type { DatabaseRun } from './database-run';
import { describeError, endState } from './errors';
import { afterFailedCutover, afterPointOfNoReturn, describeLeftovers } from './leftovers';

export async function stopByPhase(run: DatabaseRun, err: unknown, lastError: string): Promise<void> {
  const { db, acts, task, input, left } = run;
  const finishedAt = new Date().toISOString();
  if (run.phase === 'target-took-over') {
    // Past the point of no return: no undo at all, and the state says so.
    const kept = describeLeftovers(input, left);
    const nextAction =
      run.rollbackStopped ??
      (run.rollbackOpen
        ? `${afterPointOfNoReturn(input, kept)}; ${run.rollbackOpen}`
        : afterPointOfNoReturn(input, kept));
    await db.enter('NEEDS_ATTENTION', { lastError, finishedAt, kept, nextAction, rollbackUntil: undefined });
    await run.notify('failure', { state: 'NEEDS_ATTENTION', reason: lastError, nextAction });
    return;
  }
  await db.enter('COMPENSATING', { lastError, nextAction: '' });
  if (run.phase === 'before-cutover') {
    await run.undo.runInReverse();
    await db.enter(endState(err), { lastError, finishedAt });
    if (endState(err) === 'FAILED') await run.notify('failure', { state: 'FAILED', reason: lastError });
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
      await run.notify('failure', { state: 'NEEDS_ATTENTION', reason: lastError, nextAction });
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
  if (end === 'FAILED') await run.notify('failure', { state: end, reason: why, nextAction: next });
}
