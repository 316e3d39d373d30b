// The migration targets, Cloud SQL and AlloyDB, against the fake through the real @google-cloud/sql
// and @google-cloud/alloydb clients: get-or-create (twice → one resource; a lost answer → one
// resource, accepted as ours), conflicts named, versions from the plan or the source, Cloud SQL's 403
// for a missing instance, AlloyDB's READY cluster before its instance, and deletion only of what this
// (migration, database) created and no other database uses.
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { GcpPlatform } from '../activities/platforms/gcp';
import { deleteAlloyDb, describeAlloyDb, ensureAlloyDb } from '../activities/platforms/gcp/sql/alloydb';
import type { GcpClients } from '../activities/platforms/gcp/clients';
import { deleteCloudSql, describeCloudSql, ensureCloudSql } from '../activities/platforms/gcp/sql/cloudsql';
import { errorReason, httpStatus, isAlreadyExists, isTransientConflict } from '../activities/platforms/gcp/errors';
import { SqlBackupRunsServiceClient } from '@google-cloud/sql';
import { ownerLabels } from '../activities/platforms/gcp/names';
import { editionForTier, resolveVersion } from '../activities/platforms/gcp/sql/versions';
import { MigrationError } from '../common/failures';
import { type DatabaseTask } from '../activities/steps';
import { createFakeGcp, fakeAuth, type FakeGcp } from './fakes/gcp';
import { targetsState } from './fakes/gcp/routes-targets';
import { gcpPlan, PROJECT } from './helpers/gcp-plan';

const POLL = { intervalMs: 5, timeoutMs: 20_000 };
const REGION = 'us-central1';
const PARENT = `projects/${PROJECT}/locations/${REGION}`;
const NETWORK = `projects/${PROJECT}/global/networks/migration-network`;

let fake: FakeGcp;
let endpoint: Awaited<ReturnType<FakeGcp['start']>>;
let platform: GcpPlatform;
let c: GcpClients;

type Patch = {
  target?: Partial<DatabaseTask['database']['target']>;
  source?: Partial<DatabaseTask['database']['source']>;
};

/** Database i of the shared plan (0 mysql→Cloud SQL, 1 pg→AlloyDB, 2 pg→Cloud SQL), patched. */
function task(i: number, patch: Patch = {}, migrationId = 'targets', gcp: Record<string, unknown> = {}): DatabaseTask {
  const plan = validatePlan(gcpPlan());
  const db = plan.databases[i];
  const database = {
    ...db,
    target: { ...db.target, passwordRef: 'env:GCP_TEST_TARGET_PASSWORD', ...patch.target },
    source: { ...db.source, ...patch.source },
  };
  return {
    migrationId,
    platform: 'gcp',
    database,
    settings: effectiveSettings(plan, database),
    gcp: { ...plan.gcp!, ...gcp },
  };
}

