// The snapshot copy's helpers (plan copy.helpers): beside the copy step, the runbook schedules that
// many helpCopyRanges activities on the data plane, where any other data-plane worker may take one
// and copy ranges of the same database (activities/engines/postgres/copy-helper.ts); the copy step
// keeps the state and ends only once every range is in. A fixed number of activities, each a few
// events whatever the size of the tables (rule 4); a helper's failure never fails the database
// (the copy step copies whatever no helper did), and once the copy step returns they are cancelled.
import { CancellationScope, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DatabaseTask } from '../activities/steps';
import { NON_RETRYABLE_TYPES } from '../common/failures';
import { copySettings } from '../common/plan-settings';
import { dataPlaneQueue } from '../common/task-queues';
import { DATA_PLANE_PATCH } from './activity-options';

/** Runs started with it schedule the helpers; the runs before it (and plans without helpers) do not. */
export const COPY_HELPERS_PATCH = 'copy-helpers';

/** Starts `task`'s helpers, if its plan asks for any; `stop` cancels those still running. */
export function startCopyHelpers(task: DatabaseTask): { stop(): void } {
  const { method, helpers } = copySettings(task.settings);
  // Only the local platform's snapshot copy has ranges to share; the patch is asked only then, so
  // a run without helpers issues exactly the commands it did before.
  if (helpers <= 0 || method !== 'snapshot' || task.platform !== 'local' || !patched(COPY_HELPERS_PATCH))
    return { stop: () => undefined };
  const { helpCopyRanges } = proxyActivities<Activities>({
    startToCloseTimeout: '7d',
    heartbeatTimeout: '30s',
    // A helper refused where its database is copied already comes back soon, perhaps on another worker.
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '10s',
      nonRetryableErrorTypes: NON_RETRYABLE_TYPES,
    },
    ...(patched(DATA_PLANE_PATCH) ? { taskQueue: dataPlaneQueue(workflowInfo().taskQueue) } : {}),
    summary: `${task.database.name}: help copy ranges (another data-plane worker)`,
  });
  const scope = new CancellationScope();
  for (let i = 0; i < helpers; i++) void scope.run(() => helpCopyRanges(task)).catch(() => undefined);
  return { stop: () => scope.cancel() };
}
