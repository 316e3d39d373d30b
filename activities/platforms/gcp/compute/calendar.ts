// Calendar-mode capacity: a future reservation request in calendar mode (Dynamic Workload
// Scheduler), for the machine series Google offers it for (common/capacity.ts CALENDAR_MODE_SERIES).
// Google reviews the request (PENDING_APPROVAL → APPROVED), then at the start time creates the
// reservation (PROVISIONING → FULFILLED), which the workers consume until the end time: the
// database's worker group (worker-group.ts) with a template that names the auto-created reservation
// (SPECIFIC_RESERVATION), resized to the reserved count.
// https://cloud.google.com/compute/docs/instances/future-reservations-calendar-mode-overview
// https://cloud.google.com/compute/docs/instances/create-future-reservations-calendar-mode
// https://cloud.google.com/compute/docs/instances/reservations-consume
// Before the request, Compute's calendar-mode advice is asked for the same window (advice.ts).
// https://cloud.google.com/compute/docs/instances/about-reservation-bound-vms
// Shapes: google/cloud/compute/v1/compute.proto (FutureReservation: reservation_mode CALENDAR,
// planning_status SUBMITTED, deployment_type DENSE; FutureReservationStatus.ProcurementStatus).
import type { protos } from '@google-cloud/compute';
import { CALENDAR_MODE_SERIES, calendarModeOffers, workerCount } from '../../../../common/capacity';
import type { CapacityReservation, DatabaseTask } from '../../../steps';
import { MigrationError } from '../../../../common/failures';
import type { GcpClients } from '../clients';
import { askCalendarAdvice, refuseWithoutCapacity } from './advice';
import { pollFor, waitZoneOperation } from './operations';
import { CAPACITY_WAIT_MS } from './flex-start';
import { call, getOrUndefined } from '../errors';
import { gcpNames, gcpRequestId } from '../names';
import type { PollOptions } from '../poll';
import { deleteWorkerGroup, ensureWorkerGroup, resizeWorkerGroup } from './worker-group';

type FutureReservation = protos.google.cloud.compute.v1.IFutureReservation;

/**
 * Availability is shown, and requests start, from one day ahead (GPU and H4D up to 60 days ahead):
 * the request starts on the first whole hour at least a day away.
 */
export const CALENDAR_LEAD_MS = 24 * 3600_000;
/** Calendar mode reserves for 1 to 90 days; the workers are held as long as flex-start's maximum. */
export const CALENDAR_DAYS = 7;
/** At most 80 GPU VMs per request (create-future-reservations-calendar-mode, "Limitations"). */
const MAX_VMS = 80;

/** The request can no longer become capacity. */
const REFUSED = ['DECLINED', 'FAILED', 'FAILED_PARTIALLY_FULFILLED', 'CANCELLED'];

export function calendarWindow(now: number) {
  const start = Math.ceil((now + CALENDAR_LEAD_MS) / 3600_000) * 3600_000;
  return {
    startTime: new Date(start).toISOString(),
    endTime: new Date(start + CALENDAR_DAYS * 86_400_000).toISOString(),
  };
}

export function futureReservationRequest(
  task: DatabaseTask,
  now = Date.now(),
): protos.google.cloud.compute.v1.IInsertFutureReservationRequest {
  const { project, zone, machineType } = task.gcp!;
  const name = gcpNames(task).futureReservation;
  return {
    project,
    zone,
    requestId: gcpRequestId(task, 'insert', name),
    futureReservationResource: {
      name,
      description: `dbmig ${task.migrationId}/${task.database.name}: guaranteed migration workers`,
      reservationMode: 'CALENDAR',
      planningStatus: 'SUBMITTED',
      deploymentType: 'DENSE',
      specificReservationRequired: true,
      // The auto-created reservation gets a known name, so an operator can find what consumes it.
      reservationName: name,
      specificSkuProperties: {
        totalCount: Math.min(MAX_VMS, workerCount(task.database.sizeGb)),
        instanceProperties: { machineType },
      },
      timeWindow: calendarWindow(now),
      // Deleted with its VMs at the end time, so nothing stays reserved (and billed) after it.
      autoDeleteAutoCreatedReservations: true,
    },
  };
}

/** The plan's machine type must be one calendar mode takes; capacity.ts sends others to flex-start. */
export function checkCalendarMachineType(task: DatabaseTask): void {
  if (!calendarModeOffers(task.gcp!.machineType))
    throw new MigrationError(
      'InvalidPlan',
      `gcp.machineType ${task.gcp!.machineType}: calendar-mode future reservations take only the ` +
        `${CALENDAR_MODE_SERIES.join(', ')} machine series`,
    );
}

