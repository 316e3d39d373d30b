// Dynamic Workload Scheduler through the Compute Engine API v1
// (https://cloud.google.com/compute/docs/reference/rest/v1/futureReservations and
// .../instanceGroupManagerResizeRequests): priority high reserves guaranteed capacity in calendar
// mode (a future reservation); anything else asks for flex-start capacity (a resize request on the
// migration workers' managed instance group), which is cheaper and may wait.
import type { protos } from '@google-cloud/compute';
import { capacityMode, workerCount } from '../../../common/capacity';
import { requestId } from '../../../common/naming';
import type { CapacityReservation, DatabaseTask, PlannedOperation } from '../platform';
import { MigrationError } from '../platform';
import type { GcpClients } from './clients';
import { call, getOrUndefined } from './errors';
import { gcpNames } from './names';
import { planned, plannedCall } from './planned';
import { STATUS_DONE, waitForOperation, type PollOptions } from './poll';

type InsertFutureReservation = protos.google.cloud.compute.v1.IInsertFutureReservationRequest;
type InsertResizeRequest = protos.google.cloud.compute.v1.IInsertInstanceGroupManagerResizeRequestRequest;

/** A calendar-mode reservation starts this long after it is asked for, on a whole minute. */
const CALENDAR_LEAD_MS = 10 * 60_000;
/** How long the workers are held, either way. */
const HOLD_DAYS = 7;

function waitZoneOperation(c: GcpClients, task: DatabaseTask, operation: string, poll: PollOptions) {
  const { project, zone } = task.gcp!;
  return waitForOperation(
    `Compute operation ${operation}`,
    async () => (await c.zoneOperations.get({ project, zone, operation }))[0],
    STATUS_DONE,
    poll,
  );
}

const opName = (op: unknown) =>
  (op as { name?: string; latestResponse?: { name?: string } }).latestResponse?.name ?? (op as { name?: string }).name!;

export function futureReservationRequest(task: DatabaseTask, now = Date.now()): InsertFutureReservation {
  const { project, zone, machineType } = task.gcp!;
  const name = gcpNames(task).futureReservation;
  const start = new Date(Math.ceil((now + CALENDAR_LEAD_MS) / 60_000) * 60_000);
  return {
    project,
    zone,
    requestId: requestId(task.migrationId, name),
    futureReservationResource: {
      name,
      description: `dbmig ${task.migrationId}/${task.database.name}: guaranteed migration workers`,
      specificSkuProperties: { totalCount: workerCount(task.database.sizeGb), instanceProperties: { machineType } },
      timeWindow: {
        startTime: start.toISOString(),
        endTime: new Date(start.getTime() + HOLD_DAYS * 86_400_000).toISOString(),
      },
      planningStatus: 'SUBMITTED',
      autoDeleteAutoCreatedReservations: true,
    },
  };
}

export function resizeRequestRequest(task: DatabaseTask): InsertResizeRequest {
  const { project, zone, migrationWorkerGroup } = task.gcp!;
  const name = gcpNames(task).resizeRequest;
  return {
    project,
    zone,
    instanceGroupManager: migrationWorkerGroup,
    requestId: requestId(task.migrationId, name),
    instanceGroupManagerResizeRequestResource: {
      name,
      description: `dbmig ${task.migrationId}/${task.database.name}: flex-start migration workers`,
      resizeBy: workerCount(task.database.sizeGb),
      requestedRunDuration: { seconds: HOLD_DAYS * 86_400 },
    },
  };
}

export async function reserveGcpCapacity(
  c: GcpClients,
  task: DatabaseTask,
  poll: PollOptions,
  now = Date.now(),
): Promise<CapacityReservation> {
  const { project, zone, machineType, migrationWorkerGroup } = task.gcp!;
  const workers = workerCount(task.database.sizeGb);
  const mode = capacityMode(task.database.priority);

  if (mode === 'calendar') {
    const request = futureReservationRequest(task, now);
    const name = request.futureReservationResource!.name!;
    const existing = await getOrUndefined(
      `get future reservation ${name}`,
      async () => (await c.futureReservations.get({ project, zone, futureReservation: name }))[0],
    );
    if (existing) {
      const have = Number(existing.specificSkuProperties?.totalCount ?? 0);
      const haveType = existing.specificSkuProperties?.instanceProperties?.machineType;
      if (have !== workers || haveType !== machineType) {
        throw new MigrationError(
          'AlreadyExistsMismatch',
          `future reservation ${name} exists for ${have} x ${haveType}, plan needs ${workers} x ${machineType}`,
        );
      }
      return { name, mode, workers };
    }
    const [op] = await call(`create future reservation ${name}`, () => c.futureReservations.insert(request));
    await waitZoneOperation(c, task, opName(op), poll);
    return { name, mode, workers };
  }

  const request = resizeRequestRequest(task);
  const name = request.instanceGroupManagerResizeRequestResource!.name!;
  const existing = await getOrUndefined(
    `get resize request ${name}`,
    async () =>
      (
        await c.resizeRequests.get({ project, zone, instanceGroupManager: migrationWorkerGroup, resizeRequest: name })
      )[0],
  );
  if (existing) {
    if (Number(existing.resizeBy) !== workers)
      throw new MigrationError(
        'AlreadyExistsMismatch',
        `resize request ${name} exists for ${existing.resizeBy} workers, plan needs ${workers}`,
      );
    return { name, mode, workers };
  }
  const [op] = await call(`create resize request ${name} on ${migrationWorkerGroup}`, () =>
    c.resizeRequests.insert(request),
  );
  await waitZoneOperation(c, task, opName(op), poll);
  return { name, mode, workers };
}

