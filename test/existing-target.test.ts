// An existing PostgreSQL server as the target (kind postgres): a PostgreSQL 17 server the team runs
// (started here from its own directory, as any server outside dbmig), a PostgreSQL 15 source under
// writes. The migration is started by one worker and cut over by another with a different state
// directory (another host, as far as dbmig can tell): workers keep nothing for such plans. The same
// replication, cutover and rollback run; afterwards the server has one more database, the
// migration's, and nothing else changed: no role, slot, publication or setting.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { approveCutover, rollbackDatabase, waitForState } from '../client/client';
import { statusQuery } from '../common/messages';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan, type PlanInput } from '../common/plan';
import { LocalPlatform } from '../activities/platforms/local';
import { LocalClusters, type ClusterInfo } from '../activities/platforms/local/clusters';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import type { DatabaseTask } from '../activities/steps';
import { createMigrationWorker } from '../worker/worker';
import { compareRowForRow, createSourceDatabase, Writer } from './fixtures/fleet';
import { createHarness, eventually, sharedBundle, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';

const SERVER_PASSWORD_ENV = 'DBMIG_TEST_TEAM_SERVER_PASSWORD';
const DB = 'shop';

let h: Harness;
let team: LocalClusters;
let server: ClusterInfo;

/** What a server's operators would notice: databases, roles, slots, publications, settings in its files. */
async function snapshot(p: Omit<ConnectionParams, 'database'>) {
  return withClient({ ...p, database: 'postgres' }, async (c) => {
    const list = async (sql: string) => (await c.query<{ v: string }>(sql)).rows.map((r) => r.v);
    return {
      databases: await list('select datname as v from pg_database order by 1'),
      roles: await list('select rolname as v from pg_roles order by 1'),
      slots: await list('select slot_name as v from pg_replication_slots order by 1'),
      publications: await list('select pubname as v from pg_publication order by 1'),
      subscriptions: await list('select subname as v from pg_subscription order by 1'),
      // ALTER SYSTEM writes postgresql.auto.conf, which shows here.
      fileSettings: await list(
        `select sourcefile || ': ' || name || '=' || setting as v from pg_file_settings order by 1`,
      ),
    };
  });
}

function planOf(extra: Partial<PlanInput> = {}): PlanInput {
  return {
    platform: 'local',
    migrationId: 'existing',
    concurrency: 1,
    approval: { policy: 'manual', timeout: '1h' },
    defaults: { lagThresholdSeconds: 5, stableWindow: '2s', noPrimaryKey: 'fail' },
    ...extra,
    databases: [
      {
        name: DB,
        engine: 'postgresql',
        priority: 'high',
        sizeGb: 1,
        source: {
          host: h.source.host,
          port: h.source.port,
          database: DB,
          user: h.source.user,
          passwordRef: `env:${SOURCE_PASSWORD_ENV}`,
        },
        target: {
          kind: 'postgres',
          instance: 'team-pg',
          host: server.host,
          port: server.port,
          user: server.user,
          passwordRef: `env:${SERVER_PASSWORD_ENV}`,
        },
        noPrimaryKey: 'replica-identity-full',
      },
    ],
  };
}

function taskOf(input: PlanInput): DatabaseTask {
  const p = validatePlan(input);
  const database = p.databases[0];
  return { migrationId: p.migrationId!, platform: 'local', database, settings: effectiveSettings(p, database) };
}

before(async () => {
  h = await createHarness('existing-target', { worker: false });
  team = new LocalClusters(resolve('.local-platform', 'test-existing-target-team'));
  server = await team.ensure('team-pg', { version: 17 });
  process.env[SERVER_PASSWORD_ENV] = server.password;
  await createSourceDatabase(h.source, { name: DB, rows: 5_000, priority: 'high', sizeGb: 1, noPrimaryKey: true });
});

after(async () => {
  await h?.stopWorker();
  await team?.destroy('team-pg').catch(() => undefined);
  await rm(resolve('.local-platform', 'test-existing-target-team'), { recursive: true, force: true });
  await h?.close();
});

test('the plan names the fields an existing server needs, and refuses them elsewhere', () => {
  const base = planOf();
  const target = base.databases[0].target as Record<string, unknown>;
  const without = (f: string) => ({
    ...base,
    databases: [{ ...base.databases[0], target: { ...target, [f]: undefined } }],
  });
  assert.throws(() => validatePlan(without('host')), /databases\[0\]\.target\.host: is required for kind postgres/);
  assert.throws(() => validatePlan(without('passwordRef')), /databases\[0\]\.target\.passwordRef: is required/);
  assert.throws(
    () => validatePlan({ ...base, databases: [{ ...base.databases[0], target: { ...target, kind: 'cloudsql' } }] }),
    /databases\[0\]\.target\.host: is for kind postgres \(an existing server\), not cloudsql/,
  );
});

test("an existing server's prerequisites are assessed before anything is created on it", async () => {
  const before = await snapshot(server);
  const task = taskOf(planOf());
  const a = await h.platform.assessSource(task);
  assert.deepEqual(
    a.findings.filter((f) => f.severity === 'error'),
    [],
    'the team server (wal_level logical, a superuser) has what it takes',
  );
  assert.match(
    a.findings.find((f) => f.code === 'MAJOR_UPGRADE')?.message ?? '',
    /target 17 \(the server 127\.0\.0\.1:/,
  );
  assert.equal(a.targetVersion, '17');

  const wrongVersion = taskOf(planOf());
  wrongVersion.database.target.version = '16';
  const w = await h.platform.assessSource(wrongVersion);
  assert.match(
    w.findings.find((f) => f.code === 'TARGET_VERSION')?.message ?? '',
    /says 16, but the server .* runs PostgreSQL 17/,
  );

  process.env.DBMIG_TEST_TEAM_WRONG_PASSWORD = 'not-the-password';
  const wrongPassword = taskOf(planOf());
  wrongPassword.database.target.passwordRef = 'env:DBMIG_TEST_TEAM_WRONG_PASSWORD';
  const p = await h.platform.assessSource(wrongPassword);
  assert.equal(p.blocked, true);
  assert.match(
    p.findings.find((f) => f.code === 'TARGET_UNREACHABLE')?.message ?? '',
    /password authentication failed/,
  );
  assert.doesNotMatch(JSON.stringify(p), /not-the-password/, 'the password is in no finding');
  assert.deepEqual(await snapshot(server), before, 'the assessment changed nothing on the server');
});

test('a user that is not a superuser is refused: it makes the database, the subscription and the slot', async () => {
  const admin = { ...server, database: 'postgres' };
  process.env.DBMIG_TEST_TEAM_MIGRATOR_PASSWORD = 'migrator-pw-1';
  await withClient(admin, (c) => c.query(`create role migrator login createdb replication password 'migrator-pw-1'`));
  try {
    const task = taskOf(planOf());
    task.database.target.user = 'migrator';
    task.database.target.passwordRef = 'env:DBMIG_TEST_TEAM_MIGRATOR_PASSWORD';
    const a = await h.platform.assessSource(task);
    assert.equal(a.blocked, true);
    assert.match(
      a.findings.find((f) => f.code === 'TARGET_PRIVILEGES')?.message ?? '',
      /not a superuser.*CREATE SUBSCRIPTION is superuser-only before PostgreSQL 16/,
    );
  } finally {
    await withClient(admin, (c) => c.query('drop role migrator'));
  }
});

test('two workers on two "hosts" migrate into the server and roll back; the server is as it was', async (t) => {
  const before = await snapshot(server);
  const writer = new Writer({ ...h.source, database: DB }, true);
  await h.startWorker();
  const handle = await h.startFleet('existing', planOf());
  await eventually(
    `${DB} awaiting approval`,
    async () => (await handle.query(statusQuery)).databases[0].state === 'AWAITING_APPROVAL',
    180_000,
  );
  // The first worker goes away; another, with a state directory of its own, takes over.
  await h.stopWorker();
  const otherDir = resolve('.local-platform', 'test-existing-target-other-host');
  await rm(otherDir, { recursive: true, force: true });
  const other = new LocalPlatform(otherDir);
  let worker: Worker | undefined = await createMigrationWorker({
    connection: h.env.nativeConnection,
    taskQueue: h.taskQueue,
    platforms: { local: other },
    workflowBundle: await sharedBundle(),
  });
  const running = worker.run();
  try {
    await approveCutover(h.env.client, 'existing', DB, 'existing-test');
    const done = await waitForState(h.env.client, 'existing', DB, 'COMPLETED', { timeoutMs: 180_000, pollMs: 250 });
    t.diagnostic(`cut over by the second worker; write block ${done.writeBlockMs} ms`);
    writer.pause();
    const target = { ...server, database: DB };
    for (const x of await compareRowForRow({ ...h.source, database: DB }, target, ['dbmig']))
      assert.ok(x.equal, `${x.table} differs after the cutover: ${x.sourceRows} vs ${x.targetRows}`);

    // Neither worker kept anything: no job record, no cluster, no capacity file on either "host".
    for (const dir of [h.stateDir, otherDir]) {
      assert.equal(existsSync(join(dir, 'jobs')), false, `${dir} holds no job record`);
      assert.equal(existsSync(join(dir, 'clusters', 'team-pg')), false, `${dir} runs no cluster for the server`);
      assert.equal(existsSync(join(dir, 'capacity.json')), false, `${dir} reserved no local capacity`);
    }
    const rec = await withClient(
      target,
      async (c) => (await c.query<{ phase: string }>(`select record->>'phase' as phase from dbmig.job_record`)).rows,
    );
    assert.deepEqual(rec, [{ phase: 'switched' }], 'the job record lives with the target database');

    // The way back: the source takes over again, with every write the target took.
    await withClient(target, (c) => c.query(`insert into items (sku, qty, price) values ('written-on-target', 1, 1)`));
    await rollbackDatabase(h.env.client, 'existing', DB, 'existing-test', 'rehearsed way back');
    await waitForState(h.env.client, 'existing', DB, 'ROLLED_BACK', { timeoutMs: 180_000, pollMs: 250 });
    await withClient({ ...h.source, database: DB }, async (c) => {
      const { rows } = await c.query(`select 1 from items where sku = 'written-on-target'`);
      assert.equal(rows.length, 1, 'the target write came back to the source');
      await c.query(`insert into items (sku, qty, price) values ('source-writable-again', 1, 1)`);
    });
    await handle.result();
  } finally {
    await writer.stop();
    worker.shutdown();
    await running;
    worker = undefined;
    await rm(otherDir, { recursive: true, force: true });
  }

  // The server: one more database (the migration's, marked as its), nothing else.
  const afterwards = await snapshot(server);
  assert.deepEqual(afterwards, { ...before, databases: [...before.databases, DB].sort() });
  const mark = await withClient(
    { ...server, database: 'postgres' },
    async (c) =>
      (
        await c.query<{ m: string }>(
          `select shobj_description(oid, 'pg_database') as m from pg_database where datname = $1`,
          [DB],
        )
      ).rows[0].m,
  );
  assert.match(mark, /^dbmig migration=existing database=shop state=/);
});
