// How a failure reads in a database's summary, and which end it gives the database.
import { ApplicationFailure, isCancellation } from '@temporalio/workflow';

/** The operator-facing message of `err`: an activity failure's own message, not its wrapper's. */
export function describeError(err: unknown): string {
  if (isCancellation(err)) return 'cancelled';
  const e = err as { message?: string; cause?: { message?: string } };
  return e.cause?.message ?? e.message ?? String(err);
}

/** An operator's cancel or rejection ends a database CANCELLED; anything else ends it FAILED. */
export function endState(err: unknown): 'CANCELLED' | 'FAILED' {
  const cancelled = isCancellation(err) || (err instanceof ApplicationFailure && err.type === 'CutoverRejected');
  return cancelled ? 'CANCELLED' : 'FAILED';
}