function difference(have: FutureReservation, want: FutureReservation): string | undefined {
  const pairs: [string, unknown, unknown][] = [
    ['reservationMode', have.reservationMode, want.reservationMode],
    [
      'specificSkuProperties.totalCount',
      Number(have.specificSkuProperties?.totalCount ?? 0),
      want.specificSkuProperties!.totalCount,
    ],
    [
      'specificSkuProperties.instanceProperties.machineType',
      have.specificSkuProperties?.instanceProperties?.machineType,
      want.specificSkuProperties!.instanceProperties!.machineType,
    ],
    ['autoDeleteAutoCreatedReservations', !!have.autoDeleteAutoCreatedReservations, true],
  ];
  const d = pairs.find(([, h, w]) => String(h ?? '') !== String(w ?? ''));
  return d && `${d[0]} is ${JSON.stringify(d[1] ?? null)}, the plan needs ${JSON.stringify(d[2])}`;
}

export async function reserveCalendar(
  c: GcpClients,
  task: DatabaseTask,
  poll: PollOptions,
  now = Date.now(),
): Promise<CapacityReservation> {
  checkCalendarMachineType(task);
  const { project, zone } = task.gcp!;
  const request = futureReservationRequest(task, now);
  const want = request.futureReservationResource!;
  const name = want.name!;
  const workers = Number(want.specificSkuProperties!.totalCount);
  const get = () =>
    getOrUndefined(
      `get future reservation ${name}`,
      async () => (await c.futureReservations.get({ project, zone, futureReservation: name }))[0],
    );

  const have = await get();
  if (have) {
    const diff = difference(have, want);
    if (diff) throw new MigrationError('AlreadyExistsMismatch', `future reservation ${name} exists: ${diff}`);
  } else {
    // Asked first: a submitted request cannot be taken back, so it is sent only for a window
    // Google's advice says it has (advice.ts).
    const advice = await askCalendarAdvice(c, task, want.timeWindow as { startTime: string; endTime: string }, workers);
    refuseWithoutCapacity(task, advice, workers);
    const [op] = await call(`create future reservation ${name}`, () => c.futureReservations.insert(request));
    await waitZoneOperation(c, task, op, poll);
  }

  const status = (fr: FutureReservation | undefined) => String(fr?.status?.procurementStatus ?? 'UNKNOWN');
  const fr = await pollFor(
    get,
    (r) => status(r) === 'FULFILLED' || REFUSED.includes(status(r)),
    poll.intervalMs,
    Math.min(poll.timeoutMs, CAPACITY_WAIT_MS),
  );
  if (status(fr) === 'FULFILLED') {
    // FutureReservationStatus.auto_created_reservations: the reservations made at the start time.
    const reservation = String(fr?.status?.autoCreatedReservations?.[0] ?? '')
      .split('/')
      .pop();
    if (!reservation)
      throw new MigrationError(
        'CapacityUnavailable',
        `calendar-mode future reservation ${name} is FULFILLED but names no auto-created reservation yet ` +
          `(starts ${fr?.timeWindow?.startTime ?? want.timeWindow!.startTime}); waiting`,
      );
    // The workers: VMs that consume that reservation, as many as it holds.
    await ensureWorkerGroup(c, task, poll, reservation);
    await resizeWorkerGroup(c, task, poll, workers);
    return { name, mode: 'calendar', workers };
  }
  if (REFUSED.includes(status(fr)))
    throw new MigrationError(
      'OperationFailed',
      `calendar-mode future reservation ${name} is ${status(fr)}: Google will not provide ${workers} x ` +
        `${task.gcp!.machineType} in ${zone}; choose another zone or window, or a lower priority (flex-start)`,
    );
  throw new MigrationError(
    'CapacityUnavailable',
    `calendar-mode future reservation ${name} is ${status(fr)} ` +
      `(starts ${fr?.timeWindow?.startTime ?? want.timeWindow!.startTime}); waiting`,
  );
}

/**
 * Deletes the worker group (and its VMs, which frees the reservation) and its template
 * (worker-group.ts: each only when this migration and database made it). The request itself cannot
 * be cancelled, deleted or modified once submitted (create-future-reservations-calendar-mode,
 * "Limitations for all requests"). It ends by itself: CALENDAR mode ends the reservation and its VMs
 * at the end time (FutureReservation.ReservationMode), and autoDeleteAutoCreatedReservations deletes
 * the auto-created reservation then. Release checks that this holds and sends nothing for it.
 */
export async function releaseCalendar(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<void> {
  await deleteWorkerGroup(c, task, poll);
  const { project, zone } = task.gcp!;
  const name = gcpNames(task).futureReservation;
  const fr = await getOrUndefined(
    `get future reservation ${name}`,
    async () => (await c.futureReservations.get({ project, zone, futureReservation: name }))[0],
  );
  if (!fr) return;
  if (fr.reservationMode !== 'CALENDAR' || !fr.autoDeleteAutoCreatedReservations)
    throw new MigrationError(
      'AlreadyExistsMismatch',
      `future reservation ${name} is not a calendar-mode request whose reservations end by themselves ` +
        `(reservationMode ${fr.reservationMode}, ` +
        `autoDeleteAutoCreatedReservations ${fr.autoDeleteAutoCreatedReservations}); ` +
        `an operator must end it`,
    );
}
