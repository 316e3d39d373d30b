// `dbmig worker`: installs the metrics runtime, connects, and serves the migration task queue
// until SIGINT/SIGTERM (the SDK drains in-flight tasks on those signals).
import { NativeConnection, Runtime } from '@temporalio/worker';
import { configFromEnv, type WorkerConfig } from './config';
import { createMigrationWorker, defaultPlatforms } from './worker';

export interface RunWorkerOptions {
  /**
   * Runs on the worker's connection before anything polls; throws to refuse to start, with a
   * message that says why and what fixes it. The CLI checks the namespace's search attributes here.
   */
  beforeRun?: (connection: NativeConnection, config: WorkerConfig) => Promise<void>;
}

export async function runWorker(config: WorkerConfig = configFromEnv(), opts: RunWorkerOptions = {}): Promise<void> {
  if (config.metricsAddress && config.metricsAddress !== 'off') {
    Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress: config.metricsAddress } } } });
  }
  const connection = await NativeConnection.connect(config.connection);
  try {
    await opts.beforeRun?.(connection, config);
    const worker = await createMigrationWorker({
      connection,
      namespace: config.namespace,
      taskQueue: config.taskQueue,
      platforms: defaultPlatforms(config.stateDir),
    });
    console.error(
      `dbmig worker: ${config.address} namespace=${config.namespace} taskQueue=${config.taskQueue} ` +
        `metrics=${config.metricsAddress ?? 'off'}`,
    );
    await worker.run();
  } finally {
    await connection.close();
  }
}
