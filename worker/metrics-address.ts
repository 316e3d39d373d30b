// The Prometheus exporter's address must be free before the Runtime binds it: the SDK's own error
// ("Failed to start prometheus metrics exporter: Address already in use") names neither the
// setting nor the fix, and a second worker on one host hits it at once.
import { createServer } from 'node:net';
import { WorkerConfigError } from './config';

export function metricsAddressInUse(address: string): WorkerConfigError {
  return new WorkerConfigError(
    `the metrics address ${address} (DBMIG_METRICS_ADDRESS) is in use, by another dbmig worker or another ` +
      'program: give this worker another one (DBMIG_METRICS_ADDRESS=127.0.0.1:9465), ' +
      'or none (DBMIG_METRICS_ADDRESS=off)',
  );
}

function hostPort(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new WorkerConfigError(
      `DBMIG_METRICS_ADDRESS=${address}: expected HOST:PORT (e.g. 127.0.0.1:9464), or off for no metrics`,
    );
  return { host: m[1] || '0.0.0.0', port };
}

/** Resolves when `address` can be bound; rejects with the operator's message when it is taken. */
export async function checkMetricsAddress(address: string): Promise<void> {
  const { host, port } = hostPort(address);
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? metricsAddressInUse(address)
          : new WorkerConfigError(`DBMIG_METRICS_ADDRESS=${address}: cannot listen there (${err.message})`),
      ),
    );
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
