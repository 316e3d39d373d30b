// The live validation, exact under writes: every table compared chunk by chunk (validate-chunks.ts)
// inside the two snapshots of one consistent point (validate-point.ts), by several sessions at once.
//
// Verdicts. A chunk whose two digests are equal holds the same rows on both sides at the point
// (up to a collision of the row-hash sums with equal counts). A chunk that differs at a
// point differs for real at that point; it is compared again at a new point (which the target only
// reaches once it has caught up) up to ROUNDS times, and one that still differs is a mismatch
// naming its table, key range and a few keys: the validation is not ok and the cutover does not
// proceed. There is no "changing, so passing" verdict: a point is exact whatever the writes do.
//
// Resumable: the first pass issues chunks in table and key order and folds their results in that
// order, so "every key of this table up to K is compared" is a checkpoint, sent in the activity's
// heartbeat details with the running totals (one entry per table, a bounded list of differing
// chunks: nothing grows with the table's size). A retried attempt continues after K, at a new
// point (each chunk is exact at its own point). The workflow sees only the result.
import type { TableCheck, ValidationResult } from '../../steps';
import { importSnapshot } from './fence-snapshot';
import { connect, type ConnectionParams } from './sessions';
import {
  describeRange,
  differingKeys,
  digestChunk,
  nextBoundary,
  primaryKey,
  rowHashFor,
  type RowHash,
  type Chunk,
  type ChunkDigest,
  type KeyColumn,
} from './validate-chunks';
import { installHold, releasePoint, removeHold, takePoint, type PointSessions } from './validate-point';
import type pg from 'pg';
import type { Throttled } from '../../../common/throttle-plan';
import { activityCancellation } from '../../cancellation';
import type { Throttle } from './throttle';
import { estimateRows } from './copy-accounting';
import { validationProgressOf } from './validate-progress';
import { RateWindow } from '../../../common/progress-rate';
import type { ValidationProgress } from '../../../common/validation-progress';

/** Sessions per side comparing chunks at once. */
export const VALIDATION_STREAMS = 4;
export const CHUNK_ROWS = 20_000;
/** Points a differing chunk is compared at, the first included. */
const ROUNDS = 3;
/** Differing chunks kept (and re-checked) per table; more are counted. */
const KEPT_DIFFERENCES = 20;
const EXAMPLE_KEYS = 5;

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
  /** 1: the first pass; then the re-checks of the chunks that differed. */
  /** Set while the validation waits for the source's load to fall under the plan's limits. */
  throttled?: Throttled;
  round: number;
  /** The row hash the sums were made with. */
  hash: RowHash;
  progress: TableProgress[];
  /** What people read of it (dbmig status, the UI, metrics); recomputed on every save. */
  summary?: ValidationProgress;
}

export interface LiveOptions {
  streams?: number;
  chunkRows?: number;
  /** The previous attempt's checkpoint (ignored unless it is one of the same tables). */
  from?: unknown;
  save?: (c: LiveCheckpoint) => void;
  /** Called for every chunk compared (tests, benchmarks). */
  onChunk?: (c: Chunk) => void;
  /** How long the target may take to reach a point (ms). */
  waitMs?: number;
  /** The gate before each point and each chunk: the plan's limits on the source's load (throttle.ts). */
  throttle?: Throttle;
}

export interface LiveEnv {
  source: ConnectionParams;
  target: ConnectionParams;
  job: string;
}

function resumable(from: unknown, tables: string[], hash: RowHash): LiveCheckpoint | undefined {
  const c = from as LiveCheckpoint | undefined;
  if (c?.kind !== 'live-validation' || c.v !== 1 || c.hash !== hash || c.tables.join('\n') !== tables.join('\n'))
    return undefined;
  const resumed = structuredClone(c);
  delete resumed.throttled; // the last attempt's pause, not this one's
  return resumed;
}

type Worker = { s: pg.Client; t: pg.Client };

