// Dynamic Workload Scheduler through the Compute Engine API v1: guaranteed calendar-mode capacity
// (calendar.ts: a future reservation, then the database's worker group consuming its auto-created
// reservation, worker-group.ts) for high priority where Google offers calendar mode for the machine type, flex-start
// capacity (flex-start.ts: a resize request on the database's own FLEX_START worker group,
// worker-group.ts) otherwise. https://cloud.google.com/compute/docs/dws
import { capacityMode as modeFor } from '../../../../common/capacity';
import type { CapacityReservation, DatabaseTask, PlannedOperation } from '../../../steps';
import type { GcpClients } from '../clients';
import {
  CALENDAR_DAYS,
  CALENDAR_LEAD_MS,
  futureReservationRequest,
  releaseCalendar,
  reserveCalendar,
} from './calendar';
import { WAITING_STATES, releaseFlexStart, reserveFlexStart, resizeRequestRequest } from './flex-start';
import { gcpNames } from '../names';
import { planned, plannedCall } from '../planned';
import type { PollOptions } from '../poll';
import { HOLD_SECONDS, resizeGroupRequest, templateRequest, workerGroupNames } from './worker-group';

/** The mode this database gets on gcp: priority, within what Google offers for the machine type. */
export const gcpCapacityMode = (task: DatabaseTask) => modeFor(task.database.priority, task.gcp!.machineType);

/**
 * Answers once the capacity is there; while it is not (flex-start waiting, calendar mode before its
 * start time) throws a retryable CapacityUnavailable, and the step's retries are the wait.
 */
export async function reserveGcpCapacity(
  c: GcpClients,
  task: DatabaseTask,
  poll: PollOptions,
  now = Date.now(),
): Promise<CapacityReservation> {
  return gcpCapacityMode(task) === 'calendar' ? reserveCalendar(c, task, poll, now) : reserveFlexStart(c, task, poll);
}

export async function releaseGcpCapacity(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<void> {
  if (gcpCapacityMode(task) === 'calendar') await releaseCalendar(c, task, poll);
  else await releaseFlexStart(c, task, poll);
}

const templatePath = (task: DatabaseTask) => workerGroupNames(task).templateUrl;
const rrPath = (task: DatabaseTask) =>
  `${workerGroupNames(task).groupPath}/resizeRequests/${gcpNames(task).resizeRequest}`;

/** The dry run of reserveGcpCapacity on a first run, from the same requests. */
export function describeReserve(task: DatabaseTask): PlannedOperation[] {
  const n = gcpNames(task);
  if (gcpCapacityMode(task) === 'calendar') {
    const fr = futureReservationRequest(task).futureReservationResource!;
    const sku = fr.specificSkuProperties!;
    const g = workerGroupNames(task);
    // The auto-created reservation takes the request's reservationName (calendar.ts).
    const tpl = templateRequest(task, fr.reservationName!).instanceTemplateResource!.properties!;
    const resize = resizeGroupRequest(task, Number(sku.totalCount));
    return [
      planned({
        state: 'RESERVING_CAPACITY',
        reads: ['compute.futureReservations.get'],
        calls: [plannedCall('compute.futureReservations.insert', n.futureReservationName)],
        resource: n.futureReservationName,
        detail:
          `calendar mode: ${sku.totalCount} x ${sku.instanceProperties!.machineType} for ${CALENDAR_DAYS} days, ` +
          `from the first whole hour ${CALENDAR_LEAD_MS / 3600_000} h after this step; waits for FULFILLED`,
      }),
      planned({
        state: 'RESERVING_CAPACITY',
        reads: ['compute.instanceTemplates.get', 'compute.instanceGroupManagers.get'],
        calls: [
          plannedCall('compute.instanceTemplates.insert', templatePath(task)),
          plannedCall('compute.instanceGroupManagers.insert', g.groupPath),
          plannedCall('compute.instanceGroupManagers.resize', g.groupPath),
        ],
        resource: g.groupPath,
        detail:
          `worker group: ${tpl.scheduling!.provisioningModel} template ${g.template} ` +
          `(${task.gcp!.machineType}) consuming reservation ${tpl.reservationAffinity!.values![0]} ` +
          `(SPECIFIC_RESERVATION), MIG ${g.group} created at size 0 then resized to ${resize.size}`,
      }),
    ];
  }
  const rr = resizeRequestRequest(task);
  const rrName = rr.instanceGroupManagerResizeRequestResource!.name!;
  const g = workerGroupNames(task);
  const why =
    task.database.priority === 'high'
      ? ` (priority high, but calendar mode does not take ${task.gcp!.machineType})`
      : '';
  return [
    planned({
      state: 'RESERVING_CAPACITY',
      reads: ['compute.instanceTemplates.get', 'compute.instanceGroupManagers.get'],
      calls: [
        plannedCall('compute.instanceTemplates.insert', templatePath(task)),
        plannedCall('compute.instanceGroupManagers.insert', g.groupPath),
      ],
      resource: g.groupPath,
      detail:
        `worker group: FLEX_START template ${g.template} (${task.gcp!.machineType}), ` +
        `MIG ${g.group} at size 0, no autoscaler`,
    }),
    planned({
      state: 'RESERVING_CAPACITY',
      reads: ['compute.instanceGroupManagerResizeRequests.list', 'compute.instanceGroupManagerResizeRequests.get'],
      calls: [plannedCall('compute.instanceGroupManagerResizeRequests.insert', rrPath(task))],
      resource: rrPath(task),
      detail:
        `flex-start${why}: +${rr.instanceGroupManagerResizeRequestResource!.resizeBy} workers for up to ` +
        `${HOLD_SECONDS / 86_400} days; waits for SUCCEEDED; a request Google ends (FAILED, CANCELLED) ` +
        `is followed by a new one under a new name and request id (${rrName}-2, …)`,
    }),
  ];
}

/** The dry run of releaseGcpCapacity after a migration whose capacity was granted. */
export function describeRelease(task: DatabaseTask): PlannedOperation[] {
  const n = gcpNames(task);
  const g = workerGroupNames(task);
  const deleteGroup = planned({
    state: 'COMPLETED',
    reads: ['compute.instanceGroupManagers.get', 'compute.instanceTemplates.get'],
    calls: [
      plannedCall('compute.instanceGroupManagers.delete', g.groupPath),
      plannedCall('compute.instanceTemplates.delete', templatePath(task)),
    ],
    resource: g.groupPath,
    detail: 'deleting the group deletes the workers it made; each only when this migration and database made it',
  });
  if (gcpCapacityMode(task) === 'calendar')
    return [
      deleteGroup,
      planned({
        state: 'COMPLETED',
        reads: ['compute.futureReservations.get'],
        resource: n.futureReservationName,
        detail:
          'nothing to send: a submitted calendar-mode request cannot be cancelled or deleted; it and its ' +
          'auto-created reservation (autoDeleteAutoCreatedReservations) end at the end time',
      }),
    ];
  return [
    planned({
      state: 'COMPLETED',
      reads: ['compute.instanceGroupManagerResizeRequests.list'],
      calls: [plannedCall('compute.instanceGroupManagerResizeRequests.delete', rrPath(task))],
      resource: rrPath(task),
      detail: `cancelled first while still ${WAITING_STATES.join(' or ')} (waiting for capacity)`,
    }),
    deleteGroup,
  ];
}
