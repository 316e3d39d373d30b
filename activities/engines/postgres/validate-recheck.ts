// The re-check after catch-up (validate-live.ts): a chunk that differed at one point is compared
// again at a later point, which the target reaches only once it has applied what the source had
// committed by then. A difference that was the target still applying goes; one that stays is real.
// The table's totals take the chunk's new digests in place of its old ones.
import type { KeyColumn, Chunk } from './validate-chunks';
import { add, same, sub, type LiveCheckpoint } from './live-checkpoint';
import { compareChunk, pool, type Comparer } from './validate-pool';

/** Compares the chunks that differed again, at this round's point. */
export async function recheck(
  cp: LiveCheckpoint,
  keys: Map<string, KeyColumn[] | undefined>,
  comparers: Comparer[],
  gate: () => Promise<void>,
  onChunk?: (c: Chunk) => void,
): Promise<void> {
  const todo = cp.progress.flatMap((p) => p.differing.map((d) => ({ p, d })));
  await pool(comparers, async (w) => {
    await gate();
    const item = todo.shift();
    if (!item) return false;
    const { p, d } = item;
    const chunk = { table: p.table, key: keys.get(p.table), lo: d.lo, hi: d.hi };
    const now = await compareChunk(w, chunk, cp.hash, onChunk);
    p.sourceRows += now.s.rows - d.source.rows;
    p.targetRows += now.t.rows - d.target.rows;
    p.sourceSum = add(sub(p.sourceSum, d.source.sum), now.s.sum);
    p.targetSum = add(sub(p.targetSum, d.target.sum), now.t.sum);
    Object.assign(d, { source: now.s, target: now.t, keys: now.keys });
    if (same(now.s, now.t)) p.differing.splice(p.differing.indexOf(d), 1);
    return true;
  });
}