export async function compareLive(env: LiveEnv, tables: string[], opts: LiveOptions = {}): Promise<ValidationResult> {
  const opened: pg.Client[] = [];
  const open = async (p: ConnectionParams) => {
    const c = await connect(p);
    opened.push(c);
    // A throttled pause waits inside the round's snapshots: no idle-in-transaction timeout may end them.
    if (opts.throttle) await c.query('set idle_in_transaction_session_timeout = 0');
    return c;
  };
  let holder: pg.Client | undefined;
  let unheard: (() => void) | undefined;
  try {
    const x: PointSessions = {
      sourceSnapshot: await open(env.source),
      targetSnapshot: await open(env.target),
      hold: await open(env.target),
      helper: await open(env.source),
    };
    const hash = await rowHashFor(x.helper, x.targetSnapshot);
    const cp: LiveCheckpoint = resumable(opts.from, tables, hash) ?? {
      kind: 'live-validation',
      v: 1,
      tables,
      round: 1,
      hash,
      progress: [],
    };
    const estimates = await estimateRows(x.helper, tables);
    const window = new RateWindow();
    const save = () => {
      cp.summary = validationProgressOf(cp, estimates, window, Date.now());
      opts.save?.(structuredClone(cp));
    };
    const signal = activityCancellation();
    const gate = opts.throttle ? () => opts.throttle!.wait(signal) : async () => undefined;
    unheard = opts.throttle?.onChange((t) => {
      if (t) cp.throttled = t;
      else delete cp.throttled;
      save();
    });
    await installHold(x.targetSnapshot);
    holder = x.targetSnapshot;
    const workers: Worker[] = [];
    for (let i = 0; i < (opts.streams ?? VALIDATION_STREAMS); i++)
      workers.push({ s: await open(env.source), t: await open(env.target) });
    const keys = new Map<string, KeyColumn[] | undefined>();
    for (const t of tables) keys.set(t, await primaryKey(x.helper, t));
    const atPoint = async (fn: () => Promise<void>) => {
      await gate(); // a point pauses the source's writers for a moment: not while it is loaded
      const point = await takePoint(env.source, x, env.job, tables, opts.waitMs ?? 300_000);
      try {
        for (const w of workers)
          if (!(await importSnapshot(w.s, point.source)) || !(await importSnapshot(w.t, point.target)))
            throw new Error("the validation point's snapshots could not be imported");
        await fn();
      } finally {
        for (const w of workers) for (const c of [w.s, w.t]) await c.query('rollback').catch(() => undefined);
        await releasePoint(x);
      }
    };
    if (cp.round === 1 && !firstPassDone(cp)) {
      save(); // the totals show while the target reaches the point
      await atPoint(() => firstPass(cp, keys, x.sourceSnapshot, workers, opts, save, gate));
    }
    while (cp.round < ROUNDS && cp.progress.some((p) => p.differing.length)) {
      cp.round++;
      await atPoint(() => recheck(cp, keys, workers, opts, gate));
      save();
    }
    return resultOf(cp, keys);
  } finally {
    // Whatever happened: a trigger left behind would keep dbmig's schema from being dropped.
    unheard?.();
    if (holder) await removeHold(holder).catch(() => undefined);
    await Promise.all(opened.map((c) => c.end().catch(() => undefined)));
  }
}

const firstPassDone = (cp: LiveCheckpoint) =>
  cp.progress.length === cp.tables.length && cp.progress.every((p) => p.done);

const add = (a: string, b: string) => (BigInt(a) + BigInt(b)).toString();
const sub = (a: string, b: string) => (BigInt(a) - BigInt(b)).toString();
const same = (a: ChunkDigest, b: ChunkDigest) => a.rows === b.rows && a.sum === b.sum;

interface Done {
  chunk: Chunk;
  s: ChunkDigest;
  t: ChunkDigest;
  keys: string[];
}

/** Compares one chunk on a worker's two sessions. */
async function compareChunk(w: Worker, chunk: Chunk, hash: RowHash, opts: LiveOptions): Promise<Done> {
  const [s, t] = await Promise.all([digestChunk(w.s, chunk, hash), digestChunk(w.t, chunk, hash)]);
  const keys = same(s, t) ? [] : await differingKeys(w.s, w.t, chunk, EXAMPLE_KEYS);
  opts.onChunk?.(chunk);
  return { chunk, s, t, keys };
}

/** Runs `work` on every worker until it returns false; the first error stops the others. */
async function pool(workers: Worker[], work: (w: Worker) => Promise<boolean>): Promise<void> {
  let failed = false;
  const results = await Promise.allSettled(
    workers.map(async (w) => {
      try {
        while (!failed && (await work(w)));
      } catch (err) {
        failed = true;
        throw err;
      }
    }),
  );
  const bad = results.find((r) => r.status === 'rejected');
  if (bad) throw (bad as PromiseRejectedResult).reason;
}

