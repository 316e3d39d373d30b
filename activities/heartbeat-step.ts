// How every activity runs its platform call: alive while it works (a heartbeat on a timer, so a
// long single call such as pg_dump or an operation poll is not timed out), failing by type (so
// the retry policy knows whether retrying can help), and with request ids that a retry reuses.
import { Context } from '@temporalio/activity';
import { failure, MigrationError } from '../common/failures';

/**
 * Runs one platform call as an activity step: heartbeats on a timer while it runs, so long
 * single calls (pg_dump, operation polls) stay alive, and turns a MigrationError into the
 * ApplicationFailure of its type, so the retry policy knows whether retrying can help.
 */
export async function heartbeatingStep<T>(fn: () => Promise<T>, every = 5_000, details?: () => unknown): Promise<T> {
  const ctx = Context.current();
  // A heartbeat replaces the last details: a step that reports progress keeps sending it.
  const beat = () => ctx.heartbeat(details?.());
  beat();
  const timer = setInterval(beat, every);
  try {
    return await fn();
  } catch (err) {
    if (err instanceof MigrationError) {
      throw failure(err.type, err.message);
    }
    throw err;
  } finally {
    clearInterval(timer);
  }
}

/**
 * This activity's place in its workflow run: the same for every retry of the activity and new for
 * a new attempt at the step (another run, or the step scheduled again). Google request ids derive
 * from it, so a retry is deduplicated and a re-run within Google's dedupe window is not.
 */
export function requestScope(): string | undefined {
  try {
    const info = Context.current().info;
    return `${info.workflowExecution?.runId ?? 'standalone'}/${info.activityId}`;
  } catch {
    return undefined; // called outside an activity (tests driving a platform directly)
  }
}
