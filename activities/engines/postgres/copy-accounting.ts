// What the snapshot copy has done, per table and for the database, from its ranges (copy-state.ts)
// and the bytes of the ranges in flight: the totals start as the source's estimates (pg_class) and
// are extrapolated from the done ranges as they finish, so they are exact once a table is done.
// Rate and ETA over a recent window (common/progress-rate.ts). Pure but for the estimate query.
import type pg from 'pg';
import type { CopyRange } from './copy-state';
import { COPY_TABLES_SHOWN, type CopyProgress, type TableCopyProgress } from '../../../common/copy-progress';
import { etaSeconds, type RateWindow } from '../../../common/progress-rate';

/** What the source says of a table before any of it is copied. */
export interface TableEstimate {
  /** pg_class.reltuples (leaf partitions summed); null when never analyzed. */
  rows: number | null;
}

/** The source's row estimates of `tables` (one query); unknown tables are left out. */
export async function estimateRows(src: pg.Client, tables: string[]): Promise<Map<string, TableEstimate>> {
  // Partitions and inheritance children are summed: the copy reads a table with its children.
  const { rows } = await src.query<{ name: string; rows: string | null }>(
    `with recursive tree(name, oid) as (
       select t.name, to_regclass(t.name)::oid from unnest($1::text[]) as t(name)
       union all
       select tree.name, i.inhrelid from tree join pg_inherits i on i.inhparent = tree.oid)
     select tree.name,
            (case when bool_or(c.reltuples < 0) then null else sum(c.reltuples) end)::bigint::text as rows
       from tree join pg_class c on c.oid = tree.oid
      where c.relkind <> 'p'
      group by tree.name`,
    [tables],
  );
  return new Map(rows.map((r) => [r.name, { rows: r.rows === null ? null : Number(r.rows) }]));
}

const PAGE = 8192;

/** One table's progress from its ranges; `inFlight`: bytes of its ranges being copied now. */
export function tableProgress(
  table: string,
  ranges: CopyRange[],
  inFlight: number,
  estimate: TableEstimate | undefined,
): TableCopyProgress {
  const done = ranges.filter((r) => r.done);
  const pages = ranges.reduce((n, r) => n + r.pages, 0);
  const pagesDone = done.reduce((n, r) => n + r.pages, 0);
  const rowsCopied = done.reduce((n, r) => n + (r.rows ?? 0), 0);
  const doneBytes = done.reduce((n, r) => n + (r.bytes ?? 0), 0);
  const all = done.length === ranges.length;
  // A done share of the pages predicts the rest better than statistics once it is there.
  const extrapolate = (copied: number) => (pagesDone > 0 ? Math.round((copied / pagesDone) * pages) : null);
  const rowsBase = extrapolate(rowsCopied) ?? estimate?.rows ?? null;
  const rowsTotal = all ? rowsCopied : rowsBase === null ? null : Math.max(rowsCopied, rowsBase);
  const bytesCopied = doneBytes + inFlight;
  const bytesTotal = all ? doneBytes : Math.max(bytesCopied, extrapolate(doneBytes) ?? pages * PAGE);
  return {
    table,
    rangesDone: done.length,
    ranges: ranges.length,
    fraction: all ? 1 : pages > 0 ? pagesDone / pages : 0,
    rowsCopied,
    rowsTotal,
    bytesCopied,
    bytesTotal,
  };
}

/**
 * Fills `p` from the ranges: per-table progress (the largest tables first, at most
 * COPY_TABLES_SHOWN), the database's totals, the rates over the windows and the ETA.
 */
export function accountCopy(
  p: CopyProgress,
  ranges: CopyRange[],
  inFlight: ReadonlyMap<string, number>,
  estimates: ReadonlyMap<string, TableEstimate>,
  windows: { bytes: RateWindow; rows: RateWindow },
  now: number,
): void {
  const byTable = new Map<string, CopyRange[]>();
  for (const r of ranges) byTable.set(r.table, [...(byTable.get(r.table) ?? []), r]);
  const tables = [...byTable].map(([t, rs]) => tableProgress(t, rs, inFlight.get(t) ?? 0, estimates.get(t)));
  const totalPages = Math.max(
    1,
    ranges.reduce((n, r) => n + r.pages, 0),
  );
  const sum = (f: (t: TableCopyProgress) => number | null) =>
    tables.reduce<number | null>((n, t) => (n === null || f(t) === null ? null : n + f(t)!), 0);
  p.rangesDone = ranges.filter((r) => r.done).length;
  p.ranges = ranges.length;
  p.fraction = p.rangesDone === p.ranges ? 1 : ranges.reduce((n, r) => n + (r.done ? r.pages : 0), 0) / totalPages;
  p.rowsCopied = tables.reduce((n, t) => n + t.rowsCopied, 0);
  p.bytesCopied = tables.reduce((n, t) => n + t.bytesCopied, 0);
  p.rowsTotal = sum((t) => t.rowsTotal);
  p.bytesTotal = sum((t) => t.bytesTotal);
  p.tablesDone = tables.filter((t) => t.fraction === 1).length;
  const shown = [...tables].sort((a, b) => (b.bytesTotal ?? 0) - (a.bytesTotal ?? 0) || a.table.localeCompare(b.table));
  p.tables = shown.slice(0, COPY_TABLES_SHOWN);
  p.moreTables = Math.max(0, shown.length - COPY_TABLES_SHOWN);
  windows.bytes.add(now, p.bytesCopied);
  windows.rows.add(now, p.rowsCopied);
  const bytesRate = windows.bytes.perSecond();
  p.bytesPerSecond = bytesRate === null ? null : Math.round(bytesRate);
  p.rowsPerSecond = windows.rows.perSecond();
  p.etaSeconds =
    p.fraction === 1 ? 0 : etaSeconds(p.bytesTotal === null ? null : p.bytesTotal - p.bytesCopied, bytesRate);
}