/** A resize request still waiting for capacity must be cancelled before it can be deleted. */
const WAITING_STATES = ['ACCEPTED', 'CREATING'];

export async function releaseGcpCapacity(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<void> {
  const { project, zone, migrationWorkerGroup } = task.gcp!;
  const names = gcpNames(task);
  if (capacityMode(task.database.priority) === 'calendar') {
    const fr = await getOrUndefined(
      'get future reservation',
      async () => (await c.futureReservations.get({ project, zone, futureReservation: names.futureReservation }))[0],
    );
    if (!fr) return;
    const [op] = await call(`delete future reservation ${names.futureReservation}`, () =>
      c.futureReservations.delete({
        project,
        zone,
        futureReservation: names.futureReservation,
        requestId: requestId(task.migrationId, 'delete', names.futureReservation),
      }),
    );
    await waitZoneOperation(c, task, opName(op), poll);
    return;
  }
  const target = { project, zone, instanceGroupManager: migrationWorkerGroup, resizeRequest: names.resizeRequest };
  const rr = await getOrUndefined('get resize request', async () => (await c.resizeRequests.get(target))[0]);
  if (!rr) return;
  if (WAITING_STATES.includes(String(rr.state))) {
    const [op] = await call(`cancel resize request ${names.resizeRequest}`, () =>
      c.resizeRequests.cancel({ ...target, requestId: requestId(task.migrationId, 'cancel', names.resizeRequest) }),
    );
    await waitZoneOperation(c, task, opName(op), poll);
  }
  const [op] = await call(`delete resize request ${names.resizeRequest}`, () =>
    c.resizeRequests.delete({ ...target, requestId: requestId(task.migrationId, 'delete', names.resizeRequest) }),
  );
  await waitZoneOperation(c, task, opName(op), poll);
}

/** The dry run of reserveGcpCapacity, from the same requests. */
export function describeReserve(task: DatabaseTask): PlannedOperation[] {
  const n = gcpNames(task);
  if (capacityMode(task.database.priority) === 'calendar') {
    const fr = futureReservationRequest(task).futureReservationResource!;
    const sku = fr.specificSkuProperties!;
    return [
      planned({
        state: 'RESERVING_CAPACITY',
        reads: ['compute.futureReservations.get'],
        calls: [plannedCall('compute.futureReservations.insert', n.futureReservationName)],
        resource: n.futureReservationName,
        detail:
          `calendar mode: ${sku.totalCount} x ${sku.instanceProperties!.machineType} for ${HOLD_DAYS} days, ` +
          `from ${CALENDAR_LEAD_MS / 60_000} min after this step`,
      }),
    ];
  }
  const rr = resizeRequestRequest(task);
  return [
    planned({
      state: 'RESERVING_CAPACITY',
      reads: ['compute.instanceGroupManagerResizeRequests.get'],
      calls: [plannedCall('compute.instanceGroupManagerResizeRequests.insert', n.resizeRequestName)],
      resource: n.resizeRequestName,
      detail:
        `flex-start: +${rr.instanceGroupManagerResizeRequestResource!.resizeBy} workers on ` +
        `${rr.instanceGroupManager} for up to ${HOLD_DAYS} days`,
    }),
  ];
}

/** The dry run of releaseGcpCapacity after a migration. */
export function describeRelease(task: DatabaseTask): PlannedOperation[] {
  const n = gcpNames(task);
  if (capacityMode(task.database.priority) === 'calendar')
    return [
      planned({
        state: 'COMPLETED',
        reads: ['compute.futureReservations.get'],
        calls: [plannedCall('compute.futureReservations.delete', n.futureReservationName)],
        resource: n.futureReservationName,
        detail: 'release the calendar-mode workers',
      }),
    ];
  return [
    planned({
      state: 'COMPLETED',
      reads: ['compute.instanceGroupManagerResizeRequests.get'],
      calls: [
        plannedCall('compute.instanceGroupManagerResizeRequests.cancel', n.resizeRequestName),
        plannedCall('compute.instanceGroupManagerResizeRequests.delete', n.resizeRequestName),
      ],
      resource: n.resizeRequestName,
      detail: `cancel while still ${WAITING_STATES.join(' or ')} (waiting for capacity), then delete`,
    }),
  ];
}
