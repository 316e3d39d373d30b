// Compute v1 future reservations (calendar mode) and the reservations Google auto-creates for them
// at their start, which a group's VMs consume. Knob for tests: resource
// `compute:decline/<future reservation>` (Google declines it).
// REST: https://cloud.google.com/compute/docs/reference/rest/v1/futureReservations
/* eslint-disable @typescript-eslint/no-explicit-any -- the fake keeps REST JSON as it comes */
import { ApiError, ok, type FakeGcp } from './server';
import { CALENDAR_SERIES, DAY, SEG, STEP_POLLS, ZONE, bad, need, op, render, seconds, series } from './compute-common';

export function futureReservationRoutes(f: FakeGcp): void {
  // FutureReservationStatus.ProcurementStatus: SUBMITTED requests go PENDING_APPROVAL → APPROVED →
  // PROVISIONING (after start_time, reservations being created) → FULFILLED, or DECLINED.
  const frKey = (p: string, z: string, n: string) => `fr/${p}/${z}/${n}`;
  const getFr = (p: string, z: string, n: string) => {
    const fr = f.resources.get(frKey(p, z, n));
    // https://cloud.google.com/apis/design/errors (404 NOT_FOUND)
    if (!fr) throw new ApiError(404, `The resource 'projects/${p}/zones/${z}/futureReservations/${n}' was not found`);
    return fr;
  };
  const NEXT: Record<string, string> = {
    PENDING_APPROVAL: 'APPROVED',
    APPROVED: 'PROVISIONING',
    PROVISIONING: 'FULFILLED',
  };
  const step = (p: string, z: string, fr: any) => {
    const s = fr.status.procurementStatus;
    if (!NEXT[s] || ++fr._reads < STEP_POLLS) return;
    fr._reads = 0;
    if (s === 'PENDING_APPROVAL' && f.resources.has(`compute:decline/${fr.name}`))
      return void (fr.status.procurementStatus = 'DECLINED');
    fr.status.procurementStatus = NEXT[s];
    if (NEXT[s] === 'FULFILLED') {
      // At the start time Compute Engine creates the reservation(s) (auto-created reservations).
      const res = fr.reservationName ?? `${fr.name}-${Date.now()}`;
      const url = `projects/${p}/zones/${z}/reservations/${res}`;
      fr.status.autoCreatedReservations = [url];
      fr.status.fulfilledCount = fr.specificSkuProperties.totalCount;
      f.resources.set(`res/${p}/${z}/${res}`, {
        kind: 'compute#reservation',
        name: res,
        zone: z,
        selfLink: url,
        specificReservationRequired: !!fr.specificReservationRequired,
        specificReservation: {
          count: String(fr.specificSkuProperties.totalCount),
          inUseCount: '0',
          instanceProperties: { ...fr.specificSkuProperties.instanceProperties },
        },
        status: 'READY',
      });
    }
  };
  f.route(
    'GET',
    new RegExp(`${ZONE}/futureReservations/${SEG}$`),
    'compute.futureReservations.get',
    ({ params: [p, z, n] }) => {
      const fr = getFr(p, z, n);
      step(p, z, fr);
      return ok(render(fr));
    },
  );
  f.route('POST', new RegExp(`${ZONE}/futureReservations$`), 'compute.futureReservations.insert', (ctx) =>
    f.idempotent(ctx, () => {
      const [p, z] = ctx.params;
      const b = ctx.body ?? {};
      need(b.name, 'resource.name');
      need(b.timeWindow?.startTime, 'resource.timeWindow.startTime');
      // A future reservation's period ends at an end time or after a duration
      // (google/cloud/compute/v1/compute.proto FutureReservationTimeWindow).
      if (!b.timeWindow.endTime && !b.timeWindow.duration)
        throw bad("Required field 'resource.timeWindow.endTime' not specified");
      const sku = b.specificSkuProperties;
      if (!sku?.sourceInstanceTemplate)
        need(sku?.instanceProperties?.machineType, 'resource.specificSkuProperties.instanceProperties.machineType');
      need(sku?.totalCount, 'resource.specificSkuProperties.totalCount');
      const start = Date.parse(b.timeWindow.startTime);
      const end = b.timeWindow.endTime
        ? Date.parse(b.timeWindow.endTime)
        : start + seconds(b.timeWindow.duration) * 1000;
      // google/cloud/compute/v1/compute.proto FutureReservationTimeWindow: a period from start_time on.
      if (!(end > start)) throw bad('timeWindow.endTime must be after timeWindow.startTime');
      // https://cloud.google.com/compute/docs/instances/future-reservations-calendar-mode-overview
      if (b.reservationMode === 'CALENDAR') {
        const mt = sku.instanceProperties?.machineType ?? '';
        if (!CALENDAR_SERIES.includes(series(mt)))
          throw bad(
            `Calendar mode does not offer machine type ${mt}: ` +
              `only the ${CALENDAR_SERIES.join(', ')} machine series (GPU and H4D VMs)`,
          );
        if (Number(sku.totalCount) < 1 || Number(sku.totalCount) > 80)
          throw bad('Calendar mode reserves 1 to 80 GPU VMs per request');
        const days = (end - start) / DAY;
        if (days < 1 || days > 90) throw bad(`Calendar mode reserves for 1 to 90 days, not ${days.toFixed(2)}`);
        const ahead = (start - Date.now()) / DAY;
        if (ahead < 1 - 1 / 24 || ahead > 60)
          throw bad(
            `Calendar mode requests start 1 to 60 days ahead; timeWindow.startTime is ${ahead.toFixed(2)} days ahead`,
          );
      }
      // https://cloud.google.com/apis/design/errors (409 ALREADY_EXISTS)
      if (f.resources.has(frKey(p, z, b.name)))
        throw new ApiError(409, `The resource 'projects/${p}/zones/${z}/futureReservations/${b.name}' already exists`);
      const submitted = b.planningStatus === 'SUBMITTED';
      return op(f, z, () =>
        f.resources.set(frKey(p, z, b.name), {
          kind: 'compute#futureReservation',
          ...b,
          zone: z,
          status: { procurementStatus: submitted ? 'PENDING_APPROVAL' : 'DRAFTING' },
          _reads: 0,
        }),
      );
    }),
  );
  /** A submitted calendar-mode request cannot be cancelled or deleted:
   * https://cloud.google.com/compute/docs/instances/create-future-reservations-calendar-mode */
  const endable = (fr: any, verb: string) => {
    if (fr.reservationMode === 'CALENDAR' && fr.planningStatus === 'SUBMITTED')
      throw bad(`A calendar-mode future reservation cannot be ${verb} after it is submitted`);
  };
  f.route('POST', new RegExp(`${ZONE}/futureReservations/${SEG}/cancel$`), 'compute.futureReservations.cancel', (ctx) =>
    f.idempotent(ctx, () => {
      const [p, z, n] = ctx.params;
      const fr = getFr(p, z, n);
      endable(fr, 'cancelled');
      // A request can be cancelled only before its lock time:
      // https://cloud.google.com/compute/docs/instances/delete-future-reservations
      if (['PROVISIONING', 'FULFILLED'].includes(fr.status.procurementStatus))
        throw bad(`future reservation ${n} is ${fr.status.procurementStatus}; it can no longer be cancelled`);
      return op(f, z, () => (fr.status.procurementStatus = 'CANCELLED'));
    }),
  );
  f.route('DELETE', new RegExp(`${ZONE}/futureReservations/${SEG}$`), 'compute.futureReservations.delete', (ctx) =>
    f.idempotent(ctx, () => {
      const [p, z, n] = ctx.params;
      const fr = getFr(p, z, n);
      endable(fr, 'deleted');
      // Deleting a (non-calendar) future reservation leaves its auto-created reservations in place.
      return op(f, z, () => f.resources.delete(frKey(p, z, n)));
    }),
  );
}
