// Anomaly detection for one database's replication, pure: the watch activity feeds it one sample per
// poll and keeps it in memory (and its active kinds in heartbeat details), so detection writes no
// workflow event per sample (safety rule 4); only a change of the active set is told to the workflow.
// Each kind fires on a stricter condition than the one that clears it, and both must hold for
// `confirm` samples in a row, so noise around a threshold does not flap (docs/operations.md, Anomalies).
import { parseDuration } from './durations';
import { linearFit } from './least-squares';
import type { ExpectedRates } from './expected-rates';

/** What can be anomalous. */
export const ANOMALY_KINDS = ['lag-trend', 'apply-errors', 'apply-slow', 'copy-slow'] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

export interface Anomaly {
  kind: AnomalyKind;
  /** One line for people: what was measured against what was expected. */
  detail: string;
  /** When it began (ISO). */
  since: string;
}

export interface AnomalySample {
  /** ms since the epoch. */
  at: number;
  lagSeconds: number | null;
  /** The target's cumulative apply error count. */
  errorCount: number;
  /** Bytes applied per second measured over the sample's window, where the platform says (null: unknown). */
  applyBytesPerSecond?: number | null;
}

export interface AnomalyThresholds {
  /** The window the lag trend and the error rate are measured over, ms. */
  windowMs: number;
  /** Lag trend: fires when lag grows faster than this (seconds of lag per second), clears under half. */
  lagSlope: number;
  /** Lag trend: and lag rose at least this many seconds over the window (small lags are not news). */
  lagRiseSeconds: number;
  /** Lag trend: and the fit explains at least this share of the variance (R²), so noise alone does not fire. */
  lagR2: number;
  /** Apply errors: fires at this many new errors per window; clears at none in a whole window. */
  errorsPerWindow: number;
  /** Apply and copy rates: fire under this share of the expected rate, clear above (1 + ratio) / 2 of it. */
  slowRatio: number;
  /** Samples in a row a change must hold before it is believed. */
  confirm: number;
}

export const DEFAULT_THRESHOLDS: AnomalyThresholds = {
  windowMs: 10 * 60_000,
  lagSlope: 0.05,
  lagRiseSeconds: 30,
  lagR2: 0.6,
  errorsPerWindow: 3,
  slowRatio: 0.5,
  confirm: 3,
};

/** The plan's tuning (notifications.anomalies) over the defaults. */
export function thresholdsOf(tuning?: {
  window?: string;
  lagSlopePerMinute?: number;
  lagRiseSeconds?: number;
  errorsPerWindow?: number;
}): AnomalyThresholds {
  const windowMs = tuning?.window !== undefined ? parseDuration(tuning.window) : undefined;
  return {
    ...DEFAULT_THRESHOLDS,
    ...(windowMs ? { windowMs } : {}),
    ...(tuning?.lagSlopePerMinute !== undefined ? { lagSlope: tuning.lagSlopePerMinute / 60 } : {}),
    ...(tuning?.lagRiseSeconds !== undefined ? { lagRiseSeconds: tuning.lagRiseSeconds } : {}),
    ...(tuning?.errorsPerWindow !== undefined ? { errorsPerWindow: tuning.errorsPerWindow } : {}),
  };
}

/** Least-squares slope (per second) of `y` over `at` (ms), with R²; null under 3 points or no spread. */
export function lagFit(points: { at: number; y: number }[]): { slope: number; r2: number } | null {
  const t0 = points[0]?.at ?? 0;
  return linearFit(points.map((p) => ({ x: (p.at - t0) / 1000, y: p.y })));
}

type Verdict = { firing: boolean; clear: boolean; detail: string };

/** One poll of the initial copy: its bytes per second over the copy's rate window (null: not measured yet). */
export interface CopySample {
  at: number;
  bytesPerSecond: number | null;
}

/** The detector of one database. `expected`: the rehearsal's rates, or the fleet's median (expected-rates.ts). */
export class AnomalyDetector {
  private samples: AnomalySample[] = [];
  private readonly active = new Map<AnomalyKind, Anomaly>();
  private readonly streak = new Map<AnomalyKind, number>();

  constructor(
    private readonly t: AnomalyThresholds = DEFAULT_THRESHOLDS,
    private readonly expected: ExpectedRates = {},
    resumed: Anomaly[] = [],
  ) {
    for (const a of resumed) this.active.set(a.kind, a);
  }

