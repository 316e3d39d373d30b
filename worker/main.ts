// `dbmig worker`: installs the metrics runtime, connects, and serves the migration task queue
// until SIGINT/SIGTERM (the SDK drains in-flight tasks on those signals).
import { NativeConnection, Runtime } from '@temporalio/worker';
import { configFromEnv, type WorkerConfig } from './config';
import { createMigrationWorker, defaultPlatforms } from './worker';

export async function runWorker(config: WorkerConfig = configFromEnv()): Promise<void> {
  if (config.metricsAddress && config.metricsAddress !== 'off') {
    Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress: config.metricsAddress } } } });
  }
  const connection = await NativeConnection.connect(config.connection);
  try {
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
