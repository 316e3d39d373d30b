// A Temporal client from Temporal's own environment configuration (@temporalio/envconfig): the
// TEMPORAL_* variables and temporal.toml profiles, exactly as the `temporal` CLI reads them, with
// the CLI's --address/--namespace/--profile on top (client/temporal-target.ts).
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { DEFAULT_TASK_QUEUE } from '../common/naming';
import type { TemporalTarget } from './setup';
import { ConnectionFailedError, resolveTemporal, type ResolvedTemporal, type TemporalFlags } from './temporal-target';

/**
 * How long a connection may take before dbmig says it cannot reach the server. The SDK's 10 s
 * default left an operator without a server waiting about 12 s for an error; a server that answers
 * at all does so well within this, Temporal Cloud included.
 */
export const CONNECT_TIMEOUT_MS = 4_000;

export interface EnvClient {
  client: Client;
  connection: Connection;
  /** TEMPORAL_TASK_QUEUE, or the default queue the workers serve. */
  taskQueue: string;
  /** Namespace and address, for messages and `dbmig setup` (never the credentials). */
  target: TemporalTarget;
  /** Every setting with where it came from. */
  resolved: ResolvedTemporal;
  close: () => Promise<void>;
}

export async function clientFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  flags: TemporalFlags = {},
  opts: { connectTimeoutMs?: number } = {},
): Promise<EnvClient> {
  const resolved = resolveTemporal(flags, env);
  const { connectionOptions } = resolved.connect;
  const timeoutMs = opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
  let connection: Connection;
  try {
    // The profile's options are the worker's (native) shape; the fields a client needs are the same.
    connection = await Connection.connect({
      ...(connectionOptions as ConnectionOptions),
      address: resolved.address.value,
      connectTimeout: timeoutMs,
    });
  } catch (err) {
    throw new ConnectionFailedError(resolved, `no connection within ${timeoutMs / 1000}s (${(err as Error).message})`);
  }
  const target: TemporalTarget = {
    namespace: resolved.namespace.value,
    address: resolved.address.value,
    apiKey: connectionOptions.apiKey !== undefined,
  };
  return {
    client: new Client({ connection, namespace: target.namespace }),
    connection,
    taskQueue: env.TEMPORAL_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
    target,
    resolved,
    close: () => connection.close(),
  };
}
