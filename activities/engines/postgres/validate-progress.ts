// The live validation's progress, from its checkpoint (validate-live.ts): rows compared of the
// source's rows (pg_class's estimate for a table not yet done, its exact count once done), the
// rate over a recent window and the ETA. Pure: the checkpoint stays what resumes the validation,
// this is what people read of it.
import type { LiveCheckpoint } from './live-checkpoint';
import type { TableEstimate } from './copy-accounting';
import { etaSeconds, type RateWindow } from '../../../common/progress-rate';
import type { ValidationProgress } from '../../../common/validation-progress';

export function validationProgressOf(
  cp: Pick<LiveCheckpoint, 'tables' | 'round' | 'progress'>,
  estimates: ReadonlyMap<string, TableEstimate>,
  window: RateWindow,
  now: number,
): ValidationProgress {
  const byTable = new Map(cp.progress.map((p) => [p.table, p]));
  const rowsDone = cp.progress.reduce((n, p) => n + p.sourceRows, 0);
  let rowsTotal: number | null = 0;
  for (const t of cp.tables) {
    const p = byTable.get(t);
    const estimate = estimates.get(t)?.rows ?? null;
    const rows = p?.done ? p.sourceRows : estimate === null ? null : Math.max(estimate, p?.sourceRows ?? 0);
    rowsTotal = rowsTotal === null || rows === null ? null : rowsTotal + rows;
  }
  const tablesDone = cp.progress.filter((p) => p.done).length;
  const firstPassDone = tablesDone === cp.tables.length;
  const differing = cp.progress.reduce((n, p) => n + p.differing.length + p.moreDiffering, 0);
  // Never 100% before the last chunk is folded: an estimate can be below the rows found.
  const fraction = firstPassDone
    ? 1
    : rowsTotal
      ? Math.min(0.999, rowsDone / rowsTotal)
      : cp.tables.length
        ? tablesDone / cp.tables.length
        : 0;
  window.add(now, rowsDone);
  const rate = window.perSecond();
  return {
    phase: cp.round > 1 ? 'recheck' : firstPassDone ? 'done' : 'compare',
    round: cp.round,
    tablesDone,
    tables: cp.tables.length,
    chunksDone: cp.progress.reduce((n, p) => n + p.chunks, 0),
    rowsDone,
    rowsTotal: firstPassDone ? rowsDone : rowsTotal,
    fraction,
    rowsPerSecond: rate,
    etaSeconds: firstPassDone ? 0 : etaSeconds(rowsTotal === null ? null : rowsTotal - rowsDone, rate),
    differing,
  };
}
