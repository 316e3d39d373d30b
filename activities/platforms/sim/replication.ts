// What the simulated job reports: the initial copy takes `fullDump + fullDumpPerGb × sizeGb` (or
// sizeGb at the database's own copy rate curve), rows and bytes arriving evenly; then CDC, with lag
// following the plan's curve, rows growing with the source's writes and, where the database has an
// apply rate curve, the position applied so far. Derived from the time since the job started, so
// every read is consistent with the last.
import { fnv1a } from '../../../common/naming';
import type { SimSettings } from '../../../common/sim-plan';
import type { DatabaseTask, ReplicationStatus, TableCheck, ValidationResult } from '../../steps';
import { SIM_GB, applyErrorsAt, bytesAt, copyMsOf, lagAt } from './settings';

const TABLES = ['public.accounts', 'public.orders', 'public.events'];
const ROWS_PER_GB = 1_000_000;
/** The source's writes during CDC, which the target's row count follows. */
const CDC_ROWS_PER_SECOND = 10;
/** WAL the source writes per second, which turns lag in seconds into lag in bytes. */
const WAL_BYTES_PER_SECOND = 64 * 1024;

export function simTables(): string[] {
  return [...TABLES];
}

export function estimatedRows(task: DatabaseTask): number {
  return Math.round(task.database.sizeGb * ROWS_PER_GB);
}

/** The status of a job started at `startedAt`, read at `now`. */
export function replicationStatus(
  task: DatabaseTask,
  sim: SimSettings,
  startedAt: number,
  now: number,
): ReplicationStatus {
  const rows = estimatedRows(task);
  const own = sim.byDatabase?.[task.database.name];
  const size = task.database.sizeGb * SIM_GB;
  const copyMs = copyMsOf(sim, task.database.name, task.database.sizeGb);
  const elapsed = Math.max(0, now - startedAt);
  const base = { errorCount: 0, errors: [], tablesTotal: TABLES.length };
  if (elapsed < copyMs) {
    const done = elapsed / copyMs;
    // The bytes moved so far (what a real copy counts): its own rate curve, else evenly.
    const copiedBytes = Math.round(own?.copyMbPerSecond ? bytesAt(own.copyMbPerSecond, elapsed) : size * done);
    return {
      copiedBytes,
      ...base,
      phase: 'FULL_DUMP',
      lagSeconds: null,
      lagBytes: null,
      tablesReady: Math.floor(TABLES.length * done),
      rowsOnTarget: Math.floor(rows * done),
    };
  }
  const sinceCdc = elapsed - copyMs;
  const lag = lagAt(own?.lag ? { lag: own.lag } : sim, sinceCdc);
  const errorCount = applyErrorsAt(sim, task.database.name, sinceCdc);
  return {
    ...base,
    errorCount,
    errors: errorCount ? ['simulated: relation "public.new_table" does not exist'] : [],
    phase: 'CDC',
    lagSeconds: lag,
    lagBytes: Math.round(lag * WAL_BYTES_PER_SECOND),
    tablesReady: TABLES.length,
    rowsOnTarget: rows + Math.floor((sinceCdc / 1000) * CDC_ROWS_PER_SECOND),
    ...(own?.applyMbPerSecond ? { appliedBytes: Math.round(bytesAt(own.applyMbPerSecond, sinceCdc)) } : {}),
  };
}

/** A comparison that matches where the data can match (`ready`), and says why not otherwise. */
export function validation(task: DatabaseTask, mode: 'live' | 'final', rows: number, ready: boolean): ValidationResult {
  const per = Math.floor(rows / TABLES.length);
  const tables: TableCheck[] = TABLES.map((table, i) => {
    const sourceRows = i === 0 ? rows - per * (TABLES.length - 1) : per;
    const checksum = fnv1a(`${task.migrationId}/${task.database.name}/${table}/${sourceRows}`);
    return {
      table,
      sourceRows,
      targetRows: ready ? sourceRows : 0,
      sourceChecksum: checksum,
      targetChecksum: ready ? checksum : '-',
      verdict: ready ? 'match' : 'mismatch',
    };
  });
  const summary = ready
    ? `${TABLES.length} tables match (${rows} rows, simulated)`
    : mode === 'live'
      ? 'replication is not in CDC: the target is not caught up'
      : 'the cutover has not happened: the target is not the database yet';
  return { mode, ok: ready, tables, summary };
}
