// Builds a Worker for the migration task queue. Many of these may run against one cluster:
// nothing here assumes it is the only one.
import { resolve } from 'node:path';
import { NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createActivities, type Platforms } from '../activities';
import { LocalPlatform } from '../activities/platforms/local';
import { GcpPlatform } from '../activities/platforms/gcp';
import { SimPlatform } from '../activities/platforms/sim';
import { defaultStateDir } from '../activities/platforms/local/clusters';
import { DEFAULT_TASK_QUEUE } from '../common/naming';
import type { WorkerDeployment } from './config';
import { workflowsPath } from './bundle';
import { faultInjectionInterceptors } from './fault-injection';
import { InFlightActivities } from './in-flight';

export { bundleWorkflows, quietLogger, workflowsPath } from './bundle';

/** Every platform: the plan picks one. gcp clients are created on first use, with ADC; sim is in memory. */
export function defaultPlatforms(stateDir?: string): Platforms {
  return {
    local: new LocalPlatform(stateDir ? resolve(stateDir) : defaultStateDir()),
    gcp: new GcpPlatform(),
    sim: new SimPlatform(),
  };
}

export interface MigrationWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  platforms?: Platforms;
  workflowBundle?: WorkflowBundle;
  /**
   * Workflows kept in memory between tasks (the SDK's default follows the heap size). A fleet keeps
   * one parent and `concurrency` children busy; a bound keeps a worker that runs many fleets, or a
   * benchmark, from holding finished ones longer than it needs (see bench/fleet-scale.ts).
   */
  maxCachedWorkflows?: number;
  /**
   * The Worker Deployment Version it serves (worker versioning); every workflow is PINNED: a run,
   * its continue-as-new runs and its children stay on the version that started them.
   */
  deployment?: WorkerDeployment;
}

const inFlight = new WeakMap<Worker, InFlightActivities>();

/** The activities `worker` runs now: what its shutdown still waits for. */
export function inFlightOf(worker: Worker): InFlightActivities | undefined {
  return inFlight.get(worker);
}

export async function createMigrationWorker(opts: MigrationWorkerOptions): Promise<Worker> {
  const running = new InFlightActivities();
  const worker = await Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue ?? DEFAULT_TASK_QUEUE,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: workflowsPath() }),
    activities: createActivities(opts.platforms ?? defaultPlatforms()),
    maxConcurrentActivityTaskExecutions: 50,
    // Off unless DBMIG_FAULT_HOLD_AFTER is set: the reliability bench kills workers at chosen points.
    interceptors: { activity: [running.interceptor, ...(faultInjectionInterceptors() ?? [])] },
    ...(opts.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: opts.maxCachedWorkflows } : {}),
    ...(opts.deployment
      ? {
          workerDeploymentOptions: {
            version: opts.deployment,
            useWorkerVersioning: true,
            defaultVersioningBehavior: 'PINNED',
          },
        }
      : {}),
  });
  inFlight.set(worker, running);
  return worker;
}
