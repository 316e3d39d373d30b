// The live validation's first pass (validate-live.ts): every table cut into chunks of `chunkRows`
// keys, issued in table and key order to the comparers (validate-pool.ts), and folded into the
// checkpoint in that same order, so "every key of this table up to K is compared" holds whatever
// order the comparers finish in, and a retried attempt can continue after K.
import type pg from 'pg';
import { nextBoundary, type Chunk, type KeyColumn } from './validate-chunks';
import { add, KEPT_DIFFERENCES, same, tableStart, type LiveCheckpoint } from './live-checkpoint';
import { compareChunk, pool, type Compared, type Comparer } from './validate-pool';

export interface FirstPassOptions {
  /** Rows per chunk: the boundaries are walked this many keys apart. */
  chunkRows: number;
  onChunk?: (c: Chunk) => void;
  /** Saves the checkpoint (after every fold). */
  save: () => void;
  /** The throttle's gate, before each chunk. */
  gate: () => Promise<void>;
}

export async function firstPass(
  cp: LiveCheckpoint,
  keys: Map<string, KeyColumn[] | undefined>,
  boundaries: pg.Client,
  comparers: Comparer[],
  opts: FirstPassOptions,
): Promise<void> {
  // Where issuing resumes: the first table not done, after its checkpointed key.
  let ti = cp.progress.filter((p) => p.done).length;
  let lo = cp.progress[ti]?.after ?? null;
  let issued = 0;
  let issuing = Promise.resolve<{ chunk: Chunk; seq: number } | undefined>(undefined);
  const issue = async (): Promise<{ chunk: Chunk; seq: number } | undefined> => {
    if (ti >= cp.tables.length) return undefined;
    const table = cp.tables[ti];
    const key = keys.get(table);
    const hi = key ? await nextBoundary(boundaries, table, key, lo, opts.chunkRows) : null;
    const chunk: Chunk = { table, key, lo, hi };
    if (hi) lo = hi;
    else [ti, lo] = [ti + 1, null];
    return { chunk, seq: issued++ };
  };
  // Folded in issue order: the checkpoint never claims a chunk whose predecessors are not compared.
  let folded = 0;
  const finished = new Map<number, Compared>();
  const fold = () => {
    while (finished.has(folded)) {
      const d = finished.get(folded)!;
      finished.delete(folded++);
      let p = cp.progress.find((q) => q.table === d.chunk.table);
      if (!p) cp.progress.push((p = tableStart(d.chunk.table, !d.chunk.key)));
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
    opts.save();
  };
  await pool(comparers, async (w) => {
    await opts.gate();
    const next = (issuing = issuing.then(issue));
    const got = await next;
    if (!got) return false;
    finished.set(got.seq, await compareChunk(w, got.chunk, cp.hash, opts.onChunk));
    fold();
    return true;
  });
}
