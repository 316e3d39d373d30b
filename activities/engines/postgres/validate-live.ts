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
//
// This file opens the sessions and runs the rounds; the parts are named after what they do:
// live-checkpoint.ts (what is saved and resumed), validate-pool.ts (the comparers),
// validate-first-pass.ts, validate-recheck.ts (the re-check after catch-up), validate-verdict.ts.
import type { ValidationResult } from '../../steps';
import { importSnapshot } from './fence-snapshot';
import { connect, type ConnectionParams } from './sessions';
import { primaryKey, rowHashFor, type Chunk, type KeyColumn } from './validate-chunks';
import { installHold, releasePoint, removeHold, takePoint, type PointSessions } from './validate-point';
import type pg from 'pg';
import { activityCancellation } from '../../cancellation';
import type { Throttle } from './throttle';
import { estimateRows } from './copy-accounting';
import { validationProgressOf } from './validate-progress';
import { RateWindow } from '../../../common/progress-rate';
import { VALIDATION_DEFAULTS } from '../../../common/plan-defaults';
import { checkpointFrom, firstPassDone, type LiveCheckpoint } from './live-checkpoint';
import type { Comparer } from './validate-pool';
import { firstPass } from './validate-first-pass';
import { recheck } from './validate-recheck';
import { resultOf } from './validate-verdict';

// The checkpoint's shapes, still importable from here, where the tests import them (live-checkpoint.ts).
export type { Differing, LiveCheckpoint, TableProgress } from './live-checkpoint';

/** Sessions per side comparing chunks at once, and rows per chunk, unless the plan says (validation:). */
export const VALIDATION_STREAMS = VALIDATION_DEFAULTS.streams;
export const CHUNK_ROWS = VALIDATION_DEFAULTS.chunkRows;
/** What the validation's sessions show as application_name ('dbmig%': dbmig's own to the throttle). */
export const VALIDATION_APPLICATION = 'dbmig validation';
/** Points a differing chunk is compared at, the first included. */
const ROUNDS = 3;

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

export async function compareLive(env: LiveEnv, tables: string[], opts: LiveOptions = {}): Promise<ValidationResult> {
  const opened: pg.Client[] = [];
  const open = async (p: ConnectionParams) => {
    // Named as the validation's in pg_stat_activity (an operator, a test, can count them); a name the
    // caller set is kept: a lease recognizes its sessions by theirs (lease.ts).
    const c = await connect({ ...p, applicationName: p.applicationName ?? VALIDATION_APPLICATION });
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
    const cp = checkpointFrom(opts.from, tables, await rowHashFor(x.helper, x.targetSnapshot));
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
    const comparers: Comparer[] = [];
    for (let i = 0; i < (opts.streams ?? VALIDATION_STREAMS); i++)
      comparers.push({ s: await open(env.source), t: await open(env.target) });
    const keys = new Map<string, KeyColumn[] | undefined>();
    for (const t of tables) keys.set(t, await primaryKey(x.helper, t));
    const atPoint = async (fn: () => Promise<void>) => {
      await gate(); // a point pauses the source's writers for a moment: not while it is loaded
      const point = await takePoint(env.source, x, env.job, tables, opts.waitMs ?? 300_000);
      try {
        for (const w of comparers)
          if (!(await importSnapshot(w.s, point.source)) || !(await importSnapshot(w.t, point.target)))
            throw new Error("the validation point's snapshots could not be imported");
        await fn();
      } finally {
        for (const w of comparers) for (const c of [w.s, w.t]) await c.query('rollback').catch(() => undefined);
        await releasePoint(x);
      }
    };
    if (cp.round === 1 && !firstPassDone(cp)) {
      save(); // the totals show while the target reaches the point
      const chunkRows = opts.chunkRows ?? CHUNK_ROWS;
      await atPoint(() =>
        firstPass(cp, keys, x.sourceSnapshot, comparers, { chunkRows, onChunk: opts.onChunk, save, gate }),
      );
    }
    while (cp.round < ROUNDS && cp.progress.some((p) => p.differing.length)) {
      cp.round++;
      await atPoint(() => recheck(cp, keys, comparers, gate, opts.onChunk));
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
