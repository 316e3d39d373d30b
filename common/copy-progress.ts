// The initial copy's progress (local platform, snapshot copy: activities/engines/postgres/
// snapshot-copy.ts), as the full-dump wait heartbeats it, and the line `dbmig status` prints of it.
// Heartbeat details, never history.
import { formatDuration } from './durations';
import { describeThrottled, type Throttled } from './throttle-plan';

export interface CopyProgress {
  phase: 'snapshot' | 'plan' | 'copy' | 'index' | 'replicate' | 'done';
  rangesDone: number;
  ranges: number;
  /** Pages of the done ranges over all pages: the copy's share done, 0..1. */
  fraction: number;
  rowsCopied: number;
  bytesCopied: number;
  /** Bytes per second of this attempt's copy; null until it has moved some. */
  bytesPerSecond: number | null;
  /** Seconds until the rows are copied at that rate; null when unknown. */
  etaSeconds: number | null;
  indexesBuilt?: number;
  indexes?: number;
  restarts: number;
  note?: string;
  /** Set while the copy waits for the source's load to fall under the plan's limits (throttle.ts). */
  throttled?: Throttled;
}

const mb = (bytes: number) => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${Math.round(bytes / 1e6)} MB`);

/** One line: where the copy is, how much is done, how fast, and when it should be done. */
export function describeCopy(p: CopyProgress): string {
  const parts: string[] = [p.phase];
  if (p.ranges) {
    const share = `${Math.floor(p.fraction * 100)}%`;
    parts.push(`${share} (${p.rangesDone}/${p.ranges} ranges, ${p.rowsCopied} rows, ${mb(p.bytesCopied)})`);
  }
  if (p.bytesPerSecond) parts.push(`${mb(p.bytesPerSecond)}/s`);
  if (p.etaSeconds !== null && p.phase === 'copy') parts.push(`ETA ${formatDuration(p.etaSeconds * 1000)}`);
  if (p.indexes) parts.push(`indexes ${p.indexesBuilt ?? 0}/${p.indexes}`);
  if (p.restarts) parts.push(`started over ${p.restarts}x`);
  if (p.note) parts.push(p.note);
  if (p.throttled) parts.push(describeThrottled(p.throttled));
  return parts.join(', ');
}
