// What the parent hands each child for its anomaly detector's rate checks (common/expected-rates.ts):
// the rehearsal's rates `dbmig start` passed in, else the median per GB of the copies (and catch-up
// apply rates) the fleet has measured so far. The children's measured rates live in their
// summaries, which the parent carries across continue-as-new, so a later run's children get the
// same median.
import { expectedFor, type ExpectedRates, type FleetExpectations } from '../common/expected-rates';
import type { DatabasePlan } from '../common/plan';
import type { DatabaseSummary } from '../common/status';

export function childExpected(
  db: DatabasePlan,
  order: readonly DatabasePlan[],
  summaries: readonly DatabaseSummary[],
  rehearsed: FleetExpectations | undefined,
): ExpectedRates | undefined {
  const sizes = new Map(order.map((d) => [d.name, d.sizeGb]));
  const measured = summaries.flatMap((s) =>
    (s.copyBytesPerSecond || s.applyBytesPerSecond) && s.database !== db.name
      ? [
          {
            sizeGb: sizes.get(s.database) ?? 0,
            ...(s.copyBytesPerSecond ? { copyBytesPerSecond: s.copyBytesPerSecond } : {}),
            ...(s.applyBytesPerSecond ? { applyBytesPerSecond: s.applyBytesPerSecond } : {}),
          },
        ]
      : [],
  );
  const e = expectedFor(db.sizeGb, rehearsed?.[db.name], measured);
  return e.copyBytesPerSecond || e.applyBytesPerSecond ? e : undefined;
}
