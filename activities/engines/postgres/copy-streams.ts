// The copy streams of one participant in a database's snapshot copy: the copy activity itself, or
// a helper on another data-plane worker (copy-helper.ts). Each stream holds a source session in the
// keeper's snapshot and a target session, and copies one claimed range at a time (copy-claims.ts),
// each range in its turn among this worker's streams of the migration (worker-streams.ts) and
// after the source's load allows it (throttle.ts).
import { copyRange, enterSnapshot } from './copy-stream';
import { claimRange, pendingRanges, releaseClaim, renewClaims } from './copy-claims';
import { describeRange, type CopyRange } from './copy-state';
import { connect, withClient, type ConnectionParams } from './sessions';
import { withWorkerStream } from './worker-streams';
import type { Throttle } from './throttle';

export interface CopyStreamsJob {
  migrationId: string;
  job: string;
  source: ConnectionParams;
  target: ConnectionParams;
  snapshot: string;
  streams: number;
  workerStreams?: number;
  /** Tables whose rows travel in binary. */
  binary: Set<string>;
  /** Who holds the claims (copy-claims.ts claimantName). */
  me: string;
  /** The sessions' application_name: pg_stat_activity tells the participants apart by it. */
  applicationName: string;
  /**
   * `all`: the streams end once every range is done, waiting for ranges others hold (the copy
   * activity: the keeper may be released only then). `free`: once no range is free (a helper).
   */
  until: 'all' | 'free';
  gate?: Throttle;
  signal?: AbortSignal;
  /** Bytes of `table` moved (negative: a failed range's bytes taken back). */
  onBytes?: (table: string, n: number) => void;
  onDone?: (r: CopyRange) => void;
  /** Whether the copy/range-streaming fault point may pause now. */
  mayPause?: () => boolean;
}

/** The jobs whose copy activity runs in this process now: a helper there would add nothing. */
const copiesHere = new Map<string, number>();

/** Marks `job`'s copy activity as running in this process until the returned function is called. */
export function copyHere(job: string): () => void {
  copiesHere.set(job, (copiesHere.get(job) ?? 0) + 1);
  return () => {
    const n = (copiesHere.get(job) ?? 1) - 1;
    if (n > 0) copiesHere.set(job, n);
    else copiesHere.delete(job);
  };
}

export function copyingHere(job: string): boolean {
  return copiesHere.has(job);
}

/** How long a stream with nothing free waits before it looks again, while others hold ranges. */
const IDLE_MS = 500;

export async function runCopyStreams(j: CopyStreamsJob): Promise<void> {
  const claims = renewClaims(j.target, j.job, j.me);
  // One stream failing fails the step: its siblings finish the range they hold and take no other
  // (the next attempt goes on from the marks), rather than copying on behind a failed step.
  const failed = { now: false };
  try {
    await Promise.all(
      Array.from({ length: Math.max(1, j.streams) }, () =>
        stream(j, failed).catch((err) => {
          failed.now = true;
          throw err;
        }),
      ),
    );
  } finally {
    claims.stop();
  }
}

async function stream(j: CopyStreamsJob, failed: { now: boolean }): Promise<void> {
  const src = await connect({ ...j.source, applicationName: j.applicationName });
  const target = await connect({ ...j.target, applicationName: j.applicationName });
  try {
    await enterSnapshot(src, j.snapshot).catch((err) => {
      throw new Error(`the copy's snapshot is gone (${(err as Error).message}); the next attempt starts over`);
    });
    while (!failed.now) {
      await j.gate?.wait(j.signal);
      j.signal?.throwIfAborted();
      const copied = await withWorkerStream(j.migrationId, j.workerStreams, () => copyNext(j, src, target), j.signal);
      if (copied) continue;
      if (j.until === 'free') return;
      const { pending } = await pendingRanges(target, j.job);
      if (!pending) return;
      // Others hold the rest (or a dead holder's lease has not run out yet): look again soon.
      await new Promise((r) => setTimeout(r, IDLE_MS));
    }
  } finally {
    await src.end().catch(() => undefined);
    await target.end().catch(() => undefined);
  }
}

/** Claims and copies one range; false when none was free. */
async function copyNext(j: CopyStreamsJob, src: Parameters<typeof copyRange>[0]['src'], target: typeof src) {
  const range = await claimRange(target, j.job, j.me);
  if (!range) return false;
  let moved = 0;
  try {
    const { rows, bytes } = await copyRange(
      { src, target, snapshot: j.snapshot, by: j.me },
      j.job,
      range,
      j.binary.has(range.table),
      (n) => {
        moved += n;
        j.onBytes?.(range.table, n);
      },
      j.mayPause?.() ?? false,
    );
    Object.assign(range, { done: true, rows, bytes });
    j.onBytes?.(range.table, -moved);
    j.onDone?.(range);
    return true;
  } catch (err) {
    j.onBytes?.(range.table, -moved);
    await withClient(j.target, (t) => releaseClaim(t, j.job, j.me, range)).catch(() => undefined);
    throw new Error(`copy of ${describeRange(range)}: ${(err as Error).message}`);
  }
}
