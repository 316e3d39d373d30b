// The snapshot copy (engines/postgres/snapshot-copy.ts) under a worker killed inside a range: the
// worker process is SIGKILLed while a range's rows are on their way into the target (uncommitted,
// fault point copy/range-streaming); the next worker finds the keeper's snapshot still open and
// copies only the ranges not done, so the target ends row-for-row equal to the source, the
// key-less table without a duplicated row, in one snapshot (no restart) held by one keeper.
// Writers run on the source throughout, as the application's own role; the migration user is a
// non-superuser (helpers/migration-user.ts).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { getStatus } from '../client/client';
import { resourceNames } from '../common/naming';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import type { DatabaseTask } from '../activities/steps';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { compareRowForRow, planFor, Writer, type SourceDb } from './fixtures/fleet';
import { awaitRowForRow, createHarness, eventually, type Harness } from './helpers/harness';
import { killWorkers, spawnWorker, workerAt } from './helpers/worker-process';
import { as, createMigrationUser, createRole, handOver, type MigrationUser, type Role } from './helpers/migration-user';
import type { PauseMarker } from '../activities/fault-pause';
import { databaseDetail, onlyDatabase } from '../cli/progress-detail';
import { freeAddress, gauge, scrape } from './helpers/metrics-scrape';

const DB: SourceDb = { name: 'ledger', rows: 80_000, priority: 'high', sizeGb: 80, noPrimaryKey: true };
/** A database of its own: the first test's migration user owns dbmig's schema in `ledger`. */
const NOREPL: SourceDb = { name: 'journal', rows: 5_000, priority: 'high', sizeGb: 1, noPrimaryKey: true };
/** The kill after the rows are in, before any index: a database of its own, with a secondary index. */
const INDEXED: SourceDb = { name: 'indexed', rows: 30_000, priority: 'high', sizeGb: 1 };

