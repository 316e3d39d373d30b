// The plan's sim section in milliseconds, with the schema's defaults where the task has none (a
// task built by hand, or by a workflow started without a sim section).
import { parseDuration } from '../../../common/durations';
import { simSchema, type SimSettings, type SimStep } from '../../../common/sim-plan';
import type { DatabaseTask } from '../../steps';

const DEFAULTS: SimSettings = simSchema.parse({});

export function simSettings(task: DatabaseTask): SimSettings {
  return task.sim ?? DEFAULTS;
}

const ms = (text: string): number => parseDuration(text) ?? 0;

export function stepMs(sim: SimSettings, step: SimStep): number {
  const d = sim.steps[step];
  return d === undefined ? 0 : ms(d);
}

export function pollMs(sim: SimSettings): number {
  return ms(sim.pollInterval);
}

/** How long the initial copy of a database of `sizeGb` takes. */
export function fullDumpMs(sim: SimSettings, sizeGb: number): number {
  return ms(sim.fullDump) + Math.round(ms(sim.fullDumpPerGb) * sizeGb);
}

/** The sim's GB, as the forecast's (common/forecast-calibration.ts). */
export const SIM_GB = 1024 ** 3;
const MB = 1_048_576;

type RateCurve = { after: string; mbPerSecond: number }[];
/** A curve's steps in ms and bytes, sorted once per curve: every poll reads it, and curves can be long. */
const sorted = new WeakMap<RateCurve, { at: number; rate: number }[]>();
function steps(curve: RateCurve): { at: number; rate: number }[] {
  let s = sorted.get(curve);
  if (!s) {
    s = curve.map((p) => ({ at: ms(p.after), rate: p.mbPerSecond * MB })).sort((a, b) => a.at - b.at);
    sorted.set(curve, s);
  }
  return s;
}

/** Bytes moved `sinceMs` into a phase whose rate follows `curve` (steps held until the next). */
export function bytesAt(curve: RateCurve, sinceMs: number): number {
  const s = steps(curve);
  let bytes = 0;
  for (let i = 0; i < s.length && s[i].at < sinceMs; i++) {
    const end = Math.min(sinceMs, s[i + 1]?.at ?? Infinity);
    bytes += (s[i].rate * (end - s[i].at)) / 1000;
  }
  return bytes;
}

/** When a phase following `curve` has moved `bytes` (Infinity if it never does). */
export function msToMove(curve: RateCurve, bytes: number): number {
  const s = steps(curve);
  let moved = 0;
  for (let i = 0; i < s.length; i++) {
    const end = s[i + 1]?.at ?? Infinity;
    const here = (s[i].rate * (end - s[i].at)) / 1000;
    if (moved + here >= bytes) return s[i].at + ((bytes - moved) * 1000) / s[i].rate;
    moved += here;
  }
  return Infinity;
}

/** How long `database`'s copy takes: its own copy rate over its size, else fullDump + fullDumpPerGb. */
export function copyMsOf(sim: SimSettings, database: string, sizeGb: number): number {
  const curve = sim.byDatabase?.[database]?.copyMbPerSecond;
  return curve ? Math.ceil(msToMove(curve, sizeGb * SIM_GB)) : fullDumpMs(sim, sizeGb);
}

/** Lag in seconds `sinceCdcMs` after CDC began: straight lines between points, the ends held. */
export function lagAt(sim: Pick<SimSettings, 'lag'>, sinceCdcMs: number): number {
  const points = sim.lag.map((p) => ({ at: ms(p.after), seconds: p.seconds })).sort((a, b) => a.at - b.at);
  if (sinceCdcMs <= points[0].at) return points[0].seconds;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    if (sinceCdcMs <= b.at) {
      if (b.at === a.at) return b.seconds;
      return a.seconds + ((b.seconds - a.seconds) * (sinceCdcMs - a.at)) / (b.at - a.at);
    }
  }
  return points[points.length - 1].seconds;
}

/** How many apply errors `database`'s target reported `sinceCdcMs` after CDC began (sim.byDatabase). */
export function applyErrorsAt(sim: SimSettings, database: string, sinceCdcMs: number): number {
  const e = sim.byDatabase?.[database]?.applyErrors;
  if (!e) return 0;
  const from = ms(e.after);
  const to = e.until !== undefined ? ms(e.until) : Infinity;
  const every = Math.max(1, ms(e.every));
  if (sinceCdcMs < from) return 0;
  return Math.floor((Math.min(sinceCdcMs, to) - from) / every) + 1;
}
