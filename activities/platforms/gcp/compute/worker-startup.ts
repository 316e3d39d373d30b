// What the migration workers run: dbmig's worker image as `dbmig worker --data-plane`, on the
// run's data-plane task queue, started at boot by a startup script on Container-Optimized OS.
// Google deprecated the container declaration (`gce-container-declaration` metadata read by the
// container startup agent, konlet) and documents a startup script or cloud-init instead:
// https://cloud.google.com/compute/docs/containers/migrate-containers
// https://cloud.google.com/compute/docs/instances/startup-scripts/linux
// https://cloud.google.com/container-optimized-os/docs/how-to/run-container-instance
// The script is the same for every database; the settings are metadata keys of their own (readable
// by anyone who may read the VM, so none is secret: rule 8). The Temporal API key, when the plan names
// one, is only a Secret Manager name here: the script reads its value at boot with the VM's service
// account and hands it to the container in its environment, never in metadata, arguments or files.
import { Context } from '@temporalio/activity';
import { DEFAULT_TASK_QUEUE } from '../../../../common/naming';
import { dataPlaneQueue } from '../../../../common/task-queues';
import { MigrationError } from '../../../../common/failures';
import type { DatabaseTask } from '../../../steps';
import { ALLOWED_HOSTS_VAR } from '../../../secrets';

/** Container-Optimized OS, stable channel: it ships Docker and docker-credential-gcr. */
export const WORKER_BOOT_IMAGE = 'projects/cos-cloud/global/images/family/cos-stable';
/**
 * The scope Google recommends for a VM's service account: cloud-platform, with access governed by
 * the account's IAM roles (https://cloud.google.com/compute/docs/access/service-accounts#scopes_best_practice).
 */
export const WORKER_SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];

/** The settings the script reads, by metadata key. */
export const WORKER_METADATA_KEYS = {
  image: 'dbmig-image',
  address: 'dbmig-temporal-address',
  namespace: 'dbmig-temporal-namespace',
  taskQueue: 'dbmig-task-queue',
  apiKeySecret: 'dbmig-temporal-api-key-secret',
  allowedHosts: 'dbmig-allowed-hosts',
} as const;

export interface WorkerRuntime {
  image: string;
  serviceAccount: string;
  address: string;
  namespace: string;
  /** The migration task queue (TEMPORAL_TASK_QUEUE); the workers serve its data plane. */
  taskQueue: string;
  dataPlaneQueue: string;
  /** projects/P/secrets/NAME of the Temporal API key; its value never leaves Secret Manager but to the VM. */
  apiKeySecret?: string;
  /**
   * The hosts the data-plane steps may send a password to (DBMIG_ALLOWED_HOSTS on the workers): the
   * reserving worker's own policy, since the data-plane queue serves every database of the run; the
   * database's source host when that worker sets none.
   */
  allowedHosts: string;
}

/** The activity's own run, when called as one: its task queue and namespace are the run's. */
function activityInfo(): { taskQueue?: string; namespace?: string } {
  try {
    const info = Context.current().info;
    return { taskQueue: info.taskQueue, namespace: info.workflowNamespace };
  } catch {
    return {}; // a dry run, `gcp check`, or a test driving the platform directly
  }
}

export const defaultWorkerServiceAccount = (project: string) => `dbmig-worker@${project}.iam.gserviceaccount.com`;

/**
 * What the database's workers run, from the plan (image, service account, Temporal address and key)
 * and the run (task queue, namespace; outside an activity the environment's TEMPORAL_TASK_QUEUE and
 * TEMPORAL_NAMESPACE, as `dbmig worker` reads them). Refuses a plan without the image or the address.
 */
export function workerRuntime(task: DatabaseTask): WorkerRuntime {
  const gcp = task.gcp!;
  const missing = [
    !gcp.workerImage && "gcp.workerImage (dbmig's worker image, REGISTRY/PATH:TAG)",
    !gcp.workerTemporal?.address && 'gcp.workerTemporal.address (the Temporal frontend host:port the workers reach)',
  ].filter(Boolean);
  if (missing.length)
    throw new MigrationError(
      'InvalidPlan',
      `${task.database.name}: the migration workers need ${missing.join(' and ')}: without them the reserved ` +
        'capacity would boot and do no work; set them in the plan',
    );
  const run = activityInfo();
  const taskQueue = run.taskQueue ?? process.env.TEMPORAL_TASK_QUEUE ?? DEFAULT_TASK_QUEUE;
  const ref = gcp.workerTemporal!.apiKeyRef?.slice('gcpsm:'.length);
  return {
    image: gcp.workerImage!,
    serviceAccount: gcp.workerServiceAccount ?? defaultWorkerServiceAccount(gcp.project),
    address: gcp.workerTemporal!.address,
    namespace: gcp.workerTemporal!.namespace ?? run.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue,
    dataPlaneQueue: dataPlaneQueue(taskQueue),
    ...(ref ? { apiKeySecret: ref.startsWith('projects/') ? ref : `projects/${gcp.project}/secrets/${ref}` } : {}),
    allowedHosts: process.env[ALLOWED_HOSTS_VAR]?.trim() || task.database.source.host,
  };
}

