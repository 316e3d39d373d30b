// Compute v1 advice.calendarMode: where and when calendar mode could reserve what is asked.
// REST: https://cloud.google.com/compute/docs/reference/rest/v1/advice/calendarMode
/* eslint-disable @typescript-eslint/no-explicit-any -- the fake keeps REST JSON as it comes */
import { ApiError, ok, type FakeGcp } from './server';
import { CALENDAR_SERIES, DAY, SEG, series } from './compute-common';

export function calendarAdviceRoutes(f: FakeGcp): void {
  // ---- advice.calendarMode (service Advice, compute.proto) ----
  // Recommends a zone and window for one resource spec, and says for each other location why not
  // (FutureResourcesRecommendationOtherLocation.Status). The rules are calendar mode's own
  // (future-reservations-calendar-mode-overview, create-future-reservations-calendar-mode): the
  // machine series it offers (else NOT_SUPPORTED), 1 to 80 VMs for 1 to 90 days starting 1 to 60
  // days ahead (else CONDITIONS_NOT_MET). The fake knows only the zones the request's location
  // policy allows; knob `compute:no-capacity/<zone>` makes a zone answer NO_CAPACITY.
  f.route(
    'POST',
    new RegExp(`^/compute/v1/projects/${SEG}/regions/${SEG}/advice/calendarMode$`),
    'compute.advice.calendarMode',
    (ctx) => {
      const specs = Object.entries<any>(ctx.body?.futureResourcesSpecs ?? {});
      // CalendarModeAdviceRequest.future_resources_specs: "Currently only one value is allowed in this map."
      if (specs.length !== 1)
        throw ApiError.invalid('futureResourcesSpecs', `exactly one resource spec is allowed, not ${specs.length}`);
      const [[key, spec]] = specs;
      const sku = spec.targetResources?.specificSkuResources ?? {};
      const range = spec.timeRangeSpec ?? {};
      const start = Date.parse(range.startTimeNotEarlierThan ?? '');
      const days = Number(String(range.maxDuration ?? range.minDuration ?? '0s').replace(/s$/, '')) / 86_400;
      const ahead = (start - Date.now()) / DAY;
      const count = Number(sku.instanceCount ?? 0);
      const zones = Object.entries<any>(spec.locationPolicy?.locations ?? {})
        .filter(([, l]) => l.preference !== 'DENY')
        .map(([z]) => z);
      const why = (z: string): { status: string; details: string } | undefined => {
        if (!CALENDAR_SERIES.includes(series(String(sku.machineType ?? ''))))
          return { status: 'NOT_SUPPORTED', details: `calendar mode does not offer ${sku.machineType}` };
        if (!(count >= 1 && count <= 80)) return { status: 'CONDITIONS_NOT_MET', details: '1 to 80 VMs per request' };
        if (!(days >= 1 && days <= 90)) return { status: 'CONDITIONS_NOT_MET', details: 'a duration of 1 to 90 days' };
        if (!(ahead >= 1 - 1 / 24 && ahead <= 60))
          return { status: 'CONDITIONS_NOT_MET', details: 'a start 1 to 60 days ahead' };
        if (f.resources.has(`compute:no-capacity/${z.split('/').pop()}`))
          return { status: 'NO_CAPACITY', details: 'no capacity for the requested window' };
        return undefined;
      };
      const location = zones.find((z) => !why(z));
      const otherLocations = Object.fromEntries(
        zones.filter((z) => z !== location).map((z) => [z, why(z) ?? { status: 'RECOMMENDED', details: '' }]),
      );
      const rec = {
        recommendationType: 'FUTURE_RESERVATION',
        ...(location
          ? {
              location,
              startTime: new Date(start).toISOString(),
              endTime: new Date(start + days * DAY).toISOString(),
              recommendationId: `rec-${f.random().toString(16).slice(2, 10)}`,
            }
          : {}),
        ...(Object.keys(otherLocations).length ? { otherLocations } : {}),
      };
      return ok({ recommendations: [{ recommendationsPerSpec: { [key]: rec } }] });
    },
  );
}
