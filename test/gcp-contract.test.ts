// Contract tests of every gcp platform operation against the local fake of the Google Cloud
// REST APIs, through the real client libraries. Each create runs twice and must leave the
// world as if it ran once; a resource that exists with another configuration is refused.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { effectiveSettings, validatePlan } from '../common/plan';
import { gcpResourceNames } from '../common/naming';
import { GcpPlatform } from '../activities/platforms/gcp';
import { MigrationError, type DatabaseTask } from '../activities/platforms/platform';
import { createFakeGcp, fakeAuth, type FakeGcp } from './fakes/gcp';
import { gcpPlan, PROJECT } from './helpers/gcp-plan';

let fake: FakeGcp;
let unreachable: Set<string>;
let platform: GcpPlatform;

function tasks(migrationId = 'contract'): { mysql: DatabaseTask; pg: DatabaseTask } {
  const plan = validatePlan(gcpPlan());
  const task = (i: number): DatabaseTask => ({
    migrationId,
    platform: 'gcp',
    database: plan.databases[i],
    settings: effectiveSettings(plan, plan.databases[i]),
    gcp: plan.gcp,
  });
  return { mysql: task(0), pg: task(1) };
}

before(async () => {
  process.env.GCP_TEST_SOURCE_PASSWORD = 's3cret-mysql';
  process.env.DBMIG_ALLOWED_HOSTS = '203.0.113.0/24';
  const made = createFakeGcp({ secrets: { [`projects/${PROJECT}/secrets/ledger-source-password`]: 's3cret-pg' } });
  fake = made.fake;
  unreachable = made.behaviour.unreachableHosts;
  platform = new GcpPlatform({ endpoint: await fake.start(), authClient: fakeAuth(), poll: { intervalMs: 10 } });
});
after(async () => {
  await platform?.close();
  await fake?.stop();
});

async function rejectsWith(p: Promise<unknown>, type: string, pattern: RegExp): Promise<void> {
  await assert.rejects(
    p,
    (err: unknown) => err instanceof MigrationError && err.type === type && pattern.test(err.message),
  );
}

test('assessSource asks DMS to validate the source profile and blocks an unreachable source', async () => {
  const { mysql, pg } = tasks();
  assert.equal((await platform.assessSource(mysql)).blocked, false);
  assert.equal(fake.count('POST', /\/connectionProfiles$/), 1);
  unreachable.add('203.0.113.20');
  const bad = await platform.assessSource(pg);
  unreachable.clear();
  assert.equal(bad.blocked, true);
  assert.match(bad.findings[0].message, /cannot connect to 203\.0\.113\.20/);
  assert.equal(
    [...fake.resources.keys()].filter((k) => k.includes('connectionProfiles')).length,
    0,
    'validateOnly created nothing',
  );
});

test('provisionTarget creates a Cloud SQL instance once, configured as the recipe says', async () => {
  const { mysql } = tasks();
  const first = await platform.provisionTarget(mysql);
  const second = await platform.provisionTarget(mysql);
  assert.deepEqual(first, second);
  assert.equal(first.ownedByMigration, true);
  assert.equal(fake.count('POST', /^\/v1\/projects\/[^/]+\/instances$/), 1);
  const [inst] = await platform.clients.sqlInstances.get({ project: PROJECT, instance: 'orders-mysql' });
  const s = inst.settings!;
  assert.equal(inst.databaseVersion, 'MYSQL_8_0');
  assert.equal(s.tier, 'db-custom-4-16384');
  assert.equal(s.availabilityType, 'REGIONAL');
  assert.equal(s.dataDiskType, 'PD_SSD');
  assert.equal(s.storageAutoResize?.value, true);
  assert.equal(s.backupConfiguration?.enabled?.value, true);
  assert.equal(s.backupConfiguration?.binaryLogEnabled?.value, true);
  assert.deepEqual([s.maintenanceWindow?.day?.value, s.maintenanceWindow?.hour?.value], [7, 3]);
  assert.equal(s.ipConfiguration?.privateNetwork, `projects/${PROJECT}/global/networks/migration-network`);
  assert.equal(s.ipConfiguration?.ipv4Enabled?.value, false);
});

