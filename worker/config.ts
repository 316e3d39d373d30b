// Worker configuration. The Temporal connection comes from Temporal's own environment
// configuration (@temporalio/envconfig): the TEMPORAL_* variables and temporal.toml profiles the
// `temporal` CLI reads, so one setup serves the CLI, `dbmig` and the worker, against the dev
// server, a self-hosted cluster or Temporal Cloud (mTLS or API key). The rest is dbmig's own.
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { DEFAULT_TASK_QUEUE } from '../common/naming';
import type { WorkerPlane } from '../common/task-queues';
import { secretPolicy, type SecretPolicy } from '../activities/secrets';

/** The worker's configuration cannot be used as given (bad input: `dbmig` exits 2), with the fix. */
export class WorkerConfigError extends Error {
  override name = 'WorkerConfigError';
}

/** Where the Prometheus exporter listens unless DBMIG_METRICS_ADDRESS says otherwise (`off` or empty: none). */
export const DEFAULT_METRICS_ADDRESS = '127.0.0.1:9464';

export interface WorkerConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  /** undefined: no metrics exporter (DBMIG_METRICS_ADDRESS=off or empty). */
  metricsAddress?: string;
  stateDir?: string;
  /**
   * Which secret references plans may name and which source hosts their passwords may go to
   * (DBMIG_ALLOWED_SECRETS, DBMIG_ALLOWED_HOSTS): read here so a malformed entry stops the worker at
   * start; activities/secrets.ts applies them on every resolution.
   */
  secrets: SecretPolicy;
  connection: NativeConnectionOptions;
  /** Worker versioning (DBMIG_BUILD_ID, DBMIG_DEPLOYMENT_NAME); undefined: an unversioned worker. */
  deployment?: WorkerDeployment;
  /** What it serves (`dbmig worker --data-plane` or `--control-plane`); both when undefined. */
  plane?: WorkerPlane;
}

/**
 * The Temporal Worker Deployment Version this worker belongs to. A versioned worker takes only
 * the runs of its own version, and each run (its continue-as-new runs and children too) stays on
 * the version that started it: a breaking upgrade drains the older runs on the older workers
 * (docs/operations.md, Upgrading the worker).
 */
export interface WorkerDeployment {
  deploymentName: string;
  buildId: string;
}

/** The deployment name when only DBMIG_BUILD_ID is set. */
export const DEFAULT_DEPLOYMENT_NAME = 'dbmig';

function deploymentFrom(env: NodeJS.ProcessEnv): WorkerDeployment | undefined {
  const buildId = env.DBMIG_BUILD_ID?.trim() ?? '';
  const deploymentName = env.DBMIG_DEPLOYMENT_NAME?.trim() || DEFAULT_DEPLOYMENT_NAME;
  if (!buildId) {
    if (env.DBMIG_DEPLOYMENT_NAME?.trim())
      throw new WorkerConfigError(
        'DBMIG_DEPLOYMENT_NAME is set but DBMIG_BUILD_ID is not: a versioned worker needs the build it runs ' +
          '(its version, say DBMIG_BUILD_ID=1.0.0); unset both for an unversioned worker',
      );
    return undefined;
  }
  // Temporal names a version `<deployment>.<build id>`: the deployment's name cannot hold the dot.
  if (deploymentName.includes('.'))
    throw new WorkerConfigError(`DBMIG_DEPLOYMENT_NAME "${deploymentName}" cannot contain a dot`);
  return { deploymentName, buildId };
}

function metricsAddress(value: string | undefined): string | undefined {
  if (value === undefined) return DEFAULT_METRICS_ADDRESS;
  const v = value.trim();
  return v === '' || v.toLowerCase() === 'off' ? undefined : v;
}

/**
 * The CLI passes the environment with its --address/--namespace/--profile applied as the TEMPORAL_*
 * variables (client/temporal-target.ts), so the worker and the commands connect the same way.
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const { connectionOptions, namespace } = loadClientConnectConfig({
    overrideEnvVars: env as Record<string, string>,
  });
  const address = connectionOptions.address ?? 'localhost:7233';
  return {
    address,
    namespace: namespace ?? 'default',
    taskQueue: env.TEMPORAL_TASK_QUEUE ?? DEFAULT_TASK_QUEUE,
    metricsAddress: metricsAddress(env.DBMIG_METRICS_ADDRESS),
    stateDir: env.DBMIG_STATE_DIR,
    secrets: secretPolicy(env),
    connection: { ...connectionOptions, address },
    deployment: deploymentFrom(env),
  };
}
