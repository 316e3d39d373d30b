// The live validation's checkpoint (validate-live.ts): what it has compared so far, sent in the
// activity's heartbeat details and given back to a retried attempt, which continues from it. One
// entry per table and a bounded list of differing chunks: nothing in it grows with a table's size,
// so neither does the heartbeat.
import type { Throttled } from '../../../common/throttle-plan';
import type { ValidationProgress } from '../../../common/validation-progress';
import type { ChunkDigest, RowHash } from './validate-chunks';

/** Differing chunks kept (and re-checked) per table; more are counted. */
export const KEPT_DIFFERENCES = 20;

export interface Differing {
  lo: string[] | null;
  hi: string[] | null;
  source: ChunkDigest;
  target: ChunkDigest;
  keys: string[];
}

export interface TableProgress {
  table: string;
  keyless: boolean;
  /** Every chunk of the first pass is compared. */
  done: boolean;
  /** First pass: every key up to this one is compared (null: none yet). */
  after: string[] | null;
  chunks: number;
  sourceRows: number;
  targetRows: number;
  sourceSum: string;
  targetSum: string;
  differing: Differing[];
  /** Differing chunks beyond those kept (mismatches, not re-checked). */
  moreDiffering: number;
}

/** The heartbeat details of a live validation. */
export interface LiveCheckpoint {
  kind: 'live-validation';
  v: 1;
  tables: string[];
  /** Set while the validation waits for the source's load to fall under the plan's limits. */
  throttled?: Throttled;
  /** 1: the first pass; then the re-checks of the chunks that differed. */
  round: number;
  /** The row hash the sums were made with. */
  hash: RowHash;
  progress: TableProgress[];
  /** What people read of it (dbmig status, the UI, metrics); recomputed on every save. */
  summary?: ValidationProgress;
}

/** A fresh checkpoint, or the previous attempt's when it is one of the same tables and row hash. */
export function checkpointFrom(from: unknown, tables: string[], hash: RowHash): LiveCheckpoint {
  const c = from as LiveCheckpoint | undefined;
  if (c?.kind !== 'live-validation' || c.v !== 1 || c.hash !== hash || c.tables.join('\n') !== tables.join('\n'))
    return { kind: 'live-validation', v: 1, tables, round: 1, hash, progress: [] };
  const resumed = structuredClone(c);
  delete resumed.throttled; // the last attempt's pause, not this one's
  return resumed;
}

export const firstPassDone = (cp: LiveCheckpoint) =>
  cp.progress.length === cp.tables.length && cp.progress.every((p) => p.done);

/** A table's entry before its first chunk is folded in. */
export const tableStart = (table: string, keyless: boolean): TableProgress => ({
  table,
  keyless,
  done: false,
  after: null,
  chunks: 0,
  sourceRows: 0,
  targetRows: 0,
  sourceSum: '0',
  targetSum: '0',
  differing: [],
  moreDiffering: 0,
});

// The sums are exact decimal text (BigInt): a table's sum outgrows a double long before its rows do.
export const add = (a: string, b: string) => (BigInt(a) + BigInt(b)).toString();
export const sub = (a: string, b: string) => (BigInt(a) - BigInt(b)).toString();
export const same = (a: ChunkDigest, b: ChunkDigest) => a.rows === b.rows && a.sum === b.sum;
