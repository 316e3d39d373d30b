// Worker configuration from the environment, so the same image runs against the dev server,
// a self-hosted cluster or Temporal Cloud (TLS client certs or an API key).
import { readFileSync } from 'node:fs';
import type { NativeConnectionOptions } from '@temporalio/worker';

export const DEFAULT_TASK_QUEUE = 'db-migrations';

export interface WorkerConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  metricsAddress?: string;
  stateDir?: string;
  connection: NativeConnectionOptions;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const address = env.TEMPORAL_ADDRESS ?? 'localhost:7233';
  const connection: NativeConnectionOptions = { address };
  if (env.TEMPORAL_TLS_CERT && env.TEMPORAL_TLS_KEY) {
    connection.tls = {
      clientCertPair: { crt: readFileSync(env.TEMPORAL_TLS_CERT), key: readFileSync(env.TEMPORAL_TLS_KEY) },
    };
  }
  if (env.TEMPORAL_API_KEY) {
    connection.apiKey = env.TEMPORAL_API_KEY;
    connection.tls ??= true;
  }
  return {
    address,
    namespace: env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env.TEMPORAL_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
    metricsAddress: env.DBMIG_METRICS_ADDRESS ?? '127.0.0.1:9464',
    stateDir: env.DBMIG_STATE_DIR,
    connection,
  };
}
