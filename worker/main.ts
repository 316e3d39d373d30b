// `dbmig worker`: installs the runtime (logs, metrics), connects, and serves the migration task
// queue and its data plane (or one of them: config.plane) until SIGINT/SIGTERM (the SDK drains
// in-flight tasks on those signals).
import { NativeConnection, Runtime, type Logger } from '@temporalio/worker';
import { configFromEnv, type WorkerConfig } from './config';
import { createLogger, logSettings, type LogSettings } from './logging';
import { checkMetricsAddress, metricsAddressInUse } from './metrics-address';
import { prometheusExporter } from './metrics-exporter';
import { dbmigVersion } from './version';
import { createMigrationWorker, defaultPlatforms, inFlightOf } from './worker';
import { reportSlowShutdown } from './in-flight';
import { dataPlaneQueue } from '../common/task-queues';

export interface RunWorkerOptions {
  /**
   * Runs on the worker's connection before anything polls; throws to refuse to start, with a
   * message that says why and what fixes it. The CLI checks the namespace's search attributes here.
   */
  beforeRun?: (connection: NativeConnection, config: WorkerConfig, logger: Logger) => Promise<void>;
  /** Turns a failed connection into the operator's message (the CLI names what it tried and the fix). */
  connectError?: (err: Error) => Error;
  /** DBMIG_LOG_FORMAT and DBMIG_LOG_LEVEL by default. */
  logs?: LogSettings;
}

/** Installs the SDK's Runtime once: our logger (SDK Core's lines forwarded to it) and the metrics exporter. */
function installRuntime(config: WorkerConfig, logger: Logger, level: LogSettings['level']): void {
  try {
    Runtime.install({
      logger,
      telemetryOptions: {
        logging: { filter: { core: level, other: 'ERROR' }, forward: {} },
        ...(config.metricsAddress ? { metrics: prometheusExporter(config.metricsAddress) } : {}),
      },
    });
  } catch (err) {
    // Taken between the check and the bind (another worker starting at the same moment).
    if (config.metricsAddress && /address already in use/i.test((err as Error).message))
      throw metricsAddressInUse(config.metricsAddress);
    throw err;
  }
}

export async function runWorker(config: WorkerConfig = configFromEnv(), opts: RunWorkerOptions = {}): Promise<void> {
  const logs = opts.logs ?? logSettings();
  const logger = createLogger(logs);
  if (config.metricsAddress) await checkMetricsAddress(config.metricsAddress);
  installRuntime(config, logger, logs.level);
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(config.connection);
  } catch (err) {
    throw opts.connectError ? opts.connectError(err as Error) : err;
  }
  try {
    const plane = config.plane ?? 'both';
    // A data-plane worker runs no workflow: it needs no search attribute, nor the right to register one.
    if (plane !== 'data') await opts.beforeRun?.(connection, config, logger);
    const worker = await createMigrationWorker({
      connection,
      namespace: config.namespace,
      taskQueue: config.taskQueue,
      platforms: defaultPlatforms(config.stateDir),
      ...(config.deployment ? { deployment: config.deployment } : {}),
      plane,
    });
    // Where it serves, and from which code: the first line to read when two workers disagree.
    logger.info('dbmig worker started', {
      version: dbmigVersion(),
      node: process.version,
      address: config.address,
      namespace: config.namespace,
      taskQueue: config.taskQueue,
      plane,
      ...(plane === 'control' ? {} : { dataPlaneQueue: dataPlaneQueue(config.taskQueue) }),
      metrics: config.metricsAddress ?? 'off',
      deployment: config.deployment
        ? `${config.deployment.deploymentName}.${config.deployment.buildId} (pinned)`
        : 'unversioned',
    });
    const tracker = inFlightOf(worker);
    const stopWatch = tracker
      ? reportSlowShutdown(worker, tracker, (what) => logger.warn('dbmig worker: slow shutdown', { what }))
      : () => undefined;
    try {
      await worker.run();
    } finally {
      stopWatch();
    }
  } finally {
    await connection.close();
  }
}
