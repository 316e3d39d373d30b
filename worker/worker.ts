// Builds a Worker for the migration task queue and its data plane (common/task-queues.ts). Many of
// these may run against one cluster: nothing here assumes it is the only one.
import { resolve } from 'node:path';
import { NativeConnection, Worker, type WorkerOptions, type WorkflowBundle } from '@temporalio/worker';
import { createActivities, type Platforms } from '../activities';
import { LocalPlatform } from '../activities/platforms/local';
import { GcpPlatform } from '../activities/platforms/gcp';
import { SimPlatform } from '../activities/platforms/sim';
import { defaultStateDir } from '../activities/platforms/local/clusters';
import { DEFAULT_TASK_QUEUE } from '../common/naming';
import { DATA_PLANE_ACTIVITIES, dataPlaneQueue, type WorkerPlane } from '../common/task-queues';
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
  /**
   * What it serves: 'both' (the default: the workflows and every step on the task queue, and the
   * data-heavy steps on its data plane, so one worker runs a whole migration), 'control' (the task
   * queue only) or 'data' (only the data plane's steps, no workflows: add these on other machines).
   */
  plane?: WorkerPlane;
}

const inFlight = new WeakMap<Worker, InFlightActivities>();

/** The activities `worker` runs now: what its shutdown still waits for. */
export function inFlightOf(worker: Worker): InFlightActivities | undefined {
  return inFlight.get(worker);
}

/**
 * The worker for `opts.plane`. For 'both' it is the task queue's worker, with the data plane's
 * worker attached: its run() runs both and its shutdown() stops both, so every caller (the CLI,
 * the demo, the tests) handles one Worker, as before the data plane had a queue of its own.
 */
export async function createMigrationWorker(opts: MigrationWorkerOptions): Promise<Worker> {
  const plane = opts.plane ?? 'both';
  const taskQueue = opts.taskQueue ?? DEFAULT_TASK_QUEUE;
  const running = new InFlightActivities();
  const activities = createActivities(opts.platforms ?? defaultPlatforms());
  const common = {
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    maxConcurrentActivityTaskExecutions: 50,
    // Off unless DBMIG_FAULT_HOLD_AFTER is set: the reliability bench kills workers at chosen points.
    interceptors: { activity: [running.interceptor, ...(faultInjectionInterceptors() ?? [])] },
    ...(opts.deployment
      ? {
          workerDeploymentOptions: {
            version: opts.deployment,
            useWorkerVersioning: true as const,
            defaultVersioningBehavior: 'PINNED' as const,
          },
        }
      : {}),
  };
  if (plane === 'data') {
    const dataWorker = await Worker.create({
      ...common,
      taskQueue: dataPlaneQueue(taskQueue),
      activities: dataPlaneActivities(activities),
    });
    inFlight.set(dataWorker, running);
    return dataWorker;
  }
  // The task queue keeps every step, the data plane's too: runs started before the data plane had
  // its queue (docs/development.md, Versioning the runbook) schedule them here.
  const options: WorkerOptions = {
    ...common,
    taskQueue,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: workflowsPath() }),
    activities,
    ...(opts.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: opts.maxCachedWorkflows } : {}),
  };
  const worker = plane === 'control' ? await Worker.create(options) : await withDataPlane(options);
  inFlight.set(worker, running);
  return worker;
}

function dataPlaneActivities(activities: object): object {
  const all = activities as Record<string, unknown>;
  return Object.fromEntries(DATA_PLANE_ACTIVITIES.filter((n) => n in all).map((n) => [n, all[n]]));
}

/**
 * A worker for `options` (the task queue: workflows and every step) that also serves the data
 * plane's steps, from the same activities, on `<task queue>-data`: run() runs both, shutdown()
 * stops both. Tests that bring their own activities (mocks) build their workers with it.
 */
export async function withDataPlane(options: WorkerOptions): Promise<Worker> {
  const { workflowBundle: _b, workflowsPath: _p, maxCachedWorkflows: _c, ...rest } = options;
  const [main, data] = await Promise.all([
    Worker.create(options),
    Worker.create({
      ...rest,
      taskQueue: dataPlaneQueue(options.taskQueue),
      activities: dataPlaneActivities(options.activities ?? {}),
    }),
  ]);
  attach(main, data);
  return main;
}

/** `main` runs and stops `other` with itself: a failure of either stops both, and run() says why. */
function attach(main: Worker, other: Worker): void {
  const runMain = main.run.bind(main);
  const shutdownMain = main.shutdown.bind(main);
  const stopOther = () => {
    if (other.getState() === 'RUNNING') other.shutdown();
  };
  const stopMain = () => {
    if (main.getState() === 'RUNNING') shutdownMain();
  };
  main.shutdown = () => {
    stopOther();
    shutdownMain();
  };
  main.run = async () => {
    // Each one's end stops the other; both have stopped (and drained) before run() returns.
    const ended = await Promise.allSettled([runMain().finally(stopOther), other.run().finally(stopMain)]);
    for (const r of ended) if (r.status === 'rejected') throw r.reason;
  };
}
