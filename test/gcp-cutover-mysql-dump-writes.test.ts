// The RDS flow's wait for writes to stop (dms/source-writes.ts) where the worker reaches a MySQL
// source: a real MariaDB source, the fake's DMS job in STARTING/WAITING_FOR_SOURCE_WRITES_TO_STOP.
// The fake moves the job on only once the test sees the source refuse an application write (its
// stand-in for DMS noticing the writes stopped); the worker must then release the lock as soon as
// the dump is under way, and the source takes writes again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mysql from 'mysql2/promise';
import { GcpPlatform } from '../activities/platforms/gcp';
import { stopWritesForDump } from '../activities/platforms/gcp/dms/source-writes';
import { gcpNames, ownerLabels } from '../activities/platforms/gcp/names';
import { type DatabaseTask } from '../activities/steps';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { createFakeGcp, fakeAuth, type FakeGcp } from './fakes/gcp';
import type { DmsBehaviour } from './fakes/gcp/routes-dms';
import { startMariadb, type MariadbServer } from './helpers/mariadb';

const PASSWORD_ENV = 'DBMIG_DUMPWRITES_PASSWORD';
const MIGRATOR = { user: 'migrator', password: 'migrator-Secret-4711' };
const APP = { user: 'app', password: 'app-Secret-4711' };
process.env[PASSWORD_ENV] = MIGRATOR.password;
const POLL = { intervalMs: 20, timeoutMs: 20_000 };

let source: MariadbServer;
let fake: FakeGcp;
let behaviour: DmsBehaviour;
let platform: GcpPlatform;

async function asRoot(sql: string): Promise<void> {
  const c = await mysql.createConnection({ socketPath: source.socket, user: 'root' });
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

before(async () => {
  source = await startMariadb(['--log-bin=binlog', '--server-id=1', '--binlog-format=ROW'], 'dbmig-mariadb-dump-');
  await asRoot(`CREATE USER '${MIGRATOR.user}'@'%' IDENTIFIED BY '${MIGRATOR.password}'`);
  await asRoot(`GRANT ALL PRIVILEGES ON *.* TO '${MIGRATOR.user}'@'%'`);
  await asRoot(`CREATE USER '${APP.user}'@'%' IDENTIFIED BY '${APP.password}'`);
  await asRoot(`GRANT SELECT, INSERT, UPDATE, DELETE ON *.* TO '${APP.user}'@'%'`);
  await asRoot('CREATE DATABASE shop');
  await asRoot('CREATE TABLE shop.items (id BIGINT AUTO_INCREMENT PRIMARY KEY, w INT NOT NULL)');
  const made = createFakeGcp({ dms: { fullDumpMs: 100 } });
  fake = made.fake;
  behaviour = made.behaviour;
  platform = new GcpPlatform({ endpoint: await fake.start(), authClient: fakeAuth(), poll: POLL });
});
after(async () => {
  await platform?.close();
  await fake?.stop();
  await source?.stop();
});

function task(): DatabaseTask {
  const plan = validatePlan({
    platform: 'gcp',
    gcp: {
      project: 'dbmig-dumpwrites',
      region: 'us-central1',
      zone: 'us-central1-a',
      network: 'projects/dbmig-dumpwrites/global/networks/migration-network',
    },
    cutover: { timeout: '30s' },
    databases: [
      {
        name: 'shop',
        engine: 'mysql',
        priority: 'medium',
        sizeGb: 1,
        source: {
          host: '127.0.0.1',
          port: source.port,
          database: 'shop',
          user: MIGRATOR.user,
          passwordRef: `env:${PASSWORD_ENV}`,
          access: 'direct',
        },
        target: { kind: 'cloudsql', instance: 'dumpwrites-target', passwordRef: `env:${PASSWORD_ENV}` },
      },
    ],
  });
  const database = plan.databases[0];
  return {
    migrationId: 'dumpwrites',
    platform: 'gcp',
    database,
    settings: effectiveSettings(plan, database),
    gcp: plan.gcp,
  };
}

/** One application write with a 1 s lock wait: true when it committed, false when the source refused it. */
async function appWrites(): Promise<boolean> {
  const c = await mysql.createConnection({ host: '127.0.0.1', port: source.port, ...APP, database: 'shop' });
  try {
    await c.query('SET SESSION lock_wait_timeout = 1');
    await c.query('INSERT INTO items (w) VALUES (1)');
    return true;
  } catch {
    return false;
  } finally {
    c.destroy();
  }
}

test('the worker stops the source writes while DMS waits for them, and only until the dump runs', async () => {
  const t = task();
  const n = gcpNames(t);
  assert.equal(await appWrites(), true, 'the source takes writes before');
  behaviour.writesStopped = new Set();
  fake.resources.set(`dms/${n.jobName}`, {
    name: n.jobName,
    state: 'STARTING',
    phase: 'WAITING_FOR_SOURCE_WRITES_TO_STOP',
    labels: ownerLabels(t),
    _sourceHost: '127.0.0.1',
  });
  // DMS's side: it sees the writes stopped once an application write is refused.
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      if (!(await appWrites())) {
        behaviour.writesStopped!.add('127.0.0.1');
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const steps: string[] = [];
  const started = Date.now();
  try {
    assert.equal(await stopWritesForDump(platform.clients, t, POLL, (s) => steps.push(s)), 'stopped by the worker');
  } finally {
    watching = false;
    await watcher;
  }
  console.log(`writes stopped for the dump's start: ${Date.now() - started} ms`);
  assert.ok(behaviour.writesStopped.has('127.0.0.1'), 'an application write was refused while DMS waited');
  assert.match(steps.join('\n'), /writes are stopped \(LOCK TABLES/);
  const job = fake.resources.get(`dms/${n.jobName}`);
  assert.equal(`${job.state}/${job.phase}`, 'RUNNING/FULL_DUMP');
  assert.equal(await appWrites(), true, 'the source takes writes again once the dump runs');
  // Nothing left to do on a job past the wait.
  assert.equal(await stopWritesForDump(platform.clients, t, POLL), 'not waiting');
});
