// What `dbmig forecast` tells the simulated platform about each database: how long its copy,
// catch-up and validation take, and every other step a run pays for (provisioning, the schema, the
// cutover: measured from the rehearsal's own workflow history, cli/rehearsal-steps.ts), from the
// latest rehearsal of the same plan (by hash), else for a database of the same name in any
// rehearsal (scaled by size), else from the named defaults below. Pure: the caller reads the records.
import { linearFit } from './least-squares';
import { SIM_STEPS, type SimSettings, type SimStep } from './sim-plan';
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
  /** Per activity type, its calls and total ms, from the rehearsal's history (records before it have none). */
  history?: { steps: Record<string, { calls: number; ms: number }>; totalMs: number };
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
  /** One validation's time (the live and the final one each take it). */
  validationMs: number;
  /** Each other platform step's time per call, as the rehearsal measured it (none from defaults). */
  stepsMs: Partial<Record<SimStep, number>>;
  cutoverMs: number;
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
        stepsMs: {},
        cutoverMs: FORECAST_DEFAULTS.cutoverMs,
        defaulted: ['copy', 'catchUp', 'validation', 'cutover'],
      };
    }
    const m = sameNamed(other)!;
    const h = m.history?.steps ?? {};
    const perCall = (type: string) => (h[type] ? h[type].ms / h[type].calls : undefined);
    // The history's spans where the rehearsal recorded them (the server's clock), else its polls'.
    const copied = copyTime(m);
    const validated = validationTime(m);
    // The same plan: the rehearsal copied this very source, or a sample of it; what it did not copy
    // costs the marginal time per byte its databases showed (sized by the plans' sizeGb otherwise).
    const grown = (t: number | undefined, of: (r: MeasuredRates) => number | undefined) => {
      if (t === undefined) return undefined;
      if (!mine) return (t * d.sizeGb) / Math.max(1e-9, m.sizeGb);
      const perByte = marginalMsPerByte(other.rates!, of) ?? t / Math.max(1, m.copyBytes);
      return t + perByte * Math.max(0, m.sourceBytes - m.copyBytes);
    };
    const copyMs = grown(copied, copyTime);
    // Catch-up as measured ends after the stable window, which the forecast's run waits itself.
    const ready = h.waitForReplicationReady?.ms ?? m.catchUpMs;
    const catchUp = ready !== undefined ? Math.max(0, ready - stableWindowMs(d)) : undefined;
    // The steps that do not grow with the data (a cluster's provisioning, the schema's copy, capacity)
    // at their measured time; the polled ones are the copy and catch-up above.
    const stepsMs: Partial<Record<SimStep, number>> = {};
    for (const step of SIM_STEPS) {
      const t = perCall(step);
      if (t !== undefined && !['getReplicationStatus', 'validateData', 'cutover'].includes(step))
        stepsMs[step] = Math.round(t);
    }
    return {
      database: d.name,
      source: mine ? 'rehearsal' : 'rehearsal-by-name',
      rehearsal: { planHash: other.planHash, finishedAt: other.finishedAt },
      copyMs: Math.round(fallback('copy', copyMs, (bytes / (FORECAST_DEFAULTS.copyMbPerSecond * 1_048_576)) * 1000)),
      catchUpMs: Math.round(fallback('catchUp', catchUp, FORECAST_DEFAULTS.catchUpMs)),
      validationMs: Math.round(
        fallback('validation', grown(validated, validationTime), FORECAST_DEFAULTS.validationMsPerGb * d.sizeGb),
      ),
      stepsMs,
      cutoverMs: Math.round(fallback('cutover', perCall('cutover'), FORECAST_DEFAULTS.cutoverMs)),
      defaulted,
    };
  });
}

const copyTime = (r: MeasuredRates) => r.history?.steps.waitForFullDump?.ms ?? r.copyMs;
const validationTime = (r: MeasuredRates) => {
  const v = r.history?.steps.validateData;
  return v ? v.ms / v.calls : r.validationMs;
};

/**
 * What one more byte costs a step, in ms: the least-squares slope of its time over the bytes copied,
 * across a rehearsal's databases (at least 3, of different sizes). A step has a fixed part (a
 * subscription's table sync starting, a validation's connections) that a sample's time per byte
 * would multiply with the sample's scale; the slope does not. None when the databases show no growth.
 */
export function marginalMsPerByte(
  rates: readonly MeasuredRates[],
  time: (r: MeasuredRates) => number | undefined,
): number | undefined {
  const pts = rates.flatMap((r) => {
    const t = time(r);
    return t !== undefined && r.copyBytes > 0 ? [{ x: r.copyBytes, y: t }] : [];
  });
  const slope = linearFit(pts)?.slope;
  return slope !== undefined && slope > 0 ? slope : undefined;
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
    steps: {
      ...Object.fromEntries(Object.entries(c.stepsMs).map(([step, t]) => [step, ms(t / speedup)])),
      validateData: ms(c.validationMs / speedup),
      cutover: ms(c.cutoverMs / speedup),
    },
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
