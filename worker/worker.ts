// Builds a Worker for the migration task queue. Many of these may run against one cluster:
// nothing here assumes it is the only one.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createActivities, type Platforms } from '../activities';
import { LocalPlatform } from '../activities/platforms/local';
import { GcpPlatform } from '../activities/platforms/gcp';
import { defaultStateDir } from '../activities/platforms/local/clusters';
import { DEFAULT_TASK_QUEUE } from '../common/naming';

export function workflowsPath(): string {
  const ts = join(__dirname, '..', 'workflows', 'index.ts');
  return existsSync(ts) ? ts : join(__dirname, '..', 'workflows', 'index.js');
}

const quiet = () => undefined;
/** The bundler reports every module at info level; only its warnings and errors matter here. */
export const quietLogger = {
  log: quiet,
  trace: quiet,
  debug: quiet,
  info: quiet,
  warn: console.warn,
  error: console.error,
};

/** Bundling takes seconds; tests and the demo bundle once and share it between workers. */
export function bundleWorkflows(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: quietLogger });
}

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
