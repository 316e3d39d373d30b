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
/** Over: Google will not create the VMs; a new request (a new generation) must be made. */
const ENDED_STATES = ['FAILED', 'CANCELLED'];

/**
 * How long one attempt watches a request wait for capacity before handing back with a retryable
 * CapacityUnavailable (the capacity step's start-to-close timeout is minutes; its retries are the wait).
 */
export const CAPACITY_WAIT_MS = 60_000;

/**
 * A request that ended (FAILED, CANCELLED) is followed by a new one under a new name: generation 1
 * is the plan's name (gcpNames().resizeRequest, the dry run's), generation n > 1 adds `-n`. The
 * name carries the request id (gcpRequestId of the name), so a retry of the same insert (same
 * activity run, same generation) repeats its id and Compute answers it once, while the request
 * after a failure has a new name and a new id: Compute ignores a repeated request id for at least
 * 60 minutes (InsertInstanceGroupManagerResizeRequestRequest.request_id, compute.proto), so asking
 * again under the failed request's id would be answered with the old insert and create nothing.
 * The generation is read from Compute (the group's requests), not kept by the worker.
 */
export function resizeRequestName(task: DatabaseTask, generation = 1): string {
  const base = gcpNames(task).resizeRequest;
  return generation <= 1 ? base : `${base}-${generation}`;
}

/** The generation of one of this database's request names, or undefined for a name not ours. */
export function generationOf(task: DatabaseTask, name: string | null | undefined): number | undefined {
  const base = gcpNames(task).resizeRequest;
  if (name === base) return 1;
  const m = name?.startsWith(`${base}-`) ? /^(\d+)$/.exec(name.slice(base.length + 1)) : null;
  return m && Number(m[1]) > 1 ? Number(m[1]) : undefined;
}

export function resizeRequestRequest(
  task: DatabaseTask,
  generation = 1,
): protos.google.cloud.compute.v1.IInsertInstanceGroupManagerResizeRequestRequest {
  const { project, zone } = task.gcp!;
  const name = resizeRequestName(task, generation);
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

const group = (task: DatabaseTask) => ({
  project: task.gcp!.project,
  zone: task.gcp!.zone,
  instanceGroupManager: workerGroupNames(task).group,
});

/** This database's requests on its own group, oldest generation first. */
async function listRequests(c: GcpClients, task: DatabaseTask): Promise<ResizeRequest[]> {
  const all =
    (await getOrUndefined(
      `list resize requests of ${group(task).instanceGroupManager}`,
      async () => (await c.resizeRequests.list(group(task)))[0],
    )) ?? [];
  return all
    .filter((r) => generationOf(task, r.name) !== undefined)
    .sort((a, b) => generationOf(task, a.name)! - generationOf(task, b.name)!);
}

async function getRequest(c: GcpClients, task: DatabaseTask, name: string): Promise<ResizeRequest | undefined> {
  return getOrUndefined(
    `get resize request ${name}`,
    async () => (await c.resizeRequests.get({ ...group(task), resizeRequest: name }))[0],
  );
}

async function deleteRequest(c: GcpClients, task: DatabaseTask, name: string, poll: PollOptions): Promise<void> {
  const [op] = await call(`delete resize request ${name}`, () =>
    c.resizeRequests.delete({ ...group(task), resizeRequest: name, requestId: gcpRequestId(task, 'delete', name) }),
  );
  await waitZoneOperation(c, task, op, poll);
}

const ended = (r: ResizeRequest) => ENDED_STATES.includes(String(r.state));

export async function reserveFlexStart(
  c: GcpClients,
  task: DatabaseTask,
  poll: PollOptions,
): Promise<CapacityReservation> {
  const workers = workerCount(task.database.sizeGb);
  await ensureWorkerGroup(c, task, poll);

  const requests = await listRequests(c, task);
  let latest = requests.at(-1);
  if (latest && Number(latest.resizeBy) !== workers)
    throw new MigrationError(
      'AlreadyExistsMismatch',
      `resize request ${latest.name} exists: resizeBy is ${latest.resizeBy}, the plan needs ${workers}`,
    );
  let asked = '';
  if (!latest || ended(latest)) {
    // The first request, or the next one after a request Google ended: a new generation.
    const generation = latest ? generationOf(task, latest.name)! + 1 : 1;
    const request = resizeRequestRequest(task, generation);
    const name = request.instanceGroupManagerResizeRequestResource!.name!;
    if (latest) asked = ` (after ${latest.name} ended ${latest.state})`;
    const [op] = await call(`create resize request ${name}`, () => c.resizeRequests.insert(request));
    await waitZoneOperation(c, task, op, poll);
    latest = { name, resizeBy: workers };
  }
  // Ended requests before the latest are ours and over: delete them (the latest keeps the count).
  for (const r of requests) if (r.name !== latest.name && ended(r)) await deleteRequest(c, task, r.name!, poll);

  const name = latest.name!;
  const rr = await pollFor(
    async () => (await getRequest(c, task, name)) ?? {},
    (r) => !WAITING_STATES.includes(String(r.state)),
    poll.intervalMs,
    Math.min(poll.timeoutMs, CAPACITY_WAIT_MS),
  );
  if (rr.state === 'SUCCEEDED') return { name, mode: 'flex-start', workers };
  throw new MigrationError(
    'CapacityUnavailable',
    `flex-start: ${workers} x ${task.gcp!.machineType} not granted yet ` +
      `(resize request ${name}${asked} is ${rr.state ?? 'missing'}); ` +
      (ended(rr) ? 'asking again' : 'waiting'),
  );
}

/**
 * Cancels a request still waiting, deletes it, then deletes the worker group: deleting a resize
 * request leaves the VMs it created running until their run duration ends (about-resize-requests-mig),
 * deleting the group deletes them.
 */
export async function releaseFlexStart(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<void> {
  for (const rr of await listRequests(c, task)) {
    const name = rr.name!;
    if (WAITING_STATES.includes(String(rr.state))) {
      const [op] = await call(`cancel resize request ${name}`, () =>
        c.resizeRequests.cancel({ ...group(task), resizeRequest: name, requestId: gcpRequestId(task, 'cancel', name) }),
      );
      await waitZoneOperation(c, task, op, poll);
    }
    await deleteRequest(c, task, name, poll);
  }
  await deleteWorkerGroup(c, task, poll);
}