  /** Adds one poll's sample; returns the anomalies active now (sorted by kind). */
  add(s: AnomalySample): Anomaly[] {
    const last = this.samples.at(-1);
    if (!last || s.at > last.at) this.samples.push(s);
    // Keep one sample at or before the window's edge, so the window is spanned whole.
    while (this.samples.length > 2 && this.samples[1].at <= s.at - this.t.windowMs) this.samples.shift();
    const spanned = this.samples.length > 1 && s.at - this.samples[0].at >= this.t.windowMs / 2;
    this.judge('lag-trend', spanned ? this.lagTrend() : undefined, s.at);
    this.judge('apply-errors', spanned || this.active.has('apply-errors') ? this.errors() : undefined, s.at);
    this.judge('apply-slow', this.applySlow(s), s.at);
    return this.current();
  }

  /**
   * Adds one poll of the initial copy (the full-dump wait feeds it; the watcher's kinds are not
   * judged then): copy-slow, with the same confirm and fire/clear discipline as apply-slow.
   */
  addCopy(s: CopySample): Anomaly[] {
    this.judge('copy-slow', this.copySlow(s), s.at);
    return this.current();
  }

  current(): Anomaly[] {
    return [...this.active.values()].sort((a, b) => a.kind.localeCompare(b.kind));
  }

  /** Counts how long a change has held, and makes it once it held `confirm` samples. */
  private judge(kind: AnomalyKind, v: Verdict | undefined, at: number): void {
    const on = this.active.has(kind);
    const wantsChange = v !== undefined && (on ? v.clear : v.firing);
    const n = wantsChange ? (this.streak.get(kind) ?? 0) + 1 : 0;
    this.streak.set(kind, n);
    if (n < this.t.confirm) {
      if (on && v) this.active.set(kind, { ...this.active.get(kind)!, detail: v.detail });
      return;
    }
    this.streak.set(kind, 0);
    if (on) this.active.delete(kind);
    else this.active.set(kind, { kind, detail: v!.detail, since: new Date(at).toISOString() });
  }

  private lagTrend(): Verdict | undefined {
    const points = this.samples.filter((p) => p.lagSeconds !== null).map((p) => ({ at: p.at, y: p.lagSeconds! }));
    const fit = lagFit(points);
    if (!fit) return undefined;
    const rise = points.at(-1)!.y - points[0].y;
    const perMin = (fit.slope * 60).toFixed(1);
    return {
      firing: fit.slope > this.t.lagSlope && fit.r2 >= this.t.lagR2 && rise >= this.t.lagRiseSeconds,
      clear: fit.slope <= this.t.lagSlope / 2 || fit.r2 < this.t.lagR2 / 2,
      detail:
        `lag grows ${perMin} s per minute (R² ${fit.r2.toFixed(2)}, +${Math.round(rise)} s over ` +
        `${Math.round((points.at(-1)!.at - points[0].at) / 60_000)} min; alert above ${this.t.lagSlope * 60} s/min)`,
    };
  }

  private errors(): Verdict {
    const first = this.samples[0];
    const last = this.samples.at(-1)!;
    const added = Math.max(0, last.errorCount - first.errorCount);
    const minutes = Math.round(this.t.windowMs / 60_000);
    return {
      firing: added >= this.t.errorsPerWindow,
      clear: added === 0,
      detail: `${added} apply errors in the last ${minutes} min (alert at ${this.t.errorsPerWindow})`,
    };
  }

  private applySlow(s: AnomalySample): Verdict | undefined {
    const expected = this.expected.applyBytesPerSecond;
    const rate = s.applyBytesPerSecond;
    if (!expected || rate === null || rate === undefined) return undefined;
    // Nothing to apply is not slow: a quiet source with no lag applies nothing and is healthy.
    if ((s.lagSeconds ?? 0) < this.t.lagRiseSeconds) return { firing: false, clear: true, detail: '' };
    const share = rate / expected;
    return {
      firing: share < this.t.slowRatio,
      clear: share >= (1 + this.t.slowRatio) / 2,
      detail: `applies ${mb(rate)} MB/s, ${Math.round(share * 100)}% of the expected ${mb(expected)} MB/s`,
    };
  }

  private copySlow(s: CopySample): Verdict | undefined {
    const expected = this.expected.copyBytesPerSecond;
    // No expectation or no measurement yet: no verdict either way (nothing invented).
    if (!expected || s.bytesPerSecond === null) return undefined;
    const share = s.bytesPerSecond / expected;
    return {
      firing: share < this.t.slowRatio,
      clear: share >= (1 + this.t.slowRatio) / 2,
      detail: `copies ${mb(s.bytesPerSecond)} MB/s, ${Math.round(share * 100)}% of the expected ${mb(expected)} MB/s`,
    };
  }
}

const mb = (bytesPerSecond: number) => (bytesPerSecond / 1e6).toFixed(2);

/** One line for the status: "lag-trend since 12:00:00Z: lag grows 6.0 s per minute (...)". */
export function anomalyLine(a: Anomaly): string {
  return `${a.kind} since ${a.since}: ${a.detail}`;
}
