// Two attempts at one snapshot copy (a superseded one still running beside its successor, on one
// data-plane worker or two) never put a range's rows into the table twice, on a real cluster:
// both copy the same range in open transactions and the second mark rolls its rows back; and an
// attempt still copying in a snapshot the copy has since started over from (its keeper lost)
// cannot land its rows, whichever side of the restart its COPY falls. Effects are counted: the
// rows in the table and the done marks.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { LocalClusters, type ClusterInfo } from '../activities/platforms/local/clusters';
import {
  ensureCopyTables,
  markRangeDone,
  readRanges,
  saveRanges,
  startCopyState,
  startOver,
  type CopyRange,
} from '../activities/engines/postgres/copy-state';

const stateDir = resolve('.local-platform', 'test-copy-range-marks');
const clusters = new LocalClusters(stateDir);
const JOB = 'marks_job';
const RANGE: CopyRange = {
  table: 'items',
  firstBlock: null,
  endBlock: null,
  pages: 1,
  rows: null,
  bytes: null,
  done: false,
};

let cluster: ClusterInfo;
const sessions: pg.Client[] = [];
before(async () => {
  await rm(stateDir, { recursive: true, force: true });
  cluster = await clusters.ensure('marks');
});
after(async () => {
  for (const c of sessions) await c.end().catch(() => undefined);
  await clusters.destroy('marks').catch(() => undefined);
  await rm(stateDir, { recursive: true, force: true });
});

async function session(): Promise<pg.Client> {
  const c = new pg.Client({ ...cluster, database: 'postgres' });
  await c.connect();
  sessions.push(c);
  return c;
}

/** A copy in snapshot `snapshot` with one planned range and an empty table. */
async function planned(t: pg.Client, snapshot: string): Promise<void> {
  await t.query('drop table if exists items; create table items (v int)');
  await ensureCopyTables(t);
  await t.query('delete from dbmig.copy_range; delete from dbmig.copy_state');
  await startCopyState(t, JOB, 'marks_slot');
  await t.query('update dbmig.copy_state set snapshot = $2 where job = $1', [JOB, snapshot]);
  await saveRanges(t, JOB, [RANGE]);
}

/** One attempt's range copy, left open: its rows are in the table, uncommitted. */
async function copying(c: pg.Client, first: number): Promise<void> {
  await c.query('begin');
  await c.query('insert into items select g from generate_series($1::int, $1::int + 99) g', [first]);
}

async function rowsIn(c: pg.Client): Promise<{ n: number; low: number | null }> {
  const r = await c.query<{ n: string; low: number | null }>('select count(*) as n, min(v) as low from items');
  return { n: Number(r.rows[0].n), low: r.rows[0].low };
}

test('two attempts copy one range at once: one lands, the other rolls back', async () => {
  const [admin, zombie, successor] = [await session(), await session(), await session()];
  await planned(admin, 'snap-a');
  await copying(zombie, 1_000);
  await copying(successor, 2_000);
  await markRangeDone(successor, JOB, 'snap-a', RANGE, 100, 1);
  // The zombie's mark waits on the successor's row lock, then finds the range done.
  const zombieMark = markRangeDone(zombie, JOB, 'snap-a', RANGE, 100, 1).then(
    () => 'marked',
    (err: Error) => err.message,
  );
  await successor.query('commit');
  assert.match(await zombieMark, /copied by another attempt/);
  await zombie.query('rollback');
  assert.deepEqual(await rowsIn(admin), { n: 100, low: 2_000 }, "only the successor's rows are in the table");
  assert.deepEqual(
    (await readRanges(admin, JOB)).map((r) => [r.done, r.rows]),
    [[true, 100]],
  );
});

test('an attempt in a lost snapshot: committed before the restart it is emptied, after it it cannot mark', async () => {
  const [admin, zombie, successor] = [await session(), await session(), await session()];
  await planned(admin, 'snap-a');
  // Its COPY holds the table: the restart waits for it, then empties what it committed.
  await copying(zombie, 1_000);
  const restart = startOver(successor, JOB, 'marks_slot', ['items'], 1);
  await markRangeDone(zombie, JOB, 'snap-a', RANGE, 100, 1);
  await zombie.query('commit');
  await restart;
  assert.deepEqual(await rowsIn(admin), { n: 0, low: null }, 'the restart emptied the old snapshot’s rows');
  assert.deepEqual(await readRanges(admin, JOB), [], 'and forgot its ranges');

  // The new copy: a new snapshot, the same range planned again. The zombie copies on in snap-a.
  await admin.query('update dbmig.copy_state set snapshot = $2 where job = $1', [JOB, 'snap-b']);
  await saveRanges(admin, JOB, [RANGE]);
  await copying(zombie, 3_000);
  await assert.rejects(markRangeDone(zombie, JOB, 'snap-a', RANGE, 100, 1), /copied by another attempt/);
  await zombie.query('rollback');
  await copying(successor, 4_000);
  await markRangeDone(successor, JOB, 'snap-b', RANGE, 100, 1);
  await successor.query('commit');
  assert.deepEqual(await rowsIn(admin), { n: 100, low: 4_000 }, "only the new copy's rows are in the table");
  const [again] = await readRanges(admin, JOB);
  assert.equal(again.done, true);
});