test('an existing Cloud SQL instance with another tier is refused, naming the difference', async () => {
  const { mysql } = tasks();
  fake.resources.set(`sql/${PROJECT}/legacy-mysql`, {
    name: 'legacy-mysql',
    databaseVersion: 'MYSQL_8_0',
    settings: { tier: 'db-n1-standard-1', availabilityType: 'REGIONAL' },
    state: 'RUNNABLE',
  });
  const posts = fake.count('POST', /\/instances$/);
  await rejectsWith(
    platform.provisionTarget({
      ...mysql,
      database: { ...mysql.database, target: { ...mysql.database.target, instance: 'legacy-mysql' } },
    }),
    'AlreadyExistsMismatch',
    /tier is db-n1-standard-1, plan needs db-custom-4-16384/,
  );
  assert.equal(fake.count('POST', /\/instances$/), posts);
});

test('provisionTarget creates an AlloyDB cluster and primary instance once', async () => {
  const { pg } = tasks();
  const first = await platform.provisionTarget(pg);
  assert.deepEqual(await platform.provisionTarget(pg), first);
  assert.equal(fake.count('POST', /\/clusters$/), 1);
  assert.equal(fake.count('POST', /\/clusters\/ledger-alloy\/instances$/), 1);
  const [inst] = await platform.clients.alloydb.getInstance({
    name: `projects/${PROJECT}/locations/us-central1/clusters/ledger-alloy/instances/ledger-alloy-primary`,
  });
  assert.equal(inst.machineConfig?.cpuCount, 8);
  assert.equal(String(inst.instanceType), 'PRIMARY');
});

