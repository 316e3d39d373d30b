// Calendar-mode availability: Compute's advice.calendarMode (google/cloud/compute/v1/compute.proto
// service Advice, CalendarModeAdviceRpcRequest → CalendarModeAdviceResponse), asked before a
// calendar-mode future reservation is requested (calendar.ts) and by `dbmig gcp check`. It answers,
// per resource spec, a recommended location and window, and for each other location in scope why it
// was not recommended (FutureResourcesRecommendationOtherLocation.Status).
// https://cloud.google.com/compute/docs/instances/future-reservations-calendar-mode-overview
// https://cloud.google.com/compute/docs/reference/rest/v1/advice/calendarMode
import type { protos } from '@google-cloud/compute';
import type { DatabaseTask } from '../../../steps';
import { MigrationError } from '../../../../common/failures';
import type { GcpClients } from '../clients';
import { call } from '../errors';

type AdviceRequest = protos.google.cloud.compute.v1.ICalendarModeAdviceRpcRequest;
type AdviceResponse = protos.google.cloud.compute.v1.ICalendarModeAdviceResponse;

/** CalendarModeAdviceRequest.future_resources_specs: "Currently only one value is allowed in this map." */
export const ADVICE_SPEC = 'dbmig-workers';

/** The advice request for exactly the window, machine type, count and zone the reservation will ask. */
export function calendarAdviceRequest(
  task: Pick<DatabaseTask, 'gcp'>,
  window: { startTime: string; endTime: string },
  count: number,
): AdviceRequest {
  const { project, region, zone, machineType } = task.gcp!;
  const seconds = Math.round((Date.parse(window.endTime) - Date.parse(window.startTime)) / 1000);
  return {
    project,
    region,
    calendarModeAdviceRequestResource: {
      futureResourcesSpecs: {
        [ADVICE_SPEC]: {
          deploymentType: 'DENSE',
          targetResources: { specificSkuResources: { instanceCount: count, machineType } },
          // FlexibleTimeRange: the start pinned to the reservation's, the duration exactly its own.
          timeRangeSpec: {
            startTimeNotEarlierThan: window.startTime,
            startTimeNotLaterThan: window.startTime,
            minDuration: `${seconds}s`,
            maxDuration: `${seconds}s`,
          },
          // FutureResourcesSpecLocationPolicy: keys are 'zones/<zone>'.
          locationPolicy: { locations: { [`zones/${zone}`]: { preference: 'ALLOW' } } },
        },
      },
    },
  };
}

export interface CalendarAdvice {
  /** Google recommends the plan's zone for the window. */
  available: boolean;
  /** FutureResourcesRecommendationOtherLocation.Status for the zone when it is not recommended. */
  status?: string;
  /** Google's words (OtherLocation.details), or the window it recommends. */
  detail: string;
}

/** Reads the answer for the plan's zone. */
export function readAdvice(task: Pick<DatabaseTask, 'gcp'>, answer: AdviceResponse): CalendarAdvice {
  const zone = `zones/${task.gcp!.zone}`;
  const recs = (answer.recommendations ?? []).map((r) => r.recommendationsPerSpec?.[ADVICE_SPEC]).filter(Boolean);
  const here = recs.find((r) => r!.location === zone || r!.location?.endsWith(`/${zone}`));
  if (here)
    return { available: true, detail: `recommended in ${task.gcp!.zone} from ${here.startTime} to ${here.endTime}` };
  const other = recs.map((r) => r!.otherLocations?.[zone]).find(Boolean);
  const elsewhere = recs.map((r) => r!.location).filter(Boolean);
  const status = String(other?.status ?? 'NOT_RECOMMENDED');
  const also = elsewhere.length ? `; recommended instead: ${elsewhere.join(', ')}` : '';
  return {
    available: false,
    status,
    detail: `${status} in ${task.gcp!.zone}${other?.details ? `: ${other.details}` : ''}${also}`,
  };
}

export async function askCalendarAdvice(
  c: GcpClients,
  task: DatabaseTask,
  window: { startTime: string; endTime: string },
  count: number,
): Promise<CalendarAdvice> {
  const [answer] = await call(`ask calendar-mode availability in ${task.gcp!.region}`, () =>
    c.advice.calendarMode(calendarAdviceRequest(task, window, count)),
  );
  return readAdvice(task, answer);
}

/**
 * Before the request is sent: NO_CAPACITY in the window is a wait (the step retries; a later
 * window may have it), NOT_SUPPORTED or CONDITIONS_NOT_MET a refusal (asking again changes nothing:
 * OtherLocation.Status NOT_SUPPORTED "Retrying the request will not change this status").
 */
export function refuseWithoutCapacity(task: DatabaseTask, advice: CalendarAdvice, count: number): void {
  if (advice.available) return;
  const what = `calendar mode: ${count} x ${task.gcp!.machineType} for the window asked`;
  if (advice.status === 'NO_CAPACITY' || advice.status === 'NOT_RECOMMENDED')
    throw new MigrationError(
      'CapacityUnavailable',
      `${what}: Google's calendar-mode advice answers ${advice.detail}; waiting, the request is not sent`,
    );
  throw new MigrationError(
    'OperationFailed',
    `${what}: Google's calendar-mode advice answers ${advice.detail}; choose another zone, window or ` +
      'machine type, or a lower priority (flex-start)',
  );
}
