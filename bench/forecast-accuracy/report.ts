// The forecast's accuracy as bench/forecast-accuracy.ts prints it: per database, its duration (its
// workflow's start to end) and its finish (from the fleet's start), forecast against the real run,
// with the relative error; then the phases, so a miss can be traced to the step that caused it.
import { formatDuration } from '../../common/durations';
import { median as medianOf } from '../../common/expected-rates';
import { table } from '../../cli/format';
import type { Span } from '../../cli/forecast-timeline';
import type { RoundResult } from './round';

export interface AccuracyRow {
  database: string;
  rows: number;
  sourceMb: number;
  forecastDurationMs: number;
  /** The same database's run in the rehearsal the forecast was calibrated from (its sample, if any). */
  rehearsedDurationMs?: number;
  actualDurationMs: number;
  durationError: number;
  forecastFinishMs: number;
  actualFinishMs: number;
  finishError: number;
  phases: Record<'copy' | 'catchUp' | 'validation' | 'cutover', [number, number]>;
}

export interface Accuracy {
  rows: AccuracyRow[];
  fleet: { forecastMs: number; actualMs: number; error: number };
}

const len = (s?: Span) => (s ? s.endMs - s.startMs : 0);
const err = (forecast: number, actual: number) => (actual > 0 ? (forecast - actual) / actual : 0);

export function accuracy(r: RoundResult): Accuracy {
  const rows = r.databases.map((d) => {
    const f = r.forecast.databases.find((x) => x.database === d.name)!;
    const a = r.actual.find((x) => x.database === d.name)!;
    const phase = (p: 'copy' | 'catchUp' | 'validation' | 'cutover'): [number, number] => [
      len(f.phases[p]),
      len(a.phases[p]),
    ];
    return {
      database: d.name,
      rows: d.rows,
      sourceMb: d.sourceBytes / 1_048_576,
      forecastDurationMs: f.endMs - f.startMs,
      rehearsedDurationMs: r.steps?.rehearsal[d.name]?.totalMs,
      actualDurationMs: a.endMs - a.startMs,
      durationError: err(f.endMs - f.startMs, a.endMs - a.startMs),
      forecastFinishMs: f.endMs,
      actualFinishMs: a.endMs,
      finishError: err(f.endMs, a.endMs),
      phases: {
        copy: phase('copy'),
        catchUp: phase('catchUp'),
        validation: phase('validation'),
        cutover: phase('cutover'),
      },
    };
  });
  const fleet = { forecastMs: r.forecast.fleet.durationMs, actualMs: r.actualFleetMs };
  return { rows, fleet: { ...fleet, error: err(fleet.forecastMs, fleet.actualMs) } };
}

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
const d = (ms: number) => formatDuration(Math.round(ms));
const pair = ([f, a]: [number, number]) => `${d(f)} / ${d(a)}`;

export function accuracyTable(r: RoundResult | Accuracy): string {
  const acc = 'rows' in r ? r : accuracy(r);
  const rows = acc.rows.map((x) => [
    x.database,
    String(x.rows),
    x.sourceMb.toFixed(1),
    d(x.forecastDurationMs),
    x.rehearsedDurationMs !== undefined ? d(x.rehearsedDurationMs) : '-',
    d(x.actualDurationMs),
    pct(x.durationError),
    d(x.forecastFinishMs),
    d(x.actualFinishMs),
    pct(x.finishError),
    pair(x.phases.copy),
    pair(x.phases.catchUp),
    pair(x.phases.validation),
    pair(x.phases.cutover),
  ]);
  rows.push([
    'fleet',
    String(acc.rows.reduce((a, x) => a + x.rows, 0)),
    acc.rows.reduce((a, x) => a + x.sourceMb, 0).toFixed(1),
    '',
    '',
    '',
    '',
    d(acc.fleet.forecastMs),
    d(acc.fleet.actualMs),
    pct(acc.fleet.error),
    '',
    '',
    '',
    '',
  ]);
  return table(
    [
      'DATABASE',
      'ROWS',
      'MB',
      'DURATION (FORECAST)',
      '(REHEARSED)',
      '(ACTUAL)',
      'ERROR',
      'FINISH (FORECAST)',
      '(ACTUAL)',
      'ERROR',
      'COPY F / A',
      'CATCH-UP F / A',
      'VALIDATION F / A',
      'CUTOVER F / A',
    ],
    rows,
  );
}

/** The median of a non-empty list (every round yields each error). */
const median = (xs: number[]) => medianOf(xs)!;

export interface Summary {
  rows: { database: string; rows: number; sourceMb: number; duration: number[]; finish: number[] }[];
  fleet: number[];
}

/** Each database's errors over the rounds (and the fleet's): the medians are what the bar judges. */
export function summarize(rounds: Accuracy[]): Summary {
  return {
    rows: rounds[0].rows.map((r) => ({
      database: r.database,
      rows: r.rows,
      sourceMb: r.sourceMb,
      duration: rounds.map((a) => a.rows.find((x) => x.database === r.database)!.durationError),
      finish: rounds.map((a) => a.rows.find((x) => x.database === r.database)!.finishError),
    })),
    fleet: rounds.map((a) => a.fleet.error),
  };
}

/** The worst of the medians, as a share: what must stay within the bar. */
export function worstMedian(s: Summary): number {
  return Math.max(
    Math.abs(median(s.fleet)),
    ...s.rows.flatMap((r) => [Math.abs(median(r.duration)), Math.abs(median(r.finish))]),
  );
}

const spread = (xs: number[]) => `${pct(median(xs))} (${pct(Math.min(...xs))} .. ${pct(Math.max(...xs))})`;

export function summaryTable(s: Summary): string {
  const rows = s.rows.map((r) => [
    r.database,
    String(r.rows),
    r.sourceMb.toFixed(1),
    spread(r.duration),
    spread(r.finish),
  ]);
  rows.push(['fleet', '', '', '', spread(s.fleet)]);
  return table(
    ['DATABASE', 'ROWS', 'MB', 'DURATION ERROR: MEDIAN (MIN .. MAX)', 'FINISH ERROR: MEDIAN (MIN .. MAX)'],
    rows,
  );
}
