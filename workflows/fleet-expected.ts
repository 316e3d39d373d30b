// What the parent hands each child for its anomaly detector's rate checks (common/expected-rates.ts):
// the rehearsal's rates `dbmig start` passed in, else the median of the copy (and catch-up apply)
// rates the fleet has measured so far. The children's measured rates live in their summaries,
// which the parent carries across continue-as-new, so a later run's children get the same median.
import { expectedFor, type ExpectedRates, type FleetExpectations } from '../common/expected-rates';
import type { DatabasePlan } from '../common/plan';
import type { DatabaseSummary } from '../common/status';

export function childExpected(
  db: DatabasePlan,
  summaries: readonly DatabaseSummary[],
  rehearsed: FleetExpectations | undefined,
): ExpectedRates | undefined {
  const measured = summaries.filter((s) => s.database !== db.name);
  const e = expectedFor(rehearsed?.[db.name], measured);
  return e.copyBytesPerSecond || e.applyBytesPerSecond ? e : undefined;
}
