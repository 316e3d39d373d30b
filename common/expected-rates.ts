// What a database's copy and apply rates are expected to be, for the anomaly detector's copy-slow
// and apply-slow (common/anomaly.ts): the latest passed rehearsal of the same plan that measured
// the database (`dbmig start` reads the records and hands them to the fleet with its input), else
// the fleet's own median of the databases that already finished their copy (the parent collects
// each child's measured rate). A rate is throughput, time per GB: a database ten times larger takes
// ten times longer at the same rate, so the median is not scaled by size. Where neither exists
// nothing is expected: no default is invented, so no rate is judged. Pure: the callers read the
// records and the summaries.

/** Bytes per second a database's copy and apply should reach; absent: nothing expected. */
export interface ExpectedRates {
  copyBytesPerSecond?: number;
  applyBytesPerSecond?: number;
  /** Where the numbers came from, for the status (e.g. "rehearsal of 2026-12-01T10:00:00Z"). */
  source?: string;
}

/** Per database name: what `dbmig start` found in the rehearsals, handed to the fleet. */
export type FleetExpectations = Record<string, ExpectedRates>;

/** A rehearsal measures MB/s of 1,048,576 bytes (cli/rehearsal-rates.ts). */
export const REHEARSAL_MB = 1_048_576;

/** The fields of a rehearsal record this module reads (cli/rehearsal-record.ts RehearsalRecord). */
export interface RehearsalMeasurement {
  planHash: string;
  passed: boolean;
  finishedAt: string;
  rates?: {
    name: string;
    /** The initial copy's MB/s. */
    mbPerSecond?: number;
    /** The apply rate during catch-up, MB/s (rehearsals from issue 21 on record it). */
    applyMbPerSecond?: number;
  }[];
}

/**
 * Per database of the plan: the newest passed rehearsal of this plan (by hash) that measured it.
 * Databases no such rehearsal measured are left out (the fleet's median may cover them later).
 */
export function expectedFromRehearsals(
  databases: readonly string[],
  hash: string,
  records: readonly RehearsalMeasurement[],
): FleetExpectations {
  const passed = records
    .filter((r) => r.passed && r.planHash === hash)
    .sort((a, b) => Date.parse(b.finishedAt) - Date.parse(a.finishedAt));
  const out: FleetExpectations = {};
  for (const name of databases) {
    for (const r of passed) {
      const m = r.rates?.find((x) => x.name === name);
      const copy = positive(m?.mbPerSecond);
      const apply = positive(m?.applyMbPerSecond);
      if (copy === undefined && apply === undefined) continue;
      out[name] = {
        ...(copy !== undefined ? { copyBytesPerSecond: copy * REHEARSAL_MB } : {}),
        ...(apply !== undefined ? { applyBytesPerSecond: apply * REHEARSAL_MB } : {}),
        source: `rehearsal of ${r.finishedAt}`,
      };
      break;
    }
  }
  return out;
}

const positive = (n: number | undefined) => (n !== undefined && Number.isFinite(n) && n > 0 ? n : undefined);

export function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** A database of the fleet whose copy finished: what its child measured. */
export interface FleetMeasurement {
  copyBytesPerSecond?: number;
  applyBytesPerSecond?: number;
}

/**
 * What a database about to start should expect: each rate from its rehearsal where one measured
 * it, else the median of the rates the fleet's databases measured so far.
 */
export function expectedFor(rehearsed: ExpectedRates | undefined, fleet: readonly FleetMeasurement[]): ExpectedRates {
  const rates = (k: 'copyBytesPerSecond' | 'applyBytesPerSecond') =>
    fleet.flatMap((m) => (m[k] && m[k] > 0 ? [m[k]] : []));
  const copies = rates('copyBytesPerSecond');
  const applies = rates('applyBytesPerSecond');
  const copy = rehearsed?.copyBytesPerSecond ?? median(copies);
  const apply = rehearsed?.applyBytesPerSecond ?? median(applies);
  const fromFleet =
    (rehearsed?.copyBytesPerSecond === undefined && copy) || (rehearsed?.applyBytesPerSecond === undefined && apply);
  const sources = [
    ...(rehearsed?.source ? [rehearsed.source] : []),
    ...(fromFleet ? [`fleet median of ${Math.max(copies.length, applies.length)} database(s)`] : []),
  ];
  return {
    ...(copy ? { copyBytesPerSecond: copy } : {}),
    ...(apply ? { applyBytesPerSecond: apply } : {}),
    ...(sources.length ? { source: sources.join(' and ') } : {}),
  };
}

const mbs = (n: number) => `${(n / 1e6).toFixed(2)} MB/s`;

/** One line for the status: what the copy and apply are compared with, or that nothing is. */
export function describeExpected(e: ExpectedRates | undefined): string {
  const copy = e?.copyBytesPerSecond;
  const apply = e?.applyBytesPerSecond;
  // Short: the parent carries every database's summary across its continue-as-new.
  if (!copy && !apply) return 'none (no rehearsal measured it, no copy had finished): rates not judged';
  const none = 'not judged (nothing expected)';
  const from = e?.source ? ` (from the ${e.source})` : '';
  return `copy ${copy ? mbs(copy) : none}, apply ${apply ? mbs(apply) : none}${from}`;
}
