// The forecast as `dbmig forecast` prints it: per database, each phase's start and duration (from
// its workflow's history, cli/forecast-timeline.ts) and where its numbers came from; for the fleet,
// the finish date, the most databases holding capacity at once, capacity hours, and for a gcp plan
// the capacity's cost at the price table's hourly rate (common/cost.ts) for the hours forecast.
import { workerCount } from '../common/capacity';
import { CAPACITY_HOLD_HOURS, estimateCost } from '../common/cost';
import { describeWindow, type CutoverWindow } from '../common/cutover-window';
import { formatDuration } from '../common/durations';
import { FORECAST_DEFAULTS, type Calibration } from '../common/forecast-calibration';
import type { Plan } from '../common/plan';
import { table } from './format';
import { PHASES, peakConcurrency, type DatabaseTimeline, type Phase } from './forecast-timeline';

export interface DatabaseForecast extends DatabaseTimeline {
  sizeGb: number;
  state: string;
  calibration: Calibration;
  /** Copy, catch-up and validation: what a rehearsal measures. */
  dataMs: number;
  capacityHours: number;
  finishAt: string;
}

export interface Forecast {
  start: string;
  speedup: number;
  approvalWaitMs: number;
  /** The plan's cutover window, which each cutover waited for (described), if it has one. */
  window?: string;
  databases: DatabaseForecast[];
  fleet: {
    finishAt: string;
    durationMs: number;
    peakConcurrency: number;
    capacityHours: number;
    /** For a gcp plan: the capacity at its hourly price for the hours forecast; else why not. */
    cost: { capacityUsd: number; unpriced: string[] } | { none: string };
  };
}

const len = (s?: { startMs: number; endMs: number }) => (s ? s.endMs - s.startMs : 0);

export function fleetForecast(
  plan: Plan,
  cal: Calibration[],
  timelines: DatabaseTimeline[],
  states: Map<string, string>,
  o: { start: Date; speedup: number; approvalWaitMs: number; window?: CutoverWindow },
): Forecast {
  const at = (ms: number) => new Date(o.start.getTime() + ms).toISOString();
  const databases = timelines.map((t) => {
    const d = plan.databases.find((x) => x.name === t.database)!;
    const capacityHours = (len(t.capacity) / 3_600_000) * workerCount(d.sizeGb);
    return {
      ...t,
      sizeGb: d.sizeGb,
      state: states.get(t.database) ?? 'UNKNOWN',
      calibration: cal.find((c) => c.database === t.database)!,
      dataMs: len(t.phases.copy) + len(t.phases.catchUp) + len(t.phases.validation),
      capacityHours,
      finishAt: at(t.endMs),
    };
  });
  const end = Math.max(...databases.map((d) => d.endMs));
  const capacityHours = databases.reduce((a, d) => a + d.capacityHours, 0);
  let cost: Forecast['fleet']['cost'];
  if (plan.gcp) {
    // The estimate prices a full hold (CAPACITY_HOLD_HOURS) per database; the forecast's share of it.
    const est = estimateCost(plan);
    const usd = est.databases.reduce((a, c) => {
      const f = databases.find((d) => d.database === c.database)!;
      return a + ((c.capacity.usd ?? 0) * len(f.capacity)) / 3_600_000 / CAPACITY_HOLD_HOURS;
    }, 0);
    cost = { capacityUsd: Math.round(usd * 100) / 100, unpriced: est.unpriced };
  } else cost = { none: `platform ${plan.platform} has no price table (common/cost.ts prices gcp plans)` };
  return {
    start: o.start.toISOString(),
    speedup: o.speedup,
    approvalWaitMs: o.approvalWaitMs,
    ...(o.window ? { window: describeWindow(o.window) } : {}),
    databases,
    fleet: {
      finishAt: at(end),
      durationMs: end,
      peakConcurrency: peakConcurrency(timelines),
      capacityHours: Math.round(capacityHours * 100) / 100,
      cost,
    },
  };
}

const HEAD: Record<Phase, string> = {
  copy: 'COPY',
  catchUp: 'CATCH-UP',
  validation: 'VALIDATION',
  approvalWait: 'APPROVAL WAIT',
  window: 'WINDOW',
  cutover: 'CUTOVER',
};
const dur = (ms: number) => formatDuration(Math.round(ms));
const cell = (s?: { startMs: number; endMs: number }) => (s ? `+${dur(s.startMs)} ${dur(len(s))}` : '-');
const source = (c: Calibration) =>
  c.source === 'defaults'
    ? 'defaults'
    : `${c.source === 'rehearsal' ? 'rehearsal' : 'rehearsal of another plan'} ${c.rehearsal!.finishedAt}` +
      (c.defaulted.length ? ` (defaults for ${c.defaulted.join(', ')})` : '');

export function forecastReport(f: Forecast): string {
  const rows = f.databases.map((d) => [
    d.database,
    `${d.sizeGb} GB`,
    ...PHASES.map((p) => cell(d.phases[p])),
    `${d.capacityHours.toFixed(2)} h`,
    d.finishAt,
    source(d.calibration),
  ]);
  const cost =
    'none' in f.fleet.cost
      ? `not priced: ${f.fleet.cost.none}`
      : `$${f.fleet.cost.capacityUsd.toFixed(2)} of migration capacity` +
        (f.fleet.cost.unpriced.length ? ` (unpriced: ${f.fleet.cost.unpriced.join(', ')})` : '');
  return [
    `Each phase: its start from the fleet's start (+) and its duration. Start ${f.start}.`,
    table(['DATABASE', 'SIZE', ...PHASES.map((p) => HEAD[p]), 'CAPACITY', 'DONE AT', 'CALIBRATED FROM'], rows),
    '',
    `fleet: finishes ${f.fleet.finishAt} (${dur(f.fleet.durationMs)}), at most ${f.fleet.peakConcurrency} ` +
      `databases at once, ${f.fleet.capacityHours} capacity hours, cost: ${cost}`,
    `approval wait assumed: ${dur(f.approvalWaitMs)}; ` +
      (f.window ? `each cutover waits for the window ${f.window}; ` : 'no cutover window; ') +
      `defaults where nothing was measured: ${defaultsText()}`,
  ].join('\n');
}

function defaultsText(): string {
  const d = FORECAST_DEFAULTS;
  return (
    `copy ${d.copyMbPerSecond} MB/s, catch-up ${dur(d.catchUpMs)}, validation ${dur(d.validationMsPerGb)} per GB, ` +
    `approval ${dur(d.approvalWaitMs)}, cutover ${dur(d.cutoverMs)}`
  );
}
