// The running activity's cancellation, for helpers that hold a database session or a child process:
// a step cancelled while it waits (on a lock, say) must stop there, not finish behind the back of
// the compensation that undoes it. Cancellation reaches an activity only with a heartbeat's reply.
import { AsyncLocalStorage } from 'node:async_hooks';
import { Context } from '@temporalio/activity';

const shielded = new AsyncLocalStorage<boolean>();

/** The current activity's signal; undefined outside an activity (tests, the CLI) or under runToCompletion. */
export function activityCancellation(): AbortSignal | undefined {
  if (shielded.getStore()) return undefined;
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/**
 * Runs `fn` deaf to the activity's cancellation: for a step whose own protocol must end an attempt
 * the way it chooses (it still ends when the activity's timeouts say so).
 */
export function runToCompletion<T>(fn: () => Promise<T>): Promise<T> {
  return shielded.run(true, fn);
}

/** Throws the cancellation (a CancelledFailure inside an activity) once `signal` has aborted. */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason;
}

/** What the server says when it has given an attempt up: a timeout (a retry follows), or its run closed. */
const SUPERSEDED = new Set(['TIMED_OUT', 'NOT_FOUND']);

/**
 * Calls `fn` once Temporal has given the current attempt up (heartbeat or start-to-close timeout,
 * the run closed), heard with a heartbeat's reply, even under runToCompletion: unlike an operator's
 * cancel, which a protocol may finish, this means another attempt may already be at work. Returns
 * how to stop listening; outside an activity it never calls `fn`.
 */
export function onSuperseded(fn: (reason: string) => void): () => void {
  let signal: AbortSignal;
  try {
    signal = Context.current().cancellationSignal;
  } catch {
    return () => undefined;
  }
  const check = () => {
    const reason = (signal.reason as Error | undefined)?.message ?? '';
    if (SUPERSEDED.has(reason)) fn(reason);
  };
  if (signal.aborted) {
    check();
    return () => undefined;
  }
  signal.addEventListener('abort', check, { once: true });
  return () => signal.removeEventListener('abort', check);
}