async function rejectsWith(p: Promise<unknown>, type: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MigrationError, `not a MigrationError: ${err}`);
    assert.equal(err.type, type, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

const sqlInserts = () => fake.count('POST', /^\/v1\/projects\/[^/]+\/instances$/);

before(async () => {
  process.env.GCP_TEST_TARGET_PASSWORD = 'target-s3cret';
  fake = createFakeGcp().fake;
  endpoint = await fake.start();
  platform = new GcpPlatform({ endpoint, authClient: fakeAuth(), poll: POLL });
  c = platform.clients;
});
after(async () => {
  await platform?.close();
  await fake?.stop();
});
beforeEach(() => {
  fake.opPolls = 2;
});

test('versions: the plan, then the source, then the server; refused naming the field and what is offered', () => {
  assert.equal(resolveVersion(task(2, { target: { version: '16' } })).enumName, 'POSTGRES_16');
  assert.equal(resolveVersion(task(2)).enumName, 'POSTGRES_14'); // source.version 14
  const noVersion = task(2, { source: { version: undefined } });
  assert.equal(resolveVersion(noVersion, '15.4 (Debian 15.4-1)').enumName, 'POSTGRES_15');
  assert.equal(resolveVersion(task(0, { source: { version: undefined } }), '8.0.35-log').enumName, 'MYSQL_8_0');
  assert.equal(resolveVersion(task(0, { target: { version: '8.4' } })).enumName, 'MYSQL_8_4');
  assert.throws(
    () => resolveVersion(noVersion),
    (e: MigrationError) => e.type === 'InvalidPlan' && /databases\[billing\]\.target\.version/.test(e.message),
  );
  assert.equal(resolveVersion(task(1, { target: { version: '18' } })).enumName, 'POSTGRES_18');
  assert.throws(
    () => resolveVersion(task(1, { target: { version: '13' } })),
    (e: MigrationError) =>
      e.type === 'InvalidPlan' &&
      /databases\[ledger\]\.target\.version: AlloyDB does not offer version 13; it offers 14, 15, 16, 17, 18/.test(
        e.message,
      ),
  );
  assert.throws(
    () => resolveVersion(task(0, { source: { version: '9.7' } })),
    (e: MigrationError) => /databases\[orders\]\.source\.version: Cloud SQL for MySQL does not offer/.test(e.message),
  );
  assert.equal(editionForTier('db-custom-2-8192'), 'ENTERPRISE');
  assert.equal(editionForTier('db-perf-optimized-N-8'), 'ENTERPRISE_PLUS');
  // The dry run names the version and where it came from, and never the password.
  const [row] = describeCloudSql(task(2, { target: { version: '16' } }));
  assert.match(
    row.detail,
    /POSTGRES_16 \(from databases\[billing\]\.target\.version\), db-custom-2-8192 \(ENTERPRISE\)/,
  );
  assert.doesNotMatch(row.detail, /target-s3cret/);
  assert.match(describeAlloyDb(task(1))[0].detail, /POSTGRES_15/);
});

test('Cloud SQL: created once, as the recipe says, with an explicit edition and this database as owner', async () => {
  // PostgreSQL 16 defaults to Enterprise Plus, which refuses db-custom tiers: the edition must be sent.
  const t = task(2, { target: { version: '16', instance: 'billing-pg16' } }, 'targets', {
    allocatedIpRange: 'psa-range',
  });
  const before = sqlInserts();
  const first = await ensureCloudSql(c, t, POLL);
  const second = await ensureCloudSql(c, t, POLL);
  assert.deepEqual(first, second);
  assert.equal(first.ownedByMigration, true);
  assert.match(first.endpoint, /\(10\.20\.0\.\d+\)$/);
  assert.equal(sqlInserts() - before, 1);
  const [inst] = await c.sqlInstances.get({ project: PROJECT, instance: 'billing-pg16' });
  const s = inst.settings!;
  assert.equal(String(inst.state), 'RUNNABLE');
  assert.equal(String(inst.databaseVersion), 'POSTGRES_16');
  assert.equal(String(s.edition), 'ENTERPRISE');
  assert.equal(s.ipConfiguration?.allocatedIpRange, 'psa-range');
  assert.equal(s.ipConfiguration?.privateNetwork, NETWORK);
  assert.equal(s.ipConfiguration?.ipv4Enabled?.value, false);
  assert.deepEqual({ ...s.userLabels }, ownerLabels(t));
  assert.equal(inst.rootPassword || undefined, undefined, 'the root password is never returned');
  assert.equal(String(inst.ipAddresses?.[0]?.type), 'PRIVATE');
});

test('the fake refuses a db-custom tier left to the Enterprise Plus default of PostgreSQL 16', async () => {
  await assert.rejects(
    c.sqlInstances.insert({
      project: PROJECT,
      body: {
        name: 'raw-pg16',
        region: REGION,
        databaseVersion: 'POSTGRES_16' as never,
        settings: {
          tier: 'db-custom-2-8192',
          ipConfiguration: { ipv4Enabled: { value: false }, privateNetwork: NETWORK },
        },
      },
    }),
    /Invalid Tier \(db-custom-2-8192\) for \(ENTERPRISE_PLUS\) Edition/,
  );
});

test('Cloud SQL answers 403 for a missing instance; the platform decides existence by instances.list', async () => {
  await assert.rejects(c.sqlInstances.get({ project: PROJECT, instance: 'never-made' }), (e: unknown) => {
    assert.equal(httpStatus(e), 403);
    return true;
  });
  const t = task(0, { target: { instance: 'orders-fresh' } });
  await ensureCloudSql(c, t, POLL);
  const getsBeforeCreate = fake.log.filter(
    (r) => r.rpc === 'sql.instances.get' && r.path.endsWith('/orders-fresh') && r.status === 403,
  );
  assert.equal(getsBeforeCreate.length, 0, 'no get of an instance that may not exist');
  assert.ok(fake.log.some((r) => r.rpc === 'sql.instances.list' && /filter=name/.test(r.query)));
});

test('Cloud SQL: an insert whose answer was lost is retried, answered 409, and accepted as ours', async () => {
  const t = task(0, { target: { instance: 'orders-lost' } });
  const before = sqlInserts();
  fake.loseResponse('sql.instances.insert');
  const info = await ensureCloudSql(c, t, POLL);
  assert.equal(info.ownedByMigration, true);
  assert.equal(sqlInserts() - before, 2, 'the insert, then its retry');
  assert.ok(fake.log.some((r) => r.rpc === 'sql.instances.insert' && r.status === 409));
  assert.equal([...fake.resources.keys()].filter((k) => k === `sql/${PROJECT}/orders-lost`).length, 1);
});

test('Cloud SQL: an existing instance with another tier, version or network is refused, naming each', async () => {
  fake.resources.set(`sql/${PROJECT}/orders-other`, {
    name: 'orders-other',
    region: REGION,
    databaseVersion: 'MYSQL_5_7',
    state: 'RUNNABLE',
    settings: {
      tier: 'db-n1-standard-1',
      availabilityType: 'REGIONAL',
      ipConfiguration: { privateNetwork: `projects/${PROJECT}/global/networks/other` },
    },
  });
  const before = sqlInserts();
  await rejectsWith(
    ensureCloudSql(c, task(0, { target: { instance: 'orders-other' } }), POLL),
    'AlreadyExistsMismatch',
    new RegExp(
      'databaseVersion is MYSQL_5_7, plan needs MYSQL_8_0; tier is db-n1-standard-1, plan needs db-custom-4-16384; ' +
        `.*private network is projects/${PROJECT}/global/networks/other`,
    ),
  );
  assert.equal(sqlInserts(), before);
});

test("Cloud SQL: another database's instance is neither reused nor deleted", async () => {
  const mine = task(0, { target: { instance: 'orders-shared' } });
  await ensureCloudSql(c, mine, POLL);
  const otherDb = { ...mine, database: { ...mine.database, name: 'orders-two' } };
  const otherMigration = { ...mine, migrationId: 'someone-else' };
  await rejectsWith(
    ensureCloudSql(c, otherDb, POLL),
    'AlreadyExistsMismatch',
    /not this database's: .*database orders/,
  );
  assert.deepEqual(await deleteCloudSql(c, otherDb, POLL), {
    deleted: false,
    reason:
      'Cloud SQL instance orders-shared was not created for this database: ' +
      'it was created for migration targets, database orders',
  });
  assert.equal((await deleteCloudSql(c, otherMigration, POLL)).deleted, false);
  assert.ok(fake.resources.has(`sql/${PROJECT}/orders-shared`));
  assert.equal(fake.count('DELETE', /\/instances\/orders-shared$/), 0);
});

test("Cloud SQL: kept while another database's DMS profile uses it; deleted when unused; name held", async () => {
  const t = task(0, { target: { instance: 'orders-used' } });
  await ensureCloudSql(c, t, POLL);
  const profile = `${PARENT}/connectionProfiles/other-dest`;
  fake.resources.set(`dms/${profile}`, {
    name: profile,
    labels: { 'dbmig-migration': 'other', 'dbmig-database': 'other-db' },
    mysql: { cloudSqlId: 'orders-used', host: '10.20.0.9', port: 3306, username: 'root' },
    state: 'READY',
  });
  const kept = await deleteCloudSql(c, t, POLL);
  assert.equal(kept.deleted, false);
  assert.match(kept.reason!, /used by connection profile .*other-dest \(migration other, database other-db\)/);
  assert.ok(fake.resources.has(`sql/${PROJECT}/orders-used`));

  fake.resources.delete(`dms/${profile}`);
  assert.deepEqual(await deleteCloudSql(c, t, POLL), { deleted: true });
  assert.ok(!fake.resources.has(`sql/${PROJECT}/orders-used`));
  assert.deepEqual(await deleteCloudSql(c, t, POLL), {
    deleted: false,
    reason: 'Cloud SQL instance orders-used does not exist',
  });
  // Creating it again right away: Cloud SQL still holds the name, and the error says why.
  await rejectsWith(ensureCloudSql(c, t, POLL), 'AlreadyExistsMismatch', /deleted recently.*reused until its deletion/);
  targetsState(fake).sqlNameReuseMs = 0;
  assert.equal((await ensureCloudSql(c, t, POLL)).ownedByMigration, true);
});

test('Cloud SQL: a delete answered 409 operationInProgress during a backup is retried, done after it', async () => {
  const instance = 'orders-backup';
  const t = task(0, { target: { instance } });
  await ensureCloudSql(c, t, POLL);
  // A backup run (as the daily backup the instance is created with) holds the instance: the fake
  // ends it after four reads of the instance, as time passes for the real one.
  fake.opPolls = 4;
  const { host: apiEndpoint, port, protocol } = endpoint;
  const backups = new SqlBackupRunsServiceClient({
    fallback: true,
    apiEndpoint,
    port,
    protocol,
    authClient: fakeAuth(),
  });
  try {
    await backups.insert({ project: PROJECT, instance, body: {} });
    // Google's answer as the real client surfaces it: 409 with the v1 reason in the raw body.
    const err = await c.sqlInstances.delete({ project: PROJECT, instance }).then(
      () => assert.fail('deleted during the backup'),
      (e: unknown) => e,
    );
    assert.equal(httpStatus(err), 409);
    assert.equal(errorReason(err), 'operationInProgress');
    assert.equal(isTransientConflict(err), true);
    assert.equal(isAlreadyExists(err), false);
    // Another backup while one is in flight: refused the same way.
    await assert.rejects(backups.insert({ project: PROJECT, instance, body: {} }), /another operation was already/);
  } finally {
    await backups.close();
  }
  // The compensation, retried as the activity's retry policy does: a non-retryable error ends it.
  const refusals: string[] = [];
  let result: Awaited<ReturnType<typeof deleteCloudSql>> | undefined;
  for (let attempt = 1; attempt <= 10 && !result; attempt++) {
    try {
      result = await deleteCloudSql(c, t, POLL);
    } catch (err) {
      refusals.push(String(err));
      if (err instanceof MigrationError && !err.retryable) break;
    }
  }
  assert.ok(refusals.length >= 1, 'the first delete met the backup');
  for (const r of refusals) assert.match(r, /retryable: operationInProgress, HTTP 409/);
  assert.deepEqual(result, { deleted: true }, refusals.join('\n'));
  assert.equal(fake.resources.get(`sql-backups/${PROJECT}/${instance}`)?.length, 1, 'the backup ran to its end');
  assert.ok(!fake.resources.has(`sql/${PROJECT}/${instance}`));
});

test('Cloud SQL: MySQL 8.4 (Enterprise Plus by default) gets Enterprise for its db-custom tier', async () => {
  const info = await ensureCloudSql(c, task(0, { target: { instance: 'orders-84', version: '8.4' } }), POLL);
  assert.equal(info.ownedByMigration, true);
  const [inst] = await c.sqlInstances.get({ project: PROJECT, instance: 'orders-84' });
  assert.equal(String(inst.databaseVersion), 'MYSQL_8_4');
  assert.equal(String(inst.settings?.edition), 'ENTERPRISE');
});

test("Cloud SQL: the source server's version when the plan names none; refused before any request else", async () => {
  const t = task(2, { source: { version: undefined }, target: { instance: 'billing-src' } });
  const before = sqlInserts();
  await rejectsWith(ensureCloudSql(c, t, POLL), 'InvalidPlan', /databases\[billing\]\.target\.version/);
  assert.equal(sqlInserts(), before);
  await ensureCloudSql(c, t, POLL, { sourceVersion: '17.2' });
  const [inst] = await c.sqlInstances.get({ project: PROJECT, instance: 'billing-src' });
  assert.equal(String(inst.databaseVersion), 'POSTGRES_17');
});

const clusterCreates = (id: string) =>
  fake.log.filter(
    (r) => r.rpc === 'alloydb.projects.locations.clusters.create' && r.resource?.endsWith(`/clusters/${id}`),
  ).length;
const instanceCreates = (id: string) =>
  fake.log.filter(
    (r) => r.rpc === 'alloydb.projects.locations.clusters.instances.create' && r.path.includes(`/clusters/${id}/`),
  ).length;

test('AlloyDB: cluster and primary created once, on the network, at the plan version, labelled', async () => {
  const t = task(1, { target: { instance: 'ledger-a' } }, 'targets', { allocatedIpRange: 'psa-range' });
  const first = await ensureAlloyDb(c, t, POLL);
  assert.deepEqual(await ensureAlloyDb(c, t, POLL), first);
  assert.equal(first.ownedByMigration, true);
  assert.match(first.endpoint, /ledger-a-primary \(10\.30\.0\.\d+\)/);
  assert.equal(clusterCreates('ledger-a'), 1);
  assert.equal(instanceCreates('ledger-a'), 1);
  const [cluster] = await c.alloydb.getCluster({ name: `${PARENT}/clusters/ledger-a` });
  assert.equal(String(cluster.databaseVersion), 'POSTGRES_15');
  assert.equal(cluster.networkConfig?.network, NETWORK);
  assert.equal(cluster.networkConfig?.allocatedIpRange, 'psa-range');
  assert.equal(cluster.initialUser ?? undefined, undefined, 'initial_user is input-only');
  assert.deepEqual({ ...cluster.labels }, ownerLabels(t));
  const create = fake.log.find(
    (r) => r.rpc === 'alloydb.projects.locations.clusters.create' && r.resource?.endsWith('/ledger-a'),
  );
  assert.match(
    new URLSearchParams(create!.query).get('requestId')!,
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  );
});

test('AlloyDB: the instance is created only once the cluster is READY', async () => {
  fake.opPolls = 4;
  const t = task(1, { target: { instance: 'ledger-slow' } });
  // The cluster exists and is still CREATING (another attempt's create, its answer lost).
  await c.alloydb.createCluster({
    parent: PARENT,
    clusterId: 'ledger-slow',
    cluster: {
      networkConfig: { network: NETWORK },
      initialUser: { password: 'x' },
      databaseVersion: 'POSTGRES_15' as never,
      labels: ownerLabels(t),
    },
  });
  await assert.rejects(
    c.alloydb.createInstance({
      parent: `${PARENT}/clusters/ledger-slow`,
      instanceId: 'too-early',
      instance: { instanceType: 'PRIMARY' as never, machineConfig: { cpuCount: 2 } },
    }),
    (err: { code?: number; message?: string; statusDetails?: unknown[] }) => {
      assert.match(String(err.message), /not ready \(state CREATING\)/);
      // FAILED_PRECONDITION with its google.rpc.PreconditionFailure, as the real client decodes it.
      assert.equal(err.code, 9);
      assert.deepEqual(JSON.parse(JSON.stringify(err.statusDetails)), [
        {
          violations: [
            { type: 'STATE', subject: `${PARENT}/clusters/ledger-slow`, description: 'cluster is CREATING, not READY' },
          ],
        },
      ]);
      return true;
    },
  );
  await ensureAlloyDb(c, t, POLL);
  const creates = fake.log.filter(
    (r) => r.rpc === 'alloydb.projects.locations.clusters.instances.create' && r.path.includes('/ledger-slow/'),
  );
  assert.deepEqual(
    creates.map((r) => r.status),
    [400, 200],
    'only the early raw create was refused',
  );
  assert.equal(clusterCreates('ledger-slow'), 1);
});

test('AlloyDB: a create whose answer was lost is retried with its request id, answered from the first', async () => {
  const t = task(1, { target: { instance: 'ledger-lost' } });
  fake.loseResponse('alloydb.projects.locations.clusters.create');
  fake.loseResponse('alloydb.projects.locations.clusters.instances.create');
  const info = await ensureAlloyDb(c, t, POLL);
  assert.equal(info.ownedByMigration, true);
  const posts = fake.log.filter(
    (r) => r.rpc === 'alloydb.projects.locations.clusters.create' && r.resource?.endsWith('/ledger-lost'),
  );
  assert.equal(posts.length, 2);
  assert.equal(new Set(posts.map((r) => new URLSearchParams(r.query).get('requestId'))).size, 1);
  assert.equal(
    [...fake.resources.keys()].filter((k) => k.startsWith(`alloydb/${PARENT}/clusters/ledger-lost/instances/`)).length,
    1,
  );
});

test("AlloyDB: a cluster on another network is refused; another database's is never deleted", async () => {
  const t = task(1, { target: { instance: 'ledger-net' } });
  fake.resources.set(`alloydb/${PARENT}/clusters/ledger-net`, {
    name: `${PARENT}/clusters/ledger-net`,
    networkConfig: { network: `projects/${PROJECT}/global/networks/other` },
    databaseVersion: 'POSTGRES_15',
    state: 'READY',
  });
  await rejectsWith(
    ensureAlloyDb(c, t, POLL),
    'AlreadyExistsMismatch',
    /network is projects\/dbmig-contract\/global\/networks\/other, plan needs/,
  );
  assert.equal((await deleteAlloyDb(c, t, POLL)).deleted, false, 'unlabelled: not ours');

  const mine = task(1, { target: { instance: 'ledger-b' } });
  await ensureAlloyDb(c, mine, POLL);
  const otherDb = { ...mine, database: { ...mine.database, name: 'ledger-two' } };
  await rejectsWith(ensureAlloyDb(c, otherDb, POLL), 'AlreadyExistsMismatch', /not this database's/);
  assert.match((await deleteAlloyDb(c, otherDb, POLL)).reason!, /created for migration targets, database ledger/);
  assert.ok(fake.resources.has(`alloydb/${PARENT}/clusters/ledger-b`));
});

test("AlloyDB: instance then cluster deleted without force; not while another database's job uses it", async () => {
  const t = task(1, { target: { instance: 'ledger-c' } });
  await ensureAlloyDb(c, t, POLL);
  const profile = `${PARENT}/connectionProfiles/mine-dest`;
  const job = `${PARENT}/migrationJobs/other-job`;
  // Our own destination profile, used by a job that is not ours.
  fake.resources.set(`dms/${profile}`, {
    name: profile,
    labels: ownerLabels(t),
    postgresql: { alloydbClusterId: 'ledger-c', host: '10.30.0.7', port: 5432, username: 'postgres' },
  });
  fake.resources.set(`dms/${job}`, { name: job, destination: profile, state: 'RUNNING', labels: {} });
  const kept = await deleteAlloyDb(c, t, POLL);
  assert.equal(kept.deleted, false);
  assert.match(kept.reason!, /migration job .*other-job \(not created by dbmig, RUNNING\)/);
  fake.resources.delete(`dms/${job}`);
  fake.resources.delete(`dms/${profile}`);

  assert.deepEqual(await deleteAlloyDb(c, t, POLL), { deleted: true });
  assert.ok(![...fake.resources.keys()].some((k) => k.startsWith(`alloydb/${PARENT}/clusters/ledger-c`)));
  const deletes = fake.log.filter((r) => r.method === 'DELETE' && r.path.includes('/clusters/ledger-c'));
  assert.deepEqual(
    deletes.map((r) => r.rpc),
    ['alloydb.projects.locations.clusters.instances.delete', 'alloydb.projects.locations.clusters.delete'],
  );
  for (const r of deletes) {
    const q = new URLSearchParams(r.query);
    assert.notEqual(q.get('force'), 'true');
    assert.match(q.get('requestId') ?? '', /^[0-9a-f-]{36}$/);
  }
});
