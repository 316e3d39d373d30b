// The live validation's progress (engines/postgres/validate-live.ts), carried in its checkpoint
// (the validateData activity's heartbeat details) and shown as the `validating:` line of `dbmig
// status`. Rows are the source's rows compared; the total is pg_class's estimate until a table is
// done, then its exact count.
import { formatDuration } from './durations';

export interface ValidationProgress {
  /** 'compare': the first pass, chunk by chunk; 'recheck': the chunks that differed, at a new point. */
  phase: 'compare' | 'recheck' | 'done';
  round: number;
  tablesDone: number;
  tables: number;
  chunksDone: number;
  rowsDone: number;
  /** Null while a table's size is unknown (never analyzed, nothing compared yet). */
  rowsTotal: number | null;
  /** Share of the first pass done, 0..1 (1 once every table is compared). */
  fraction: number;
  /** Rows compared per second over the recent window (common/progress-rate.ts). */
  rowsPerSecond: number | null;
  etaSeconds: number | null;
  /** Chunks that differ so far (re-checked in later rounds). */
  differing: number;
}

export function describeValidation(v: ValidationProgress): string {
  const parts = [
    `${v.phase === 'recheck' ? `recheck round ${v.round}` : v.phase}`,
    `${Math.floor(v.fraction * 100)}% (${v.tablesDone}/${v.tables} tables, ${v.chunksDone} chunks, ` +
      `${v.rowsDone}${v.rowsTotal === null ? '' : ` of ~${v.rowsTotal}`} rows)`,
  ];
  if (v.rowsPerSecond) parts.push(`${Math.round(v.rowsPerSecond)} rows/s`);
  if (v.etaSeconds !== null && v.phase === 'compare') parts.push(`ETA ${formatDuration(v.etaSeconds * 1000)}`);
  if (v.differing) parts.push(`${v.differing} chunk(s) differ so far`);
  return parts.join(', ');
}
