// Rates and ETAs for progress reports (the copy, the catch-up, the validation): a rate is measured
// over a recent window, not since the start, so a copy that slowed down (a big table's ranges after
// the small tables, a loaded source) does not promise the early speed. Pure: callers pass the time.

/** How far back a rate looks by default. */
export const RATE_WINDOW_MS = 30_000;
/** A rate needs samples at least this far apart: two samples a few ms apart say nothing. */
const MIN_SPAN_MS = 1_000;

interface Sample {
  at: number;
  value: number;
}

/**
 * A counter's recent history (bytes copied, rows compared, lag): samples older than the window are
 * dropped, except the newest of them, so the window always spans its full length once it can.
 */
export class RateWindow {
  private samples: Sample[] = [];
  constructor(private readonly windowMs = RATE_WINDOW_MS) {}

  add(at: number, value: number): void {
    const last = this.samples.at(-1);
    if (last && at < last.at) return; // a clock step back: keep what is ordered
    this.samples.push({ at, value });
    // Keep one sample at or before the window's edge: the span is then the whole window.
    while (this.samples.length > 2 && this.samples[1].at <= at - this.windowMs) this.samples.shift();
  }

  /** Forgets every sample: the next rate is of what comes after (a pause is not part of a rate). */
  reset(): void {
    this.samples = [];
  }

  /** Change per second over the window (negative when the value falls); null until it spans MIN_SPAN_MS. */
  perSecond(): number | null {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at - first.at < MIN_SPAN_MS) return null;
    return ((last.value - first.value) * 1000) / (last.at - first.at);
  }
}

/** Seconds until `remaining` is done at `perSecond`; null when either is unknown or nothing moves. */
export function etaSeconds(remaining: number | null, perSecond: number | null): number | null {
  if (remaining === null || perSecond === null || !(perSecond > 0)) return null;
  return Math.max(0, Math.round(remaining / perSecond));
}

/**
 * How a lag is going down: `falling` per second (null while it is not falling, or not measured long
 * enough), and the ETA to `target` (0: caught up) at that pace, only while it falls.
 */
export function catchUpEta(
  lag: number,
  window: RateWindow,
  target = 0,
): { fallingPerSecond: number | null; etaSeconds: number | null } {
  const change = window.perSecond();
  const falling = change !== null && change < 0 ? -change : null;
  if (lag <= target) return { fallingPerSecond: falling, etaSeconds: 0 };
  return { fallingPerSecond: falling, etaSeconds: etaSeconds(lag - target, falling) };
}
