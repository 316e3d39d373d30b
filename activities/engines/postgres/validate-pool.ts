// The sessions that compare chunks (validate-live.ts): each comparer is one session on the source
// and one on the target, both inside the round's two imported snapshots; several compare at once,
// each taking the next chunk when it is done with one, and the first error stops them all (a
// comparison that failed part-way proves nothing, and a retry continues from the checkpoint).
import type pg from 'pg';
import { differingKeys, digestChunk, type Chunk, type ChunkDigest, type RowHash } from './validate-chunks';
import { same } from './live-checkpoint';

/** Keys named per differing chunk (keys only, never values). */
const EXAMPLE_KEYS = 5;

/** One comparer: a session on each side. */
export type Comparer = { s: pg.Client; t: pg.Client };

/** One chunk compared: both digests, and a few differing keys when they differ. */
export interface Compared {
  chunk: Chunk;
  s: ChunkDigest;
  t: ChunkDigest;
  keys: string[];
}

/** Compares one chunk on a comparer's two sessions. */
export async function compareChunk(
  w: Comparer,
  chunk: Chunk,
  hash: RowHash,
  onChunk?: (c: Chunk) => void,
): Promise<Compared> {
  const [s, t] = await Promise.all([digestChunk(w.s, chunk, hash), digestChunk(w.t, chunk, hash)]);
  const keys = same(s, t) ? [] : await differingKeys(w.s, w.t, chunk, EXAMPLE_KEYS);
  onChunk?.(chunk);
  return { chunk, s, t, keys };
}

/** Runs `work` on every comparer until it returns false; the first error stops the others. */
export async function pool(comparers: Comparer[], work: (w: Comparer) => Promise<boolean>): Promise<void> {
  let failed = false;
  const results = await Promise.allSettled(
    comparers.map(async (w) => {
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
