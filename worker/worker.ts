// Builds a Worker for the migration task queue. Many of these may run against one cluster:
// nothing here assumes it is the only one.
import { resolve } from 'node:path';
import { NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createActivities, type Platforms } from '../activities';
import { LocalPlatform } from '../activities/platforms/local';
import { GcpPlatform } from '../activities/platforms/gcp';
import { defaultStateDir } from '../activities/platforms/local/clusters';
import { DEFAULT_TASK_QUEUE } from '../common/naming';
import { workflowsPath } from './bundle';

export { bundleWorkflows, quietLogger, workflowsPath } from './bundle';

/** Both platforms: the plan picks one. gcp clients are created on first use, with ADC. */
export function defaultPlatforms(stateDir?: string): Platforms {
  return { local: new LocalPlatform(stateDir ? resolve(stateDir) : defaultStateDir()), gcp: new GcpPlatform() };
}

export interface MigrationWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  platforms?: Platforms;
  workflowBundle?: WorkflowBundle;
}

export async function createMigrationWorker(opts: MigrationWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue ?? DEFAULT_TASK_QUEUE,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: workflowsPath() }),
    activities: createActivities(opts.platforms ?? defaultPlatforms()),
    maxConcurrentActivityTaskExecutions: 50,
  });
}
