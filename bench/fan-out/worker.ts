// The baseline's worker: its own bundle (these workflows only) and task queue, the same slots as
// the migration worker, and activities that do nothing.
import { bundleWorkflowCode, Worker, type NativeConnection, type WorkflowBundle } from '@temporalio/worker';
import { join } from 'node:path';
import { quietLogger } from '../../worker/bundle';

export const FAN_OUT_TASK_QUEUE = 'bench-fan-out';

export function bundleFanOut(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({ workflowsPath: join(__dirname, 'workflows.ts'), logger: quietLogger });
}

export function createFanOutWorker(
  connection: NativeConnection,
  workflowBundle: WorkflowBundle,
  maxCachedWorkflows: number,
): Promise<Worker> {
  return Worker.create({
    connection,
    taskQueue: FAN_OUT_TASK_QUEUE,
    workflowBundle,
    activities: { noop: async () => undefined },
    maxConcurrentActivityTaskExecutions: 50,
    maxCachedWorkflows,
  });
}
