// What `dbmig forecast` tells the simulated platform about each database: how long its copy,
// catch-up and validation take, from the latest rehearsal's measured rates (cli/rehearsal-rates.ts)
// for the same plan (by hash), else for a database of the same name in any rehearsal (scaled by
// size), else from the named defaults below. Pure: the caller reads the records.
import type { SimSettings } from './sim-plan';
import type { DatabasePlan, Plan } from './plan';

/** What a rehearsal recorded for one database (the fields this module reads). */
export interface MeasuredRates {
  name: string;
  sizeGb: number;
  sourceBytes: number;
  copyBytes: number;
  copyMs?: number;
  mbPerSecond?: number;
  catchUpMs?: number;
  lagAfterCatchUpSeconds?: number | null;
  validationMs?: number;
}

export interface RehearsalRates {
  planHash: string;
  finishedAt: string;
  rates?: MeasuredRates[];
}

/** Used where no rehearsal measured a database: named, and printed, so nobody mistakes them for a measurement. */
export const FORECAST_DEFAULTS = {
  /** An initial copy's rate (Database Migration Service's full dump of a mid-size PostgreSQL). */
  copyMbPerSecond: 20,
  /** Catch-up after the copy, before the stable window: the writes queued while copying. */
  catchUpMs: 60_000,
  /** The live validation: a count and checksum per table, per GB. */
  validationMsPerGb: 30_000,
  /** How long a human takes to approve when the plan's approval is manual. */
  approvalWaitMs: 3_600_000,
  /** The write block of the cutover. */
  cutoverMs: 5_000,
} as const;

export interface Calibration {
  database: string;
  /** Where the numbers came from: a rehearsal of this plan, of a database by that name, or the defaults. */
  source: 'rehearsal' | 'rehearsal-by-name' | 'defaults';
  /** The rehearsal used, when one was. */
  rehearsal?: { planHash: string; finishedAt: string };
  copyMs: number;
  catchUpMs: number;
  validationMs: number;
  /** Which fields fell back to defaults (a rehearsal too short to time one). */
  defaulted: string[];
}

const GB = 1024 ** 3;

/** Per database: the newest rehearsal of this plan, else the newest measuring a database of that name. */
export function calibrate(
  plan: Plan,
  hash: string,
  rehearsals: readonly RehearsalRates[],
  stableWindowMs: (d: DatabasePlan) => number,
): Calibration[] {
  const newest = [...rehearsals].sort((a, b) => Date.parse(b.finishedAt) - Date.parse(a.finishedAt));
  return plan.databases.map((d) => {
    const sameNamed = (r: RehearsalRates) => r.rates?.find((x) => x.name === d.name);
    const mine = newest.find((r) => r.planHash === hash && sameNamed(r));
    const other = mine ?? newest.find((r) => sameNamed(r));
    const defaulted: string[] = [];
    const fallback = <T>(field: string, v: T | undefined, dflt: T): T => {
      if (v !== undefined) return v;
      defaulted.push(field);
      return dflt;
    };
    const bytes = d.sizeGb * GB;
    if (!other) {
      return {
        database: d.name,
        source: 'defaults',
        copyMs: Math.round((bytes / (FORECAST_DEFAULTS.copyMbPerSecond * 1_048_576)) * 1000),
        catchUpMs: FORECAST_DEFAULTS.catchUpMs,
        validationMs: Math.round(FORECAST_DEFAULTS.validationMsPerGb * d.sizeGb),
        defaulted: ['copy', 'catchUp', 'validation'],
      };
    }
    const m = sameNamed(other)!;
    // The same plan: the rehearsal copied this very source; its copy time scales from the copy it
    // measured to the source's real size (a sample). Another plan: scaled by the plans' sizeGb.
    const scale = mine ? m.sourceBytes / Math.max(1, m.copyBytes) : d.sizeGb / Math.max(1e-9, m.sizeGb);
    const copyMs = m.copyMs !== undefined ? m.copyMs * scale : undefined;
    // Catch-up as measured ends after the stable window, which the forecast's run waits itself.
    const catchUp = m.catchUpMs !== undefined ? Math.max(0, m.catchUpMs - stableWindowMs(d)) : undefined;
    return {
      database: d.name,
      source: mine ? 'rehearsal' : 'rehearsal-by-name',
      rehearsal: { planHash: other.planHash, finishedAt: other.finishedAt },
      copyMs: Math.round(fallback('copy', copyMs, (bytes / (FORECAST_DEFAULTS.copyMbPerSecond * 1_048_576)) * 1000)),
      catchUpMs: Math.round(fallback('catchUp', catchUp, FORECAST_DEFAULTS.catchUpMs)),
      validationMs: Math.round(
        fallback(
          'validation',
          m.validationMs !== undefined ? m.validationMs * scale : undefined,
          FORECAST_DEFAULTS.validationMsPerGb * d.sizeGb,
        ),
      ),
      defaulted,
    };
  });
}

const ms = (n: number) => `${Math.max(0, Math.round(n))}ms`;

/**
 * The simulated platform's settings for one database, every duration divided by `speedup` (the
 * forecast runs the plan's workflows that much faster than real time and scales their timeline
 * back): the copy as fullDump, catch-up as a lag curve falling to the threshold as it ends
 * (the runbook then waits its stable window), the live validation as validateData's duration.
 */
export function simFor(c: Calibration, lagThresholdSeconds: number, speedup: number, pollMs: number): SimSettings {
  const catchUp = c.catchUpMs / speedup;
  return {
    pollInterval: ms(pollMs),
    steps: { validateData: ms(c.validationMs / speedup), cutover: ms(FORECAST_DEFAULTS.cutoverMs / speedup) },
    fullDump: ms(c.copyMs / speedup),
    fullDumpPerGb: '0s',
    lag:
      catchUp > 0
        ? [
            // At the threshold exactly when catch-up ends, then caught up.
            { after: '0s', seconds: lagThresholdSeconds * 4 },
            { after: ms(catchUp), seconds: lagThresholdSeconds },
            { after: ms(catchUp + 1), seconds: 0 },
          ]
        : [{ after: '0s', seconds: 0 }],
    failures: [],
    byDatabase: {},
  };
}
