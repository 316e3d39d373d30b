// A dev server with a worker serving the sim platform, for tests that drive real workflows
// without moving data (the CLI against a server, the sim platform's own fleet test).
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import type { SimPlatform } from '../../activities/platforms/sim';
import { startDevServer } from '../../worker/dev-server';
import { createMigrationWorker } from '../../worker/worker';
import { cachedWorkflowBundle } from './bundle-cache';

export interface SimWorker {
  env: TestWorkflowEnvironment;
  worker: Worker;
  running: Promise<void>;
  stop(): Promise<void>;
}

export async function startSimWorker(taskQueue: string, platform: SimPlatform): Promise<SimWorker> {
  // The tests inject failures on purpose; the SDK would log each at length.
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
  });
  const [env, workflowBundle] = await Promise.all([startDevServer(), cachedWorkflowBundle()]);
  const worker = await createMigrationWorker({
    connection: env.nativeConnection,
    taskQueue,
    platforms: { sim: platform },
    workflowBundle,
  });
  const running = worker.run();
  return {
    env,
    worker,
    running,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await env.teardown();
    },
  };
}
