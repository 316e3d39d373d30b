// A Temporal client from Temporal's own environment configuration (@temporalio/envconfig): the
// TEMPORAL_* variables and temporal.toml profiles, exactly as the `temporal` CLI reads them.
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { DEFAULT_TASK_QUEUE } from '../common/naming';

export interface EnvClient {
  client: Client;
  /** TEMPORAL_TASK_QUEUE, or the default queue the workers serve. */
  taskQueue: string;
  close: () => Promise<void>;
}

export async function clientFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<EnvClient> {
  const { connectionOptions, namespace } = loadClientConnectConfig({
    overrideEnvVars: env as Record<string, string>,
  });
  // The profile's options are the worker's (native) shape; the fields a client needs are the same.
  const connection = await Connection.connect(connectionOptions as ConnectionOptions);
  return {
    client: new Client({ connection, namespace: namespace ?? 'default' }),
    taskQueue: env.TEMPORAL_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
    close: () => connection.close(),
  };
}
