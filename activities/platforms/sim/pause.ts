// A simulated step's duration. Inside an activity it is the activity's own sleep, which ends early
// with a CancelledFailure when the activity is cancelled, so a cancelled step changes nothing;
// outside one (unit tests, benchmarks calling the platform directly) a plain timer.
import { Context } from '@temporalio/activity';

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export async function pause(ms: number): Promise<void> {
  const ctx = activityContext();
  // Checked even for a step that takes no time: a cancelled activity does not go on.
  if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
  if (ms <= 0) return;
  if (ctx) return ctx.sleep(ms);
  await new Promise((resolve) => setTimeout(resolve, ms));
}