/**
 * The boot script (bash, run as root by the guest environment at every boot). It reads its settings
 * from the metadata server, reads the Temporal API key (if any) from Secret Manager with the VM's
 * token (sent in a header read from stdin, so neither shows in a process's arguments), lets Docker
 * pull from Artifact Registry with docker-credential-gcr, and runs the worker with restarts, its
 * logs to Cloud Logging (gcplogs).
 */
export const WORKER_STARTUP_SCRIPT = `#!/bin/bash
# dbmig data-plane worker, written by dbmig (activities/platforms/gcp/compute/worker-startup.ts).
# Settings come from this VM's metadata; none is secret. The Temporal API key is read here from
# Secret Manager with the VM's service account and reaches the container only in its environment.
set -euo pipefail
md() { curl -sf -H 'Metadata-Flavor: Google' "http://metadata.google.internal/computeMetadata/v1/$1"; }
attr() { md "instance/attributes/$1" || true; }
image="$(attr ${WORKER_METADATA_KEYS.image})"
export TEMPORAL_ADDRESS="$(attr ${WORKER_METADATA_KEYS.address})"
export TEMPORAL_NAMESPACE="$(attr ${WORKER_METADATA_KEYS.namespace})"
export TEMPORAL_TASK_QUEUE="$(attr ${WORKER_METADATA_KEYS.taskQueue})"
export DBMIG_ALLOWED_HOSTS="$(attr ${WORKER_METADATA_KEYS.allowedHosts})"
export GOOGLE_CLOUD_PROJECT="$(md project/project-id)"
secret="$(attr ${WORKER_METADATA_KEYS.apiKeySecret})"
if [ -n "$secret" ]; then
  # Assigned before export, so a failed read stops the script (set -e) instead of starting keyless.
  # -n ... p: only the matching line, as the answers may be pretty-printed over several lines.
  token="$(md instance/service-accounts/default/token | sed -nE 's/.*"access_token" *: *"([^"]+)".*/\\1/p')"
  key="$(printf 'Authorization: Bearer %s\\n' "$token" \\
    | curl -sf -H @- "https://secretmanager.googleapis.com/v1/$secret/versions/latest:access" \\
    | sed -nE 's/.*"data" *: *"([^"]+)".*/\\1/p' | base64 -d)"
  unset token
  export TEMPORAL_API_KEY="$key"
  unset key
  export TEMPORAL_TLS=true
fi
# Container-Optimized OS: root's home is read-only; Docker's credential helper config goes here.
export HOME=/var/lib/dbmig-worker
mkdir -p "$HOME"
docker-credential-gcr configure-docker --registries="\${image%%/*}"
docker rm -f dbmig-worker >/dev/null 2>&1 || true
docker run -d --name dbmig-worker --restart=always --network=host --log-driver=gcplogs \\
  -e TEMPORAL_ADDRESS -e TEMPORAL_NAMESPACE -e TEMPORAL_TASK_QUEUE -e TEMPORAL_API_KEY -e TEMPORAL_TLS \\
  -e DBMIG_ALLOWED_HOSTS -e GOOGLE_CLOUD_PROJECT \\
  "$image" worker --data-plane
`;

/** The template's metadata items: the script and its settings (compute.proto Metadata.items). */
export function workerMetadata(rt: WorkerRuntime): { key: string; value: string }[] {
  const k = WORKER_METADATA_KEYS;
  return [
    { key: 'startup-script', value: WORKER_STARTUP_SCRIPT },
    { key: k.image, value: rt.image },
    { key: k.address, value: rt.address },
    { key: k.namespace, value: rt.namespace },
    { key: k.taskQueue, value: rt.taskQueue },
    { key: k.allowedHosts, value: rt.allowedHosts },
    ...(rt.apiKeySecret ? [{ key: k.apiKeySecret, value: rt.apiKeySecret }] : []),
    // Container-Optimized OS sends the host's and Docker's logs to Cloud Logging.
    { key: 'google-logging-enabled', value: 'true' },
  ];
}