test('high priority reserves calendar-mode capacity once; release deletes it', async () => {
  const { mysql } = tasks();
  const r = await platform.reserveCapacity(mysql);
  assert.deepEqual(await platform.reserveCapacity(mysql), r);
  assert.deepEqual(r, { name: gcpResourceNames('contract', 'orders').futureReservation, mode: 'calendar', workers: 8 });
  assert.equal(fake.count('POST', /\/futureReservations$/), 1);
  const [fr] = await platform.clients.futureReservations.get({
    project: PROJECT,
    zone: 'us-central1-a',
    futureReservation: r.name,
  });
  assert.equal(Number(fr.specificSkuProperties?.totalCount), 8);
  assert.equal(fr.specificSkuProperties?.instanceProperties?.machineType, 'e2-standard-4');
  await platform.releaseCapacity(mysql);
  await platform.releaseCapacity(mysql);
  assert.equal(fake.count('DELETE', /\/futureReservations\//), 1);
});

test('low priority asks for flex-start capacity once; release cancels and deletes it', async () => {
  const { pg } = tasks();
  const r = await platform.reserveCapacity(pg);
  await platform.reserveCapacity(pg);
  assert.deepEqual(r, { name: gcpResourceNames('contract', 'ledger').resizeRequest, mode: 'flex-start', workers: 2 });
  assert.equal(fake.count('POST', /\/resizeRequests$/), 1);
  await platform.releaseCapacity(pg);
  await platform.releaseCapacity(pg);
  assert.equal(fake.count('POST', /\/resizeRequests\/[^/]+\/cancel$/), 1);
  assert.equal(fake.count('DELETE', /\/resizeRequests\//), 1);
});

test('a missing migration worker group is a permanent NotFound', async () => {
  const { pg } = tasks();
  await rejectsWith(
    platform.reserveCapacity({ ...pg, gcp: { ...pg.gcp!, migrationWorkerGroup: 'no-such-mig' } }),
    'NotFound',
    /no-such-mig/,
  );
});

test('createMigrationJob creates two profiles and a CONTINUOUS job once; passwords stay out of reads', async () => {
  const { mysql } = tasks();
  await platform.createMigrationJob(mysql);
  await platform.createMigrationJob(mysql);
  const creates = fake.log.filter(
    (r) =>
      !r.faulted &&
      r.method === 'POST' &&
      /\/connectionProfiles$/.test(r.path) &&
      !r.query.includes('validateOnly=true'),
  );
  assert.equal(creates.length, 2, 'one source and one destination profile');
  assert.equal(fake.count('POST', /\/migrationJobs$/), 1);
  const n = gcpResourceNames('contract', 'orders');
  const job = (
    await platform.clients.dms.projects.locations.migrationJobs.get({
      name: `projects/${PROJECT}/locations/us-central1/migrationJobs/${n.migrationJob}`,
    })
  ).data;
  assert.equal(job.type, 'CONTINUOUS');
  assert.equal(job.dumpPath, `gs://dbmig-dumps/${n.migrationJob}`);
  assert.deepEqual(job.destinationDatabase, { engine: 'MYSQL', provider: 'CLOUDSQL' });
  const profile = (
    await platform.clients.dms.projects.locations.connectionProfiles.get({
      name: `projects/${PROJECT}/locations/us-central1/connectionProfiles/${n.sourceProfile}`,
    })
  ).data;
  assert.equal(profile.mysql?.host, '203.0.113.10');
  assert.equal(profile.mysql?.password, undefined);
  assert.ok(!JSON.stringify(profile).includes('s3cret'));
});

test('verify, start, status, validate and promote drive the job through its phases once each', async () => {
  const { mysql } = tasks();
  assert.deepEqual(await platform.verifyMigrationJob(mysql), []);
  await platform.startMigrationJob(mysql);
  await platform.startMigrationJob(mysql);
  assert.equal(fake.count('POST', /:start$/), 1);
  assert.equal((await platform.getReplicationStatus(mysql)).phase, 'FULL_DUMP');
  await new Promise((r) => setTimeout(r, 400));
  const cdc = await platform.getReplicationStatus(mysql);
  assert.equal(cdc.phase, 'CDC');
  assert.ok(cdc.lagSeconds !== null && cdc.lagBytes !== null, 'lag from Monitoring');
  assert.ok((cdc.sampleAgeSeconds ?? 99) < 5, `sample age ${cdc.sampleAgeSeconds}`);
  assert.equal((await platform.validateData(mysql, 'live')).ok, true);
  await new Promise((r) => setTimeout(r, 500));
  const cut = await platform.cutover(mysql, () => undefined);
  assert.ok(cut.writeBlockMs >= 0);
  assert.equal((await platform.cutover(mysql, () => undefined)).writeBlockMs, 0, 'already promoted');
  assert.equal(fake.count('POST', /:promote$/), 1);
  assert.equal((await platform.validateData(mysql, 'final')).ok, true);
  await platform.stopMigrationJob(mysql);
  assert.equal(fake.count('POST', /:stop$/), 0, 'a completed job is not stopped');
});

test('verify reports an unreachable source as a problem', async () => {
  const { pg } = tasks();
  await platform.createMigrationJob(pg);
  unreachable.add('203.0.113.20');
  const problems = await platform.verifyMigrationJob(pg);
  unreachable.clear();
  assert.match(problems.join(), /not reachable/);
});

test('deleteMigrationJob removes the job and both profiles, and is harmless twice', async () => {
  const { mysql, pg } = tasks();
  for (const t of [mysql, pg]) {
    await platform.stopMigrationJob(t);
    await platform.deleteMigrationJob(t);
    await platform.deleteMigrationJob(t);
  }
  assert.deepEqual(
    [...fake.resources.keys()].filter((k) => k.startsWith('dms/')),
    [],
  );
});

test('deleteTarget deletes only what this migration created', async () => {
  const { mysql, pg } = tasks();
  const other = tasks('someone-else');
  await platform.deleteTarget(other.mysql);
  assert.ok(fake.resources.has(`sql/${PROJECT}/orders-mysql`), 'another migration cannot delete it');
  await platform.deleteTarget(mysql);
  await platform.deleteTarget(pg);
  await platform.deleteTarget(pg);
  assert.equal(fake.resources.has(`sql/${PROJECT}/orders-mysql`), false);
  assert.deepEqual(
    [...fake.resources.keys()].filter((k) => k.startsWith('alloydb/')),
    [],
  );
  assert.ok(fake.resources.has(`sql/${PROJECT}/legacy-mysql`), 'a pre-existing instance is never deleted');
});

test('API errors map to permanent or retryable failures', async () => {
  const { mysql } = tasks();
  fake.faults = { rate: 1, slowRate: 0, slowMs: 0 };
  await assert.rejects(
    platform.clients.dms.projects.locations.migrationJobs.get({ name: 'projects/x/locations/y/migrationJobs/z' }),
    () => true,
  );
  await assert.rejects(
    platform.createMigrationJob(mysql),
    (err: unknown) => !(err instanceof MigrationError) && /retryable, HTTP (429|503)/.test((err as Error).message),
  );
  fake.faults = { rate: 0, slowRate: 0, slowMs: 0 };
  await rejectsWith(
    platform.provisionTarget({
      ...mysql,
      database: { ...mysql.database, target: { ...mysql.database.target, tier: '' } },
    }),
    'InvalidArgument',
    /settings\.tier are required/,
  );
});