let h: Harness;
let app: Role;
let migrator: MigrationUser;
let dir: string;
before(async () => {
  h = await createHarness('snapcopy', { databases: [DB, NOREPL, INDEXED], worker: false, sourceVersion: 16 });
  migrator = await createMigrationUser(h.source, 'snap_migrator', 'DBMIG_SNAP_MIGRATOR_PASSWORD');
  app = await createRole(h.source, 'snap_app');
  await handOver(h.source, DB.name, { owner: 'snap_owner', apps: [app.user], migrator: migrator.user });
  await withClient({ ...h.source, database: INDEXED.name }, (c) => c.query('create index items_sku on items (sku)'));
  await handOver(h.source, INDEXED.name, { owner: 'snap_owner', apps: [app.user], migrator: migrator.user });
  dir = await mkdtemp(join(tmpdir(), 'dbmig-snapcopy-'));
});
after(async () => {
  killWorkers();
  await h?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface CopyRow {
  snapshot: string | null;
  keeper_pid: number | null;
  restarts: number;
  done: number;
  ranges: number;
  rows: string;
}

async function copyState(target: pg.ClientConfig, job: string): Promise<CopyRow | undefined> {
  const c = new pg.Client(target);
  await c.connect();
  try {
    if (!(await c.query(`select to_regclass('dbmig.copy_state') is not null as ok`)).rows[0].ok) return undefined;
    const { rows } = await c.query<CopyRow>(
      `select s.snapshot, s.keeper_pid, s.restarts,
              (select count(*) from dbmig.copy_range r where r.job = s.job and r.done_at is not null)::int as done,
              (select count(*) from dbmig.copy_range r where r.job = s.job)::int as ranges,
              (select coalesce(sum(rows), 0) from dbmig.copy_range r where r.job = s.job)::text as rows
         from dbmig.copy_state s where s.job = $1`,
      [job],
    );
    return rows[0];
  } finally {
    await c.end();
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a worker killed inside a range copy: the next copies only what was not done, in the same snapshot', async (t) => {
  const writer = new Writer(as({ ...h.source, database: DB.name }, app), true);
  const plan = planFor({ ...h.source, user: migrator.user }, [DB], `env:${migrator.env}`, {
    approval: { policy: 'manual', timeout: '1h' },
    defaults: { stableWindow: '3s', lagThresholdSeconds: 5, noPrimaryKey: 'fail' },
    copy: { method: 'snapshot', streams: 2, rangeMb: 1 },
  });
  const handle = await h.startFleet('snapcopy', plan);
  // A failed assertion must not leave the paused worker holding its range's lock (the next test's
  // ALTER TABLE would wait on it for ever) nor the writer writing.
  t.after(async () => {
    killWorkers();
    await writer.stop();
  });
  const marker = join(dir, 'marker.json');
  const first = spawnWorker(workerAt(h), {
    DBMIG_FAULT_PAUSE_AT: 'copy/range-streaming',
    DBMIG_FAULT_MARKER: marker,
  }).child;
  await eventually('the first worker paused inside a range copy', async () => existsSync(marker) || undefined, 240_000);
  const paused = JSON.parse(await readFile(marker, 'utf8')) as PauseMarker;
  assert.equal(paused.point, 'copy/range-streaming');

  const names = resourceNames(handle.workflowId, DB.name);
  const target = { ...(await h.platform.clusters.ensure('fleet-target')), database: DB.name };
  const before = (await copyState(target, names.job))!;
  assert.ok(before.snapshot, 'the keeper holds a snapshot');
  assert.ok(before.ranges >= 4, `the tables were split into ranges (${before.ranges})`);
  assert.ok(before.done >= 1 && before.done < before.ranges, `some ranges done (${before.done}/${before.ranges})`);

  // What an operator sees meanwhile: the copy's progress, read live from the wait's heartbeat (a
  // heartbeat reaches the server at most every few seconds: wait for one from inside the copy).
  const status = await eventually(
    'dbmig status showing the copy table by table',
    async () => {
      const s = await getStatus(h.env.client, handle.workflowId);
      const c = s.databases[0].progress?.copy;
      return c?.phase === 'copy' && c.rangesDone >= 1 ? s : undefined;
    },
    60_000,
  );
  const seen = status.databases[0].copy!;
  assert.match(seen, /^copy, \d+% \(\d+\/\d+ ranges, \d+\/\d+ tables, \d+( of ~\d+)? rows, \d+ [kM]B of ~\d+ [kM]B\)/);
  t.diagnostic(`status: ${seen}`);
  // Table by table (dbmig status ID --database ledger, and -o json): some of it done, not all.
  const mid = status.databases[0].progress!.copy!;
  assert.ok(mid.fraction > 0 && mid.fraction < 1, `part of the copy done (${mid.fraction})`);
  assert.ok(mid.tables!.length >= 2, `every table listed (${mid.tables!.map((x) => x.table).join(', ')})`);
  for (const x of mid.tables!) {
    assert.ok(x.rangesDone <= x.ranges && x.fraction >= 0 && x.fraction <= 1, JSON.stringify(x));
    assert.ok(x.bytesTotal !== null && x.bytesCopied <= x.bytesTotal, `${x.table}: bytes of a known total`);
    if (x.rangesDone) assert.ok(x.rowsTotal !== null && x.rowsTotal >= x.rowsCopied, `${x.table}: rows of a total`);
  }
  assert.ok(
    mid.tables!.some((x) => x.fraction < 1),
    'a table still copying',
  );
  // The ETA is the bytes left at the rate of the last 30 s: shown while the copy moved in that window.
  if (mid.bytesPerSecond)
    assert.ok(
      Math.abs(mid.etaSeconds! - (mid.bytesTotal! - mid.bytesCopied) / mid.bytesPerSecond) <= 1,
      `ETA ${mid.etaSeconds} s for ${mid.bytesTotal! - mid.bytesCopied} bytes at ${mid.bytesPerSecond}/s`,
    );
  else assert.equal(mid.etaSeconds, null, 'no ETA while nothing moves');
  const detail = databaseDetail(onlyDatabase(status, DB.name));
  for (const x of mid.tables!) assert.match(detail, new RegExp(`${x.table.replace('.', '\\.')}\\s+\\d+%\\s+\\d+/\\d+`));
  t.diagnostic(`detail:\n${detail}`);
  t.diagnostic(`killed with ${before.done} of ${before.ranges} ranges done (${before.rows} rows committed)`);
  const exited = new Promise((r) => first.once('exit', r));
  first.kill('SIGKILL');
  await exited;
  assert.ok(alive(before.keeper_pid!), 'the snapshot keeper outlives the worker that started it');

  const metrics = await freeAddress();
  spawnWorker(workerAt(h), { DBMIG_METRICS_ADDRESS: metrics });
  await eventually(
    'the database ready for its cutover on the second worker',
    async () =>
      (await getStatus(h.env.client, handle.workflowId)).databases[0].state === 'AWAITING_APPROVAL' || undefined,
    300_000,
  );
  const done = (await copyState(target, names.job))!;
  // The second worker's gauges: the copy's and the live validation's are its steps', so once they
  // ended (the database awaits approval) they are NaN, never a stale 100%; the watch's lag is a number.
  const m = await eventually('the watch measuring lag on the second worker', async () => {
    const text = await scrape(metrics);
    return Number.isNaN(gauge(text, 'dbmig_replication_lag_seconds', DB.name) ?? NaN) ? undefined : text;
  });
  const g = (name: string) => gauge(m, name, DB.name);
  for (const name of ['dbmig_copy_fraction', 'dbmig_copy_rows', 'dbmig_copy_rows_total', 'dbmig_copy_eta_seconds'])
    assert.ok(Number.isNaN(g(name)), `${name} back to no value after the copy: ${g(name)}`);
  for (const name of ['dbmig_validation_fraction', 'dbmig_validation_rows', 'dbmig_validation_eta_seconds'])
    assert.ok(Number.isNaN(g(name)), `${name} back to no value after the validation: ${g(name)}`);
  assert.ok(g('dbmig_replication_lag_seconds')! >= 0, `lag ${g('dbmig_replication_lag_seconds')} s from the watch`);
  const catchUpEta = g('dbmig_catchup_eta_seconds');
  assert.ok(catchUpEta !== undefined && (Number.isNaN(catchUpEta) || catchUpEta >= 0), `catch-up ETA ${catchUpEta}`);
  t.diagnostic(
    `gauges: copy ${g('dbmig_copy_fraction')}, validation ${g('dbmig_validation_fraction')}, ` +
      `lag ${g('dbmig_replication_lag_seconds')} s, catch-up ETA ${catchUpEta}`,
  );
  assert.equal(done.snapshot, before.snapshot, 'the same snapshot: the copy went on, it did not start over');
  assert.equal(done.restarts, 0);
  assert.equal(done.done, done.ranges, 'every range done');
  await eventually(
    'the keeper ended once the rows were copied',
    async () => !alive(before.keeper_pid!) || undefined,
    30_000,
  );

  // Row for row, once the writes stop and replication has applied them (the key-less table shows any duplicate).
  writer.pause();
  await writer.stop();
  await awaitRowForRow({ ...h.source, database: DB.name }, target);
  assert.ok(writer.writes > 0, 'writes ran during the copy');
  t.diagnostic(`${done.ranges} ranges, ${done.rows} rows copied in one snapshot; ${writer.writes} writes meanwhile`);
  await handle.cancel();
});

test('a worker killed once the rows are in builds the indexes without copying again', async (t) => {
  const plan = planFor({ ...h.source, user: migrator.user }, [INDEXED], `env:${migrator.env}`, {
    approval: { policy: 'manual', timeout: '1h' },
    defaults: { stableWindow: '3s', lagThresholdSeconds: 5 },
    copy: { method: 'snapshot', streams: 2, rangeMb: 1 },
  });
  const handle = await h.startFleet('snapindex', plan);
  t.after(() => killWorkers());
  const marker = join(dir, 'rows-in.json');
  const first = spawnWorker(workerAt(h), { DBMIG_FAULT_PAUSE_AT: 'copy/rows-in', DBMIG_FAULT_MARKER: marker }).child;
  await eventually('the first worker paused with the rows in', async () => existsSync(marker) || undefined, 240_000);
  const names = resourceNames(handle.workflowId, INDEXED.name);
  const target = { ...(await h.platform.clusters.ensure('fleet-target')), database: INDEXED.name };
  const marks = (): Promise<string[]> =>
    withClient(target, async (c) =>
      (
        await c.query<{ m: string }>(
          `select tbl || ' ' || coalesce(first_block::text, '-') || ' ' || coalesce(done_at::text, 'not done') as m
             from dbmig.copy_range where job = $1 order by 1`,
          [names.job],
        )
      ).rows.map((r) => r.m),
    );
  const indexes = (p: ConnectionParams) =>
    withClient(p, async (c) =>
      (
        await c.query<{ i: string }>(`select indexname as i from pg_indexes where schemaname = 'public' order by 1`)
      ).rows.map((r) => r.i),
    );
  const before = await marks();
  assert.ok(
    before.length >= 2 && before.every((m) => !m.endsWith('not done')),
    `every range done: ${before.join('; ')}`,
  );
  assert.ok(!(await indexes(target)).includes('items_sku'), 'no secondary index built yet');
  const exited = new Promise((r) => first.once('exit', r));
  first.kill('SIGKILL');
  await exited;

  spawnWorker(workerAt(h));
  await h.reach(handle.workflowId, INDEXED.name, 'AWAITING_APPROVAL', 300_000);
  assert.deepEqual(await marks(), before, "no range copied again: every done mark is the first worker's");
  assert.equal((await copyState(target, names.job))!.restarts, 0, 'the copy did not start over');
  assert.deepEqual(await indexes(target), await indexes({ ...h.source, database: INDEXED.name }), 'every index built');
  for (const x of await compareRowForRow({ ...h.source, database: INDEXED.name }, target, ['dbmig']))
    assert.ok(x.equal, `${x.table}: source ${x.sourceRows} rows, target ${x.targetRows}`);
  t.diagnostic(`${before.length} ranges kept across the kill; indexes: ${(await indexes(target)).join(', ')}`);
  await handle.cancel();
});

test("a keeper that cannot create the slot fails the copy at once, in its server's words", async () => {
  // A DBA took REPLICATION from the migration user after the job was made: CREATE_REPLICATION_SLOT fails.
  const user = await createMigrationUser(h.source, 'snap_norepl', 'DBMIG_SNAP_NOREPL_PASSWORD');
  await handOver(h.source, NOREPL.name, { owner: 'snap_owner', apps: [app.user], migrator: user.user });
  const plan = validatePlan(
    planFor({ ...h.source, user: user.user }, [NOREPL], `env:${user.env}`, {
      migrationId: 'snapfail',
      copy: { method: 'snapshot', streams: 2, rangeMb: 1 },
    }),
  );
  const task: DatabaseTask = {
    migrationId: 'snapfail',
    platform: 'local',
    database: { ...plan.databases[0], target: { ...plan.databases[0].target, database: 'journal_snapfail' } },
    settings: { ...effectiveSettings(plan, plan.databases[0]), targetDatabase: 'journal_snapfail' },
  };
  const p = h.platform;
  await p.provisionTarget(task);
  await p.createMigrationJob(task);
  await withClient({ ...h.source, database: 'postgres' }, (c) => c.query('alter role snap_norepl noreplication'));
  const started = Date.now();
  await assert.rejects(
    p.copyInitialData!(task, () => undefined),
    /could not create slot .*: .*(permission|replication)/i,
  );
  assert.ok(Date.now() - started < 60_000, "failed at once, not at the snapshot wait's timeout");
  await p.deleteMigrationJob(task);
  await p.deleteTarget(task);
});
