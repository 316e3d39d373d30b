// A Temporal client from Temporal's own environment configuration (@temporalio/envconfig): the
// TEMPORAL_* variables and temporal.toml profiles, exactly as the `temporal` CLI reads them.
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { DEFAULT_TASK_QUEUE } from '../common/naming';
import type { TemporalTarget } from './setup';

export interface EnvClient {
  client: Client;
  connection: Connection;
  /** TEMPORAL_TASK_QUEUE, or the default queue the workers serve. */
  taskQueue: string;
  /** Namespace and address, for messages and `dbmig setup` (never the credentials). */
  target: TemporalTarget;
  close: () => Promise<void>;
}

export async function clientFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<EnvClient> {
  const { connectionOptions, namespace } = loadClientConnectConfig({
    overrideEnvVars: env as Record<string, string>,
  });
  // The profile's options are the worker's (native) shape; the fields a client needs are the same.
  const connection = await Connection.connect(connectionOptions as ConnectionOptions);
  const target: TemporalTarget = {
    namespace: namespace ?? 'default',
    address: connectionOptions.address ?? 'localhost:7233',
    apiKey: connectionOptions.apiKey !== undefined,
  };
  return {
    client: new Client({ connection, namespace: target.namespace }),
    connection,
    taskQueue: env.TEMPORAL_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
    target,
    close: () => connection.close(),
  };
}
