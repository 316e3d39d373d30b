// The initial copy's progress (local platform, snapshot copy: activities/engines/postgres/
// snapshot-copy.ts), as the full-dump wait heartbeats it, and the line `dbmig status` prints of it.
// Heartbeat details, never history. Fields after `restarts` are newer: an older worker's heartbeat
// lacks them, and every reader treats them as optional.
import { formatDuration } from './durations';
import { describeThrottled, type Throttled } from './throttle-plan';

/** One table's share of the copy. Totals are estimates until the table is done, then exact. */
export interface TableCopyProgress {
  table: string;
  rangesDone: number;
  ranges: number;
  /** Pages of the done ranges over the table's pages, 0..1 (1 once every range is done). */
  fraction: number;
  rowsCopied: number;
  /** Rows the table holds: pg_class's estimate, then extrapolated from the done ranges, exact when done. */
  rowsTotal: number | null;
  /** COPY bytes moved, the ranges in flight included. */
  bytesCopied: number;
  /** COPY bytes the table will take: its heap size, then extrapolated from the done ranges, exact when done. */
  bytesTotal: number | null;
}

export interface CopyProgress {
  phase: 'snapshot' | 'plan' | 'copy' | 'index' | 'replicate' | 'done';
  rangesDone: number;
  ranges: number;
  /** Pages of the done ranges over all pages: the copy's share done, 0..1. */
  fraction: number;
  rowsCopied: number;
  bytesCopied: number;
  /** Bytes per second over the last RATE_WINDOW_MS (common/progress-rate.ts); null until measured. */
  bytesPerSecond: number | null;
  /** Seconds until the rows are copied at that rate; null when unknown. */
  etaSeconds: number | null;
  indexesBuilt?: number;
  indexes?: number;
  restarts: number;
  note?: string;
  /** Rows per second over the same window (rows count when their range commits). */
  rowsPerSecond?: number | null;
  /** The database's rows and COPY bytes (sums of the tables' totals; null while one is unknown). */
  rowsTotal?: number | null;
  bytesTotal?: number | null;
  tablesDone?: number;
  /** Per table, the largest first, at most COPY_TABLES_SHOWN of them (a heartbeat stays small). */
  tables?: TableCopyProgress[];
  /** Tables left out of `tables`. */
  moreTables?: number;
  /** Set while the copy waits for the source's load to fall under the plan's limits (throttle.ts). */
  throttled?: Throttled;
}

/** A copy that has done nothing yet, in `phase`. */
export function copyNotStarted(phase: CopyProgress['phase']): CopyProgress {
  return {
    phase,
    rangesDone: 0,
    ranges: 0,
    fraction: 0,
    rowsCopied: 0,
    bytesCopied: 0,
    bytesPerSecond: null,
    etaSeconds: null,
    restarts: 0,
  };
}

/** Tables listed in a heartbeat: enough for the ones that take time, bounded for a fleet's schemas. */
export const COPY_TABLES_SHOWN = 50;

export const mb = (bytes: number) =>
  bytes >= 1e9
    ? `${(bytes / 1e9).toFixed(2)} GB`
    : bytes >= 1e6
      ? `${Math.round(bytes / 1e6)} MB`
      : bytes >= 1e3
        ? `${Math.round(bytes / 1e3)} kB`
        : `${Math.round(bytes)} B`;
const about = (n: number | null | undefined, show: (n: number) => string) =>
  n === null || n === undefined ? '' : ` of ~${show(n)}`;
const rate = (n: number) => (n >= 100 ? String(Math.round(n)) : n.toFixed(1));

/** One line: where the copy is, how much is done, how fast, and when it should be done. */
export function describeCopy(p: CopyProgress): string {
  const parts: string[] = [p.phase];
  if (p.ranges) {
    const share = `${Math.floor(p.fraction * 100)}%`;
    const tables = p.tables ? `, ${p.tablesDone ?? 0}/${p.tables.length + (p.moreTables ?? 0)} tables` : '';
    parts.push(
      `${share} (${p.rangesDone}/${p.ranges} ranges${tables}, ` +
        `${p.rowsCopied}${about(p.rowsTotal, String)} rows, ${mb(p.bytesCopied)}${about(p.bytesTotal, mb)})`,
    );
  }
  if (p.bytesPerSecond) parts.push(`${mb(p.bytesPerSecond)}/s`);
  if (p.rowsPerSecond) parts.push(`${rate(p.rowsPerSecond)} rows/s`);
  if (p.etaSeconds !== null && p.phase === 'copy') parts.push(`ETA ${formatDuration(p.etaSeconds * 1000)}`);
  if (p.indexes) parts.push(`indexes ${p.indexesBuilt ?? 0}/${p.indexes}`);
  if (p.restarts) parts.push(`started over ${p.restarts}x`);
  if (p.note) parts.push(p.note);
  if (p.throttled) parts.push(describeThrottled(p.throttled));
  return parts.join(', ');
}

/** One table's line for the detail view (`dbmig status ID --database NAME`). */
export function describeTableCopy(t: TableCopyProgress): string[] {
  return [
    t.table,
    `${Math.floor(t.fraction * 100)}%`,
    `${t.rangesDone}/${t.ranges}`,
    `${t.rowsCopied}${about(t.rowsTotal, String)}`,
    `${mb(t.bytesCopied)}${about(t.bytesTotal, mb)}`,
  ];
}
