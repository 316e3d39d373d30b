// copy.helpers (workflows/copy-helpers.ts, engines/postgres/copy-helper.ts): one database's snapshot
// copy shared by two `dbmig worker --data-plane` processes while one workflow keeps the state. The
// copy step lands on the first data-plane worker (the only one then); its helper, refused there
// (that process copies the database already), is retried until it lands on the second. Both hold
// their streams open at the plan's throttle check until the test lets them go together; the
// source's pg_stat_activity shows each process's streams by application_name, the target's
// dbmig.copy_range who copied each range (copied_by). The second worker is paused inside a range
// (its rows on their way, uncommitted, its claim held) and SIGKILLed there: the first copies that
// range again once the claim's lease runs out, and the target ends with exactly the source's rows
// (row for row, and one digest per table), the key-less table without a duplicate.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { resourceNames } from '../common/naming';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { planFor, type SourceDb } from './fixtures/fleet';
import { awaitRowForRow, createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';
import { recordHistory } from './helpers/histories';
import { endRunAndWorkers, spawnWorker, workerAt } from './helpers/worker-process';

const DB: SourceDb = { name: 'parcels', rows: 250_000, priority: 'high', sizeGb: 1, noPrimaryKey: true };
const STREAMS = 2;

let h: Harness;
let dir: string;
let migrationId: string | undefined;
before(async () => {
  h = await createHarness('copyhelpers', { databases: [DB], worker: false });
  await withClient({ ...h.source, database: DB.name }, async (c) => {
    await c.query(`create schema ops; create table ops.go (id int primary key, at timestamptz)`);
    await c.query(`insert into ops.go values (1, null)`);
  });
  dir = await mkdtemp(join(tmpdir(), 'dbmig-copyhelpers-'));
});
after(async () => {
  await endRunAndWorkers(h, migrationId);
  await h?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The source's copy sessions by application_name ('dbmig copy <pid>'): open, and running a COPY now. */
async function copySessions(on: pg.Client): Promise<Map<string, { open: number; copying: number }>> {
  const { rows } = await on.query<{ app: string; open: number; copying: number }>(
    `select application_name as app, count(*)::int as open,
            count(*) filter (where state = 'active' and query ilike 'copy (%to stdout%')::int as copying
       from pg_stat_activity where datname = $1 and application_name like 'dbmig copy %' group by 1`,
    [DB.name],
  );
  return new Map(rows.map((r) => [r.app, { open: r.open, copying: r.copying }]));
}

/** The database's running steps, for a failure's message: attempt, worker, last failure. */
async function pendingSteps(): Promise<string> {
  const { raw } = await h.env.client.workflow.getHandle(`${migrationId}/${DB.name}`).describe();
  return JSON.stringify(
    (raw.pendingActivities ?? []).map((a) => ({
      type: a.activityType?.name,
      attempt: a.attempt,
      worker: a.lastWorkerIdentity,
      failure: a.lastFailure?.message,
    })),
  );
}

/** Each table's rows in one digest (md5 of every row's text, in order), on one side. */
async function digests(params: ConnectionParams): Promise<Record<string, string>> {
  return withClient(params, async (c) => {
    const out: Record<string, string> = {};
    for (const table of ['public.items', 'public.movements']) {
      const { rows } = await c.query<{ n: string; d: string }>(
        `select count(*)::text as n, md5(string_agg(t::text, '|' order by t::text)) as d from ${table} t`,
      );
      out[table] = `${rows[0].n} rows, md5 ${rows[0].d}`;
    }
    return out;
  });
}

test('a second data-plane worker copies ranges of one database; killed mid-range, the first finishes', async () => {
  const plan = planFor(h.source, [DB], `env:${SOURCE_PASSWORD_ENV}`, {
    approval: { policy: 'manual', timeout: '1h' },
    defaults: {
      stableWindow: '3s',
      lagThresholdSeconds: 5,
      noPrimaryKey: 'fail',
      throttle: { check: 'select coalesce(now() >= at, false) from ops.go where id = 1', pollInterval: '200ms' },
    },
    copy: { method: 'snapshot', streams: STREAMS, rangeMb: 1, helpers: 1 },
  });
  const handle = await h.startFleet('helpers', plan);
  migrationId = handle.workflowId;
  spawnWorker(workerAt(h), {}, ['--control-plane']);
  const first = spawnWorker(workerAt(h), {}, ['--data-plane']);
  const watcher = new pg.Client({ ...h.source, database: 'postgres' });
  await watcher.connect();
  try {
    const appOf = (pid: number | undefined) => `dbmig copy ${pid}`;
    // The copy step on the first worker: its streams open in the snapshot, held at the check.
    await eventually(
      'the copy streams of the first data-plane worker open on the source',
      async () => ((await copySessions(watcher)).get(appOf(first.child.pid))?.open ?? 0) === STREAMS || undefined,
      240_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; first worker: ${first.stderr()}`);
    });

    // The second appears; the helper, handed on by the first, lands there and opens its streams.
    const marker = join(dir, 'marker.json');
    const second = spawnWorker(
      workerAt(h),
      { DBMIG_FAULT_PAUSE_AT: 'copy/range-streaming', DBMIG_FAULT_MARKER: marker },
      ['--data-plane'],
    );
    await eventually(
      "the helper's streams open on the second worker",
      async () => ((await copySessions(watcher)).get(appOf(second.child.pid))?.open ?? 0) === STREAMS || undefined,
      180_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; steps: ${await pendingSteps()}; second worker: ${second.stderr()}`);
    });

    // Both go at one instant; the source shows which process runs COPYs.
    const copyingApps = new Set<string>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) for (const [app, s] of await copySessions(watcher)) if (s.copying > 0) copyingApps.add(app);
    })();
    const at = (await watcher.query<{ at: string }>(`select (clock_timestamp() + interval '1 second')::text as at`))
      .rows[0].at;
    await withClient({ ...h.source, database: DB.name }, (c) => c.query(`update ops.go set at = $1`, [at]));

    // The second worker pauses inside a range once it copied one, and is killed there.
    await eventually('the second worker paused inside a range', async () => existsSync(marker) || undefined, 180_000);
    const target = { ...(await h.platform.clusters.ensure('fleet-target')), database: DB.name };
    const job = resourceNames(handle.workflowId, DB.name).job;
    const held = await withClient(target, (c) =>
      c.query<{ tbl: string; first_block: string | null }>(
        `select tbl, first_block::text from dbmig.copy_range
          where job = $1 and done_at is null and claimed_by like $2 and claimed_until > now()`,
        [job, `%:${second.child.pid}:%`],
      ),
    );
    assert.ok(held.rows.length >= 1, 'the second worker holds the range it was copying');
    second.child.kill('SIGKILL');

    await h.reach(handle.workflowId, DB.name, ['AWAITING_APPROVAL'], 300_000);
    sampling = false;
    await sampler;

    // Who copied what: every range done once, by one of the two processes.
    const { rows } = await withClient(target, (c) =>
      c.query<{ pid: string; ranges: number; rows: string }>(
        `select split_part(copied_by, ':', 2) as pid, count(*)::int as ranges, sum(rows)::text as rows
           from dbmig.copy_range where job = $1 and done_at is not null group by 1 order by 1`,
        [job],
      ),
    );
    const byPid = new Map(rows.map((r) => [Number(r.pid), r]));
    const total = await withClient(target, (c) =>
      c.query<{ n: number; done: number }>(
        `select count(*)::int as n, count(done_at)::int as done from dbmig.copy_range where job = $1`,
        [job],
      ),
    );
    const redone = await withClient(target, (c) =>
      c.query<{ by: string }>(
        `select copied_by as by from dbmig.copy_range
          where job = $1 and tbl = $2 and first_block is not distinct from $3::bigint`,
        [job, held.rows[0].tbl, held.rows[0].first_block],
      ),
    );
    console.log(
      `ranges ${total.rows[0].n}: first worker ${byPid.get(first.child.pid!)?.ranges ?? 0}, ` +
        `second ${byPid.get(second.child.pid!)?.ranges ?? 0}; COPY seen from ${[...copyingApps].sort().join(', ')}`,
    );
    assert.equal(total.rows[0].done, total.rows[0].n, 'every range done');
    assert.deepEqual(
      [...byPid.keys()].sort(),
      [first.child.pid!, second.child.pid!].sort(),
      'ranges copied by both processes, and by no other',
    );
    assert.ok(byPid.get(second.child.pid!)!.ranges >= 1, 'the second worker copied ranges before its kill');
    assert.match(
      redone.rows[0].by,
      new RegExp(`:${first.child.pid}:`),
      'the killed worker’s range copied by the first',
    );
    assert.ok(copyingApps.has(appOf(first.child.pid)), 'the source saw the first worker COPY');
    assert.ok(copyingApps.has(appOf(second.child.pid)), 'the source saw the second worker COPY');

    // Exactly the source's rows: row for row, and the same digest per table.
    await awaitRowForRow({ ...h.source, database: DB.name }, target);
    const [src, tgt] = [await digests({ ...h.source, database: DB.name }), await digests(target)];
    console.log(`source ${JSON.stringify(src)}; target ${JSON.stringify(tgt)}`);
    assert.deepEqual(tgt, src, 'the same rows on both sides, none twice');

    // Replay fixture of the copy-helpers path: the child's whole run, ended by a cancel (it undoes
    // everything before the cutover), recorded only with DBMIG_RECORD_HISTORIES=1.
    if (process.env.DBMIG_RECORD_HISTORIES === '1') {
      await h.env.client.workflow.getHandle(handle.workflowId).cancel();
      await recordHistory(h.env.client, `${handle.workflowId}/${DB.name}`);
    }
  } finally {
    await watcher.end().catch(() => undefined);
  }
});
