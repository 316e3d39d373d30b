// The initial copy by snapshot (pgcopydb's and PeerDB's way), instead of the subscription's own
// table sync. Each phase is a separate, resumable step:
//   1. snapshot  the keeper creates the slot with an exported snapshot (snapshot-keeper.ts)
//   2. plan      the tables, large ones split into block ranges (copy-ranges.ts), saved on the target
//   3. copy      several streams read the ranges inside that one snapshot and COPY them into the
//                target, each range committed with its done mark (copy-stream.ts)
//   4. release   the keeper ends: the snapshot is no longer needed
//   5. index     the post-data section, several indexes at once (post-data.ts)
//   6. replicate the subscription (made with copy_data = false) is enabled: it applies the slot's
//                changes from exactly the snapshot's point on.
// A worker killed at any instant is succeeded by an attempt that starts where the target's
// dbmig.copy_state and dbmig.copy_range say; a range is copied again, never twice. Only the
// keeper's death (its machine, its deadline) loses the snapshot: the copy then starts over, once
// the target's tables are emptied, and the progress says so.
import pg from 'pg';
import type { SourceTable } from './assess';
import { planRanges } from './copy-ranges';
import {
  ensureCopyTables,
  forgetCopy,
  readCopyState,
  readRanges,
  releaseKeeper,
  saveRanges,
  startCopyState,
  startOver,
  type CopyState,
} from './copy-state';
import { enterSnapshot } from './copy-stream';
import { claimantName, ensureClaimColumns } from './copy-claims';
import { copyHere, runCopyStreams, type CopyStreamsJob } from './copy-streams';
import { withWorkerStream } from './worker-streams';
import { applyPostData, parsePostData } from './post-data';
import { dumpSchema, settingNames, toSql } from './schema';
import { serverVersion, modernReplication } from './server-version';
import { connect, withClient, type ConnectionParams } from './sessions';
import { KEEPER_MAX_MS, spawnKeeper } from './snapshot-keeper';
import { binaryUnsafeColumns } from './subscription-options';
import { copyNotStarted, type CopyProgress } from '../../../common/copy-progress';
import { pauseAt } from '../../fault-pause';
import { Throttle } from './throttle';
import { activityCancellation } from '../../cancellation';
import type { ThrottleSettings } from '../../../common/throttle-plan';
import { RateWindow } from '../../../common/progress-rate';
import { accountCopy, estimateRows } from './copy-accounting';

export interface SnapshotCopyJob {
  job: string;
  slot: string;
  subscription: string;
  source: ConnectionParams;
  target: ConnectionParams;
  tables: SourceTable[];
  /** The migration's id: copy.workerStreams counts its streams in this process (worker-streams.ts). */
  migrationId: string;
  /** Concurrent streams (and index builds) for this database, in each worker copying it. */
  streams: number;
  /** The plan's copy.workerStreams; absent: the machine's default. */
  workerStreams?: number;
  /** Heap blocks per range of a large table. */
  rangeBlocks: number;
  /** The plan's limits on the source's load: each range waits until they hold (throttle.ts). */
  throttle?: ThrottleSettings;
}

/** How often the copy's progress is recomputed between range ends (the heartbeat is throttled anyway). */
const PROGRESS_TICK_MS = 1_000;

/** How long the keeper may take to create the slot (it waits for running transactions to end). */
const SNAPSHOT_WAIT_MS = 5 * 60_000;

