// A Temporal client from the same environment variables the worker reads.
import { Client, Connection } from '@temporalio/client';
import { configFromEnv } from '../worker/config';

export async function clientFromEnv(): Promise<{ client: Client; taskQueue: string; close: () => Promise<void> }> {
  const cfg = configFromEnv();
  const connection = await Connection.connect({
    address: cfg.address,
    tls: cfg.connection.tls,
    apiKey: cfg.connection.apiKey as string | undefined,
  });
  return {
    client: new Client({ connection, namespace: cfg.namespace }),
    taskQueue: cfg.taskQueue,
    close: () => connection.close(),
  };
}
