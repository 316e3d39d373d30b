// What a rehearsal measured, per database, for `dbmig forecast` to calibrate the simulated platform
// with (common/forecast-calibration.ts): the initial copy's rows/s and MB/s, how long catch-up took
// and the lag it ended at, and how long the live validation took. Phases are timed from the states
// the rehearsal's status showed (polled every 250 ms, so a phase shorter than that reads as ~0).
import type { CopyStats } from './rehearsal-copy';
import type { StepTimes } from './rehearsal-steps';

export interface DatabaseRates {
  name: string;
  /** The plan's sizeGb for this database, so a forecast can scale a rate to another size. */
  sizeGb: number;
  rows: number;
  /** pg_database_size of the copy the rates were measured on. */
  copyBytes: number;
  /** pg_database_size of the real source: what a real run copies. */
  sourceBytes: number;
  copyMs?: number;
  rowsPerSecond?: number;
  mbPerSecond?: number;
  /** From the first CDC status to the first VALIDATING one: the catch-up after the copy. */
  catchUpMs?: number;
  /** The lag replication was ready at, in seconds. */
  lagAfterCatchUpSeconds?: number | null;
  /** From VALIDATING to the next state: the live validation. */
  validationMs?: number;
  /** The apply rate while catching up after the copy, as the database measured it: what apply-slow expects. */
  applyMbPerSecond?: number;
  /** Every step's calls and time from the database's workflow history (rehearsal-steps.ts). */
  history?: StepTimes;
}

/** When each phase was first seen, by the rehearsal's watch loop. */
export interface PhaseTimes {
  dumpAt?: number;
  cdcAt?: number;
  validatingAt?: number;
  validatedAt?: number;
}

const span = (a?: number, b?: number) => (a !== undefined && b !== undefined && b >= a ? b - a : undefined);

export function databaseRates(
  name: string,
  sizeGb: number,
  copy: CopyStats,
  t: PhaseTimes,
  lagSeconds: number | null | undefined,
): DatabaseRates {
  const copyMs = span(t.dumpAt, t.cdcAt);
  const secs = copyMs ? copyMs / 1000 : undefined;
  return {
    name,
    sizeGb,
    rows: copy.rows,
    copyBytes: copy.copyBytes,
    sourceBytes: copy.sourceBytes,
    ...(copyMs !== undefined ? { copyMs } : {}),
    ...(secs ? { rowsPerSecond: copy.rows / secs, mbPerSecond: copy.copyBytes / 1_048_576 / secs } : {}),
    ...(span(t.cdcAt, t.validatingAt) !== undefined ? { catchUpMs: span(t.cdcAt, t.validatingAt) } : {}),
    ...(lagSeconds !== undefined ? { lagAfterCatchUpSeconds: lagSeconds } : {}),
    ...(span(t.validatingAt, t.validatedAt) !== undefined ? { validationMs: span(t.validatingAt, t.validatedAt) } : {}),
  };
}