/** Steps 1: the snapshot exists and is alive (startMigrationJob and the copy both call it). */
export async function ensureSnapshot(
  j: SnapshotCopyJob,
  note: (s: string) => void = () => undefined,
): Promise<CopyState> {
  return withClient(j.target, async (t) => {
    await ensureCopyTables(t);
    await ensureClaimColumns(t);
    let state = await readCopyState(t, j.job);
    if (state?.postDataDone) return state;
    if (state?.snapshot && !state.releasedAt && (await snapshotAlive(j.source, state.snapshot))) return state;
    // Every row is in and the keeper was let go: an attempt killed while it built the indexes
    // resumes there (post-data skips what exists), without the snapshot and without copying again.
    if (state?.snapshot && state.releasedAt && state.rangesPlanned && (await readRanges(t, j.job)).every((r) => r.done))
      return state;
    if (state?.snapshot || state?.rangesPlanned) {
      // The keeper is gone (its host, its deadline): rows copied in its snapshot cannot meet a new slot's changes.
      note(`the snapshot ${state.snapshot ?? ''} was lost with its keeper: the copy starts over`);
      await startOver(
        t,
        j.job,
        j.slot,
        j.tables.map((x) => x.name),
        state.restarts + 1,
      );
    } else if (!state) {
      await startCopyState(t, j.job, j.slot);
    }
    await withClient(j.source, (s) => dropSlotIfPresent(s, j.slot));
    const pid = spawnKeeper({
      source: j.source,
      target: j.target,
      job: j.job,
      slot: j.slot,
      deadline: Date.now() + KEEPER_MAX_MS,
    });
    const until = Date.now() + SNAPSHOT_WAIT_MS;
    for (;;) {
      state = (await readCopyState(t, j.job))!;
      if (state.snapshot) return state;
      if (state.keeperError) {
        const error = state.keeperError;
        await forgetCopy(t, j.job); // the next attempt starts a keeper afresh
        throw new Error(`the snapshot keeper could not create slot ${j.slot}: ${error}`);
      }
      if (Date.now() >= until)
        throw new Error(
          `the snapshot keeper (pid ${pid}) did not create slot ${j.slot} within ${SNAPSHOT_WAIT_MS / 1000} s`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  });
}

/** Steps 1–6. `progress` is called after every range and index, and at every phase. */
export async function snapshotCopy(j: SnapshotCopyJob, progress: (p: CopyProgress) => void): Promise<CopyProgress> {
  // A helper for this database that lands on this process hands itself on (copy-helper.ts).
  const leave = copyHere(j.job);
  try {
    return await copyAndReplicate(j, progress);
  } finally {
    leave();
  }
}

async function copyAndReplicate(j: SnapshotCopyJob, progress: (p: CopyProgress) => void): Promise<CopyProgress> {
  let note: string | undefined;
  const p: CopyProgress = copyNotStarted('snapshot');
  const state = await ensureSnapshot(j, (n) => (note = n));
  p.restarts = state.restarts;
  if (note) p.note = note;
  progress(p);
  if (!state.postDataDone) {
    await copyRows(j, state, p, progress);
    await withClient(j.target, (t) => releaseKeeper(t, j.job));
    await pauseAt('copy/rows-in'); // tests kill the worker here: rows in, keeper released, no index yet
    await buildIndexes(j, p, progress);
  } else {
    // A later attempt after the copy: its progress still says what was copied (100%).
    const ranges = await withClient(j.target, (t) => readRanges(t, j.job));
    accountCopy(p, ranges, new Map(), new Map(), { bytes: new RateWindow(), rows: new RateWindow() }, Date.now());
  }
  p.phase = 'replicate';
  progress(p);
  await withClient(j.target, (t) => t.query(`alter subscription ${pg.escapeIdentifier(j.subscription)} enable`));
  p.phase = 'done';
  progress(p);
  return p;
}

async function copyRows(j: SnapshotCopyJob, state: CopyState, p: CopyProgress, progress: (p: CopyProgress) => void) {
  const snapshot = state.snapshot!;
  let ranges = await withClient(j.target, (t) => readRanges(t, j.job));
  if (!state.rangesPlanned) {
    p.phase = 'plan';
    progress(p);
    const planned = await withClient(j.source, async (s) => {
      await enterSnapshot(s, snapshot);
      return planRanges(s, j.tables, j.rangeBlocks, (await serverVersion(s)).num);
    });
    await withClient(j.target, (t) => saveRanges(t, j.job, planned));
    ranges = await withClient(j.target, (t) => readRanges(t, j.job));
  }
  const estimates = await withClient(j.source, (s) =>
    estimateRows(
      s,
      j.tables.map((t) => t.name),
    ),
  );
  // Bytes of the ranges being copied now, per table: the progress moves within a large range too.
  const inFlight = new Map<string, number>();
  const windows = { bytes: new RateWindow(), rows: new RateWindow() };
  const account = () => accountCopy(p, ranges, inFlight, estimates, windows, Date.now());
  account();
  p.phase = 'copy';
  progress(p);
  // An attempt after the rows were in: nothing to read, and no snapshot to read it in.
  if (ranges.every((r) => r.done)) return;
  const gate = throttleFor(j, p, progress);
  // Between range ends too: the rate and ETA follow the bytes in flight, and a heartbeat carries
  // them; the ranges others copy (helpers on other workers, copy-helper.ts) are read back from the target.
  let copying = true;
  const tick = setInterval(() => {
    void withClient(j.target, (t) => readRanges(t, j.job))
      .then((now) => {
        if (!copying) return;
        ranges = now;
        account();
        progress(p);
      })
      .catch(() => undefined);
  }, PROGRESS_TICK_MS);
  try {
    await runCopyStreams({
      ...participant(j, snapshot, await binaryTables(j), 'all'),
      // No more sessions than ranges left to copy (a small database is a few tables).
      streams: Math.max(1, Math.min(j.streams, ranges.filter((r) => !r.done).length)),
      gate,
      signal: activityCancellation(),
      onBytes: (table, n) => inFlight.set(table, (inFlight.get(table) ?? 0) + n),
      onDone: (range) => {
        const mine = ranges.find((r) => r.table === range.table && r.firstBlock === range.firstBlock);
        if (mine) Object.assign(mine, { done: true, rows: range.rows, bytes: range.bytes });
        account();
        progress(p);
      },
      mayPause: () => p.rangesDone > 0,
    });
  } finally {
    copying = false;
    clearInterval(tick);
    await gate?.close();
  }
  ranges = await withClient(j.target, (t) => readRanges(t, j.job));
  account();
}

/** What one participant in `j`'s copy runs with (this activity's streams, or a helper's). */
export function participant(
  j: SnapshotCopyJob,
  snapshot: string,
  binary: Set<string>,
  until: 'all' | 'free',
): CopyStreamsJob {
  return {
    migrationId: j.migrationId,
    job: j.job,
    source: j.source,
    target: j.target,
    snapshot,
    streams: j.streams,
    ...(j.workerStreams !== undefined ? { workerStreams: j.workerStreams } : {}),
    binary,
    me: claimantName(),
    // Distinct per worker process: pg_stat_activity tells who reads what (the pid is no secret).
    applicationName: `dbmig copy ${process.pid}`,
    until,
  };
}

/** The gate before each range (throttle.ts); a pause shows in the progress when it begins, changes and ends. */
function throttleFor(j: SnapshotCopyJob, p: CopyProgress, progress: (p: CopyProgress) => void): Throttle | undefined {
  const gate = Throttle.for(j.source, j.throttle);
  gate?.onChange((t) => {
    if (t) p.throttled = t;
    else delete p.throttled;
    progress(p);
  });
  return gate;
}

/** Tables whose rows may travel in binary: both ends 16+ (or the same major), no type named by oid. */
export async function binaryTables(j: SnapshotCopyJob): Promise<Set<string>> {
  const tv = await withClient(j.target, serverVersion);
  return withClient(j.source, async (s) => {
    const sv = await serverVersion(s);
    const out = new Set<string>();
    if (!modernReplication(sv.major, tv.major) && sv.major !== tv.major) return out;
    for (const t of j.tables) if (!(await binaryUnsafeColumns(s, [t])).length) out.add(t.name);
    return out;
  });
}

async function buildIndexes(j: SnapshotCopyJob, p: CopyProgress, progress: (p: CopyProgress) => void) {
  p.phase = 'index';
  progress(p);
  const known = await withClient(j.target, settingNames);
  const post = parsePostData(toSql(await dumpSchema(j.source, { section: 'post-data' }), known));
  const sessions = await Promise.all(
    Array.from({ length: Math.max(1, j.streams) }, () => connect({ ...j.target, applicationName: 'dbmig index' })),
  );
  try {
    await applyPostData(
      sessions,
      post,
      (c) => c.query(`update dbmig.copy_state set post_data_done = true where job = $1`, [j.job]).then(() => undefined),
      (built, total) => {
        p.indexesBuilt = built;
        p.indexes = total;
        progress(p);
      },
      // Each build in its turn among this worker's streams of the migration (copy.workerStreams).
      (build) => withWorkerStream(j.migrationId, j.workerStreams, build, activityCancellation()),
    );
  } finally {
    await Promise.all(sessions.map((c) => c.end().catch(() => undefined)));
  }
}

/** Whether `snapshot` can still be entered (its keeper's connection is open). */
async function snapshotAlive(source: ConnectionParams, snapshot: string): Promise<boolean> {
  return withClient(source, async (s) => {
    try {
      await enterSnapshot(s, snapshot);
      return true;
    } catch (err) {
      // 22023 invalid_parameter_value: "invalid snapshot identifier".
      if ((err as { code?: string }).code === '22023') return false;
      throw err;
    } finally {
      await s.query('rollback').catch(() => undefined);
    }
  });
}

async function dropSlotIfPresent(s: pg.Client, slot: string): Promise<void> {
  await s.query(
    `select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active`,
    [slot],
  );
}

/** The copy's state for status readers, or undefined when the job copies natively. */
export async function copyStateOf(target: ConnectionParams, job: string): Promise<CopyState | undefined> {
  return withClient(target, (t) => readCopyState(t, job));
}
