// The helpCopyRanges activity: this worker's share of one database's snapshot copy, scheduled by
// the runbook beside the copy (plan copy.helpers, workflows/copy-helpers.ts) on the data plane, so
// any `dbmig worker --data-plane` may take it. What it copied travels in its heartbeat details
// only; the copy activity's progress reads every range's mark from the target.
import { Context } from '@temporalio/activity';
import { heartbeatingStep } from './heartbeat-step';
import type { MigrationPlatform } from './platforms/platform';
import type { DatabaseTask } from './steps';

/** How often the helper heartbeats while it copies a range (a range ends with a heartbeat too). */
const BEAT_MS = 5_000;

/**
 * A helper refused where its database is copied already (CopiedHere) is no MigrationError: it is
 * retried, and Temporal may hand the attempt to another worker.
 */
export async function helpCopyRanges(platform: MigrationPlatform, task: DatabaseTask): Promise<number> {
  if (!platform.helpCopyInitialData) return 0;
  const ctx = Context.current();
  let ranges = 0;
  const details = () => ({ helpedRanges: ranges });
  return heartbeatingStep(
    () =>
      platform.helpCopyInitialData!(
        task,
        (n) => {
          ranges = n;
          ctx.heartbeat(details());
        },
        ctx.cancellationSignal,
      ),
    BEAT_MS,
    details,
  );
}
