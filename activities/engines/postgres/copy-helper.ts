// A second (third, …) data-plane worker joining one database's snapshot copy (plan copy.helpers):
// the copy activity on one worker keeps the state, plans the ranges and holds the keeper; a helper
// on any other worker serving the data plane imports the same exported snapshot on the source
// (SET TRANSACTION SNAPSHOT works from any session while the keeper's lives), claims ranges no one
// holds (copy-claims.ts) and copies each with its done mark in one target transaction, exactly as
// the copy activity's own streams do (copy-streams.ts): a range is copied again, never twice.
// It ends once no range is free; the copy activity waits for every range before it lets the
// keeper go, so a helper never reads in a snapshot that is being released under it.
import { readCopyState } from './copy-state';
import { copyingHere, runCopyStreams } from './copy-streams';
import { binaryTables, participant, type SnapshotCopyJob } from './snapshot-copy';
import { withClient } from './sessions';
import { Throttle } from './throttle';

/** How often a helper that came early looks whether the ranges are planned. */
const PLANNED_POLL_MS = 1_000;

/** Refused: this worker process copies that database already (the help is for other machines). */
export class CopiedHere extends Error {}

/**
 * Copies ranges of `j`'s copy until none is free; returns how many it copied. `beat` is called
 * while it waits and after each range (the activity heartbeats there and hears its cancellation).
 */
export async function helpSnapshotCopy(
  j: SnapshotCopyJob,
  beat: (ranges: number) => void,
  signal?: AbortSignal,
): Promise<number> {
  let state = await withClient(j.target, (t) => readCopyState(t, j.job));
  // Until the copy activity has the snapshot and the ranges: a helper starts beside it, before it
  // has made even its state. The runbook cancels a helper once the copy step has ended, whatever way.
  while (!state || (!state.releasedAt && !state.postDataDone && !(state.snapshot && state.rangesPlanned))) {
    beat(0);
    await new Promise((r) => setTimeout(r, PLANNED_POLL_MS));
    signal?.throwIfAborted();
    state = await withClient(j.target, (t) => readCopyState(t, j.job));
  }
  // Its rows are in already: nothing to help with.
  if (state.releasedAt || state.postDataDone || !state.snapshot) return 0;
  if (copyingHere(j.job))
    throw new CopiedHere(
      `this worker process copies ${j.job} already; the help goes to another data-plane worker (a retry lands there)`,
    );
  let copied = 0;
  const gate = Throttle.for(j.source, j.throttle);
  try {
    await runCopyStreams({
      ...participant(j, state.snapshot, await binaryTables(j), 'free'),
      ...(gate ? { gate } : {}),
      ...(signal ? { signal } : {}),
      onDone: () => beat(++copied),
      // Tests kill a helper's worker inside a range (fault point copy/range-streaming), once it copied one.
      mayPause: () => copied > 0,
    }).catch((err: Error) => {
      // The keeper went away (the copy is done, or lost it): what is left is the copy activity's.
      if (/snapshot is gone/.test(err.message)) return;
      throw err;
    });
  } finally {
    await gate?.close();
  }
  return copied;
}