async function firstPass(
  cp: LiveCheckpoint,
  keys: Map<string, KeyColumn[] | undefined>,
  boundaries: pg.Client,
  workers: Worker[],
  opts: LiveOptions,
  save: () => void,
  gate: () => Promise<void>,
): Promise<void> {
  const size = opts.chunkRows ?? CHUNK_ROWS;
  // Where issuing resumes: the first table not done, after its checkpointed key.
  let ti = cp.progress.filter((p) => p.done).length;
  let lo = cp.progress[ti]?.after ?? null;
  let issued = 0;
  let issuing = Promise.resolve<{ chunk: Chunk; seq: number } | undefined>(undefined);
  const issue = async (): Promise<{ chunk: Chunk; seq: number } | undefined> => {
    if (ti >= cp.tables.length) return undefined;
    const table = cp.tables[ti];
    const key = keys.get(table);
    const hi = key ? await nextBoundary(boundaries, table, key, lo, size) : null;
    const chunk: Chunk = { table, key, lo, hi };
    if (hi) lo = hi;
    else [ti, lo] = [ti + 1, null];
    return { chunk, seq: issued++ };
  };
  // Folded in issue order: the checkpoint never claims a chunk whose predecessors are not compared.
  let folded = 0;
  const finished = new Map<number, Done>();
  const fold = () => {
    while (finished.has(folded)) {
      const d = finished.get(folded)!;
      finished.delete(folded++);
      let p = cp.progress.find((q) => q.table === d.chunk.table);
      if (!p) {
        p = {
          table: d.chunk.table,
          keyless: !d.chunk.key,
          done: false,
          after: null,
          chunks: 0,
          sourceRows: 0,
          targetRows: 0,
          sourceSum: '0',
          targetSum: '0',
          differing: [],
          moreDiffering: 0,
        };
        cp.progress.push(p);
      }
      p.chunks++;
      p.sourceRows += d.s.rows;
      p.targetRows += d.t.rows;
      p.sourceSum = add(p.sourceSum, d.s.sum);
      p.targetSum = add(p.targetSum, d.t.sum);
      if (!same(d.s, d.t)) {
        if (p.differing.length < KEPT_DIFFERENCES)
          p.differing.push({ lo: d.chunk.lo, hi: d.chunk.hi, source: d.s, target: d.t, keys: d.keys });
        else p.moreDiffering++;
      }
      p.after = d.chunk.hi;
      p.done = d.chunk.hi === null;
    }
    save();
  };
  await pool(workers, async (w) => {
    await gate();
    const next = (issuing = issuing.then(issue));
    const got = await next;
    if (!got) return false;
    finished.set(got.seq, await compareChunk(w, got.chunk, cp.hash, opts));
    fold();
    return true;
  });
}

/** Compares the chunks that differed again, at this round's point. */
async function recheck(
  cp: LiveCheckpoint,
  keys: Map<string, KeyColumn[] | undefined>,
  workers: Worker[],
  opts: LiveOptions,
  gate: () => Promise<void>,
): Promise<void> {
  const todo = cp.progress.flatMap((p) => p.differing.map((d) => ({ p, d })));
  await pool(workers, async (w) => {
    await gate();
    const item = todo.shift();
    if (!item) return false;
    const { p, d } = item;
    const chunk = { table: p.table, key: keys.get(p.table), lo: d.lo, hi: d.hi };
    const now = await compareChunk(w, chunk, cp.hash, opts);
    p.sourceRows += now.s.rows - d.source.rows;
    p.targetRows += now.t.rows - d.target.rows;
    p.sourceSum = add(sub(p.sourceSum, d.source.sum), now.s.sum);
    p.targetSum = add(sub(p.targetSum, d.target.sum), now.t.sum);
    Object.assign(d, { source: now.s, target: now.t, keys: now.keys });
    if (same(now.s, now.t)) p.differing.splice(p.differing.indexOf(d), 1);
    return true;
  });
}

function resultOf(cp: LiveCheckpoint, keys: Map<string, KeyColumn[] | undefined>): ValidationResult {
  const checks: TableCheck[] = cp.progress.map((p) => {
    const shown = p.differing.slice(0, 3).map((d) => {
      const range = describeRange({ table: p.table, key: keys.get(p.table), lo: d.lo, hi: d.hi });
      return { range, sourceRows: d.source.rows, targetRows: d.target.rows, keys: d.keys };
    });
    return {
      table: p.table,
      sourceRows: p.sourceRows,
      targetRows: p.targetRows,
      sourceChecksum: p.sourceSum,
      targetChecksum: p.targetSum,
      verdict: p.differing.length || p.moreDiffering ? 'mismatch' : 'match',
      chunks: p.chunks,
      ...(p.keyless ? { keyless: true } : {}),
      ...(shown.length
        ? { differences: shown, moreDifferences: p.differing.length - shown.length + p.moreDiffering }
        : {}),
    };
  });
  const bad = checks.filter((c) => c.verdict === 'mismatch');
  const keyless = checks.filter((c) => c.keyless).map((c) => c.table);
  const whole = keyless.length ? `; compared whole (no primary key): ${keyless.join(', ')}` : '';
  const summary = bad.length
    ? `mismatch at a consistent point, still after ${cp.round} comparison(s): ` +
      bad
        .map(
          (c) =>
            `${c.table} ` +
            c
              .differences!.map(
                (d) =>
                  `[${d.range}: source ${d.sourceRows} rows, target ${d.targetRows}` +
                  (d.keys.length ? `; keys ${d.keys.join(', ')}` : '') +
                  ']',
              )
              .join(' ') +
            (c.moreDifferences ? ` and ${c.moreDifferences} more chunk(s)` : ''),
        )
        .join(', ') +
      whole
    : `${checks.length}/${checks.length} tables identical at a consistent point ` +
      `(${checks.reduce((n, c) => n + (c.chunks ?? 0), 0)} chunks)${whole}`;
  return { mode: 'live', ok: bad.length === 0, tables: checks, summary };
}
