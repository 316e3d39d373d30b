// Flex-start capacity: a resize request on the (migration, database)'s own worker group, whose
// template uses the FLEX_START provisioning model. The MIG creates all the VMs at once when
// Dynamic Workload Scheduler finds the capacity.
// https://cloud.google.com/compute/docs/instance-groups/about-resize-requests-mig
// https://cloud.google.com/compute/docs/reference/rest/v1/instanceGroupManagerResizeRequests
// Shapes: google/cloud/compute/v1/compute.proto (InstanceGroupManagerResizeRequest; State ACCEPTED,
// CREATING, SUCCEEDED, FAILED, CANCELLED).
import type { protos } from '@google-cloud/compute';
import { workerCount } from '../../../../common/capacity';
import type { CapacityReservation, DatabaseTask } from '../../../steps';
import { MigrationError } from '../../../../common/failures';
import type { GcpClients } from '../clients';
import { pollFor, waitZoneOperation } from './operations';
import { call, getOrUndefined } from '../errors';
import { gcpNames, gcpRequestId } from '../names';
import type { PollOptions } from '../poll';
import { HOLD_SECONDS, deleteWorkerGroup, ensureWorkerGroup, workerGroupNames } from './worker-group';

type ResizeRequest = protos.google.cloud.compute.v1.IInstanceGroupManagerResizeRequest;

/** Still waiting for capacity: cancel before delete (about-resize-requests-mig, "Cancel"). */
export const WAITING_STATES = ['ACCEPTED', 'CREATING'];
/** Over: Google will not create the VMs; a new request must be made. */
const ENDED_STATES = ['FAILED', 'CANCELLED'];

/**
 * How long one attempt watches a request wait for capacity before handing back with a retryable
 * CapacityUnavailable (the capacity step's start-to-close timeout is minutes; its retries are the wait).
 */
export const CAPACITY_WAIT_MS = 60_000;

export function resizeRequestRequest(
  task: DatabaseTask,
): protos.google.cloud.compute.v1.IInsertInstanceGroupManagerResizeRequestRequest {
  const { project, zone } = task.gcp!;
  const name = gcpNames(task).resizeRequest;
  return {
    project,
    zone,
    instanceGroupManager: workerGroupNames(task).group,
    requestId: gcpRequestId(task, 'insert', name),
    instanceGroupManagerResizeRequestResource: {
      name,
      description: `dbmig ${task.migrationId}/${task.database.name}: flex-start migration workers`,
      resizeBy: workerCount(task.database.sizeGb),
      // 10 minutes to 7 days; the MIG deletes the VMs at its end (about-resize-requests-mig).
      requestedRunDuration: { seconds: HOLD_SECONDS },
    },
  };
}

const target = (task: DatabaseTask) => ({
  project: task.gcp!.project,
  zone: task.gcp!.zone,
  instanceGroupManager: workerGroupNames(task).group,
  resizeRequest: gcpNames(task).resizeRequest,
});

async function getRequest(c: GcpClients, task: DatabaseTask): Promise<ResizeRequest | undefined> {
  return getOrUndefined(
    `get resize request ${target(task).resizeRequest}`,
    async () => (await c.resizeRequests.get(target(task)))[0],
  );
}

async function deleteRequest(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<void> {
  const t = target(task);
  const [op] = await call(`delete resize request ${t.resizeRequest}`, () =>
    c.resizeRequests.delete({ ...t, requestId: gcpRequestId(task, 'delete', t.resizeRequest) }),
  );
  await waitZoneOperation(c, task, op, poll);
}

export async function reserveFlexStart(
  c: GcpClients,
  task: DatabaseTask,
  poll: PollOptions,
): Promise<CapacityReservation> {
  const workers = workerCount(task.database.sizeGb);
  const request = resizeRequestRequest(task);
  const name = request.instanceGroupManagerResizeRequestResource!.name!;
  await ensureWorkerGroup(c, task, poll);

  let rr = await getRequest(c, task);
  if (rr && Number(rr.resizeBy) !== workers)
    throw new MigrationError(
      'AlreadyExistsMismatch',
      `resize request ${name} exists: resizeBy is ${rr.resizeBy}, the plan needs ${workers}`,
    );
  if (rr && ENDED_STATES.includes(String(rr.state))) {
    // It is ours (its name and group are this database's): make room for a new request next attempt.
    await deleteRequest(c, task, poll);
    throw new MigrationError(
      'CapacityUnavailable',
      `flex-start resize request ${name} ended ${rr.state}; asking again`,
    );
  }
  if (!rr) {
    const [op] = await call(`create resize request ${name}`, () => c.resizeRequests.insert(request));
    await waitZoneOperation(c, task, op, poll);
  }
  rr = await pollFor(
    async () => (await getRequest(c, task)) ?? {},
    (r) => !WAITING_STATES.includes(String(r.state)),
    poll.intervalMs,
    Math.min(poll.timeoutMs, CAPACITY_WAIT_MS),
  );
  if (rr.state === 'SUCCEEDED') return { name, mode: 'flex-start', workers };
  throw new MigrationError(
    'CapacityUnavailable',
    `flex-start: ${workers} x ${task.gcp!.machineType} not granted yet ` +
      `(resize request ${name} is ${rr.state ?? 'missing'}); waiting`,
  );
}

/**
 * Cancels a request still waiting, deletes it, then deletes the worker group: deleting a resize
 * request leaves the VMs it created running until their run duration ends (about-resize-requests-mig),
 * deleting the group deletes them.
 */
export async function releaseFlexStart(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<void> {
  const t = target(task);
  const rr = await getRequest(c, task);
  if (rr && WAITING_STATES.includes(String(rr.state))) {
    const [op] = await call(`cancel resize request ${t.resizeRequest}`, () =>
      c.resizeRequests.cancel({ ...t, requestId: gcpRequestId(task, 'cancel', t.resizeRequest) }),
    );
    await waitZoneOperation(c, task, op, poll);
  }
  if (rr) await deleteRequest(c, task, poll);
  await deleteWorkerGroup(c, task, poll);
}
