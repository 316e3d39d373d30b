// The catch-up after the copy: how much the target still has to apply (the lag, in WAL bytes where
// the platform measures them, else in seconds) and how fast that falls, with an ETA to caught up
// shown only while it falls. Heartbeated by the lag waits and the watcher (activities/replication-{waits,watch}.ts).
import { formatDuration } from './durations';
import { catchUpEta, type RateWindow } from './progress-rate';
import { mb } from './copy-progress';

export interface CatchUp {
  /** What the lag is measured in. */
  basis: 'bytes' | 'seconds';
  lag: number;
  /** How much of the lag goes per second over the recent window; null while it is not falling. */
  fallingPerSecond: number | null;
  /** Seconds until the lag reaches `target` at that pace; null while it is not falling. */
  etaSeconds: number | null;
  /**
   * The lag that counts as caught up: the plan's lag threshold in seconds; in bytes, 0, or the
   * bytes left while the heartbeat's lag in seconds is within that threshold.
   */
  target: number;
}

/** Feeds one lag sample to `windows` and says how the catch-up goes; undefined when nothing is measured. */
export function catchUpOf(
  lag: { lagBytes: number | null; lagSeconds: number | null },
  windows: { bytes: RateWindow; seconds: RateWindow },
  now: number,
  thresholdSeconds = 0,
): CatchUp | undefined {
  if (lag.lagBytes !== null) {
    windows.bytes.add(now, lag.lagBytes);
    // At rest the bytes never reach 0: dbmig's own heartbeat, and other databases' WAL on the same
    // server, stay unconfirmed until the walsender's next feedback. Where the heartbeat says the
    // target is within the threshold, whatever bytes are left count as caught up.
    const target = lag.lagSeconds !== null && lag.lagSeconds <= thresholdSeconds ? lag.lagBytes : 0;
    return { basis: 'bytes', lag: lag.lagBytes, target, ...catchUpEta(lag.lagBytes, windows.bytes, target) };
  }
  if (lag.lagSeconds !== null) {
    windows.seconds.add(now, lag.lagSeconds);
    const target = thresholdSeconds;
    return { basis: 'seconds', lag: lag.lagSeconds, target, ...catchUpEta(lag.lagSeconds, windows.seconds, target) };
  }
  return undefined;
}

/** The `catch-up:` line of `dbmig status`. */
export function describeCatchUp(c: CatchUp): string {
  const unit = (n: number) => (c.basis === 'bytes' ? mb(n) : `${n.toFixed(1)} s`);
  if (c.lag <= c.target) return `caught up (lag ${unit(c.lag)})`;
  if (c.fallingPerSecond === null || c.etaSeconds === null) return `lag ${unit(c.lag)}, not falling`;
  return `lag ${unit(c.lag)}, falling ${unit(c.fallingPerSecond)}/s, ETA ${formatDuration(c.etaSeconds * 1000)}`;
}
