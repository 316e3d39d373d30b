// DMS connectivity by plan, the dump parallelism by size, and the current definitions, on the
// strict fake (every request checked against the DMS discovery document): for each method, the
// job and source profile carry the method's fields, what the operator needs (the reverse SSH
// script, the static IPs) is produced, and the dry run's calls are exactly the requests sent.
/* eslint-disable @typescript-eslint/no-explicit-any -- the fake's resources are the JSON Google answers */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { GcpPlatform } from '../activities/platforms/gcp';
import { describeJobCreation } from '../activities/platforms/gcp/dms';
import { waitDmsOperation } from '../activities/platforms/gcp/dms/common';
import { sshScriptPath } from '../activities/platforms/gcp/dms/connectivity';
import { dumpParallelLevel, jobBody } from '../activities/platforms/gcp/dms/job';
import { gcpNames } from '../activities/platforms/gcp/names';
import type { DatabaseTask } from '../activities/steps';
import { MigrationError } from '../common/failures';
import { InvalidPlanError, validatePlan } from '../common/plan';
import { type Connectivity } from '../common/plan-gcp';
import { createFakeGcp, fakeAuth, type FakeGcp } from './fakes/gcp';
import type { ConnectivityWorld } from './fakes/gcp/routes-dms-connectivity';
import { gcpPlan, PROJECT } from './helpers/gcp-plan';
import { FAST_DMS, fleetPlan, taskOf } from './helpers/gcp-world';

const POLL = { intervalMs: 10, timeoutMs: 30_000 };
const PARENT = `projects/${PROJECT}/locations/us-central1`;
const PSC = `${PARENT}/privateConnections/to-datacenter`;
const home = mkdtempSync(join(tmpdir(), 'dbmig-conn-'));

let fake: FakeGcp;
let world: ConnectivityWorld;
let url: string;
let platform: GcpPlatform;
const saved = { ...process.env };

before(async () => {
  Object.assign(process.env, {
    GCP_TEST_SOURCE_PASSWORD: 's3cret-source',
    GCP_TEST_TARGET_PASSWORD: 's3cret-target',
    DBMIG_ALLOWED_HOSTS: '203.0.113.0/24',
    DBMIG_HOME: home,
  });
  ({ fake, connectivity: world } = createFakeGcp({
    secrets: {
      [`projects/${PROJECT}/secrets/ledger-source-password`]: 's3cret-ledger-source',
      [`projects/${PROJECT}/secrets/ledger-target-password`]: 's3cret-ledger-target',
    },
    dms: FAST_DMS,
  }));
  const endpoint = await fake.start();
  url = `${endpoint.protocol}://${endpoint.host}:${endpoint.port}`;
  platform = new GcpPlatform({ endpoint, authClient: fakeAuth(), poll: POLL });
});
after(async () => {
  await platform?.close();
  await fake?.stop();
  process.env = saved;
  rmSync(home, { recursive: true, force: true });
});

/** The billing database (PostgreSQL → Cloud SQL), its migration and target its own, reached by `connectivity`. */
function task(migrationId: string, connectivity?: Connectivity, sizeGb?: number): DatabaseTask {
  const t = taskOf(fleetPlan(migrationId), 'billing');
  return {
    ...t,
    database: {
      ...t.database,
      target: { ...t.database.target, instance: `pg-${migrationId}` },
      connectivity,
      ...(sizeGb ? { sizeGb } : {}),
    },
    requestScope: migrationId,
  };
}

/** Provisions the target, then creates the job; returns the DMS requests the job step sent. */
async function createJob(t: DatabaseTask) {
  await platform.provisionTarget(t);
  const from = fake.log.length;
  await platform.createMigrationJob(t);
  const changes = fake.changes(from);
  const job = fake.resources.get(`dms/${gcpNames(t).jobName}`) as any;
  const source = fake.resources.get(`dms/${gcpNames(t).sourceProfileName}`) as any;
  return { changes, job, source, reads: fake.log.slice(from).filter((r) => r.method === 'GET' && r.rpc) };
}

const plannedCalls = (t: DatabaseTask) => describeJobCreation(t).flatMap((o) => o.calls ?? []);

test('vpc-peering (the default): the job peers with gcp.network; the dry run equals the requests', async () => {
  const t = task('conn-vpc');
  const { changes, job, source } = await createJob(t);
  assert.deepEqual(job.vpcPeeringConnectivity, { vpc: `projects/${PROJECT}/global/networks/migration-network` });
  assert.equal(job.reverseSshConnectivity, undefined);
  assert.equal(source.postgresql.privateConnectivity, undefined);
  assert.deepEqual(changes, plannedCalls(t));
  assert.equal(changes.length, 3);
});

test('reverse-ssh: the job names the VM, DMS generates the script, the worker stores it 0600', async () => {
  const t = task('conn-ssh', { method: 'reverse-ssh', vm: 'bastion-1', vmIp: '10.128.0.9', vmPort: 5433 });
  // A script an earlier run left readable by others (and its folder): replaced whole, by a 0600 file.
  const stale = sshScriptPath(t);
  mkdirSync(dirname(stale), { recursive: true, mode: 0o755 });
  chmodSync(dirname(stale), 0o755);
  writeFileSync(stale, 'a stale script', { mode: 0o644 });
  const warned: string[] = [];
  const warn = console.warn;
  console.warn = (m: string) => void warned.push(m);
  let created;
  try {
    created = await createJob(t);
  } finally {
    console.warn = warn;
  }
  const { changes, job } = created;
  assert.deepEqual(job.reverseSshConnectivity, {
    vm: 'bastion-1',
    vmIp: '10.128.0.9',
    vmPort: 5433,
    vpc: `projects/${PROJECT}/global/networks/migration-network`,
  });
  assert.equal(job.vpcPeeringConnectivity, undefined);
  assert.deepEqual(changes, plannedCalls(t));
  assert.deepEqual(
    changes.map((c) => c.method.split('.').slice(-2).join('.')),
    [
      'connectionProfiles.create',
      'connectionProfiles.create',
      'migrationJobs.create',
      'migrationJobs.generateSshScript',
    ],
  );
  assert.deepEqual(world.scriptRequests, [
    {
      vm: 'bastion-1',
      vmPort: 5433,
      vmSelectionConfig: { vmZone: 'us-central1-a' },
    },
  ]);
  const path = sshScriptPath(t);
  assert.ok(path.startsWith(home));
  assert.match(readFileSync(path, 'utf8'), /gcloud compute ssh bastion-1 --zone=us-central1-a -- -N -R 5433:/);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(dirname(path)).mode & 0o777, 0o700, 'the folder is narrowed to its owner');
  assert.deepEqual(
    readdirSync(dirname(path)).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary file is left',
  );
  assert.ok(
    warned.some((m) => m.includes(path) && /verify fails until the tunnel is up/.test(m)),
    warned.join('\n'),
  );
  // The dry run says where the script goes.
  assert.match(
    describeJobCreation(t).at(-1)!.detail,
    /^the tunnel script for VM bastion-1 port 5433, stored by the worker in \$DBMIG_HOME\/ssh-scripts\//,
  );
});

test("ip-allowlist: staticIpConnectivity, and DMS's static IPs (every page) told to the operator", async () => {
  const t = task('conn-ip', { method: 'ip-allowlist' });
  const warned: string[] = [];
  const warn = console.warn;
  console.warn = (m: string) => void warned.push(m);
  let created;
  try {
    created = await createJob(t);
  } finally {
    console.warn = warn;
  }
  const { changes, job, reads } = created;
  assert.deepEqual(job.staticIpConnectivity, {});
  assert.equal(job.vpcPeeringConnectivity, undefined);
  assert.deepEqual(changes, plannedCalls(t));
  // Three IPs, two per page: two reads.
  assert.equal(reads.filter((r) => r.rpc!.endsWith('fetchStaticIps')).length, 2);
  assert.ok(warned.some((m) => m.includes('allow 198.51.100.11, 198.51.100.12, 198.51.100.13 on 203.0.113.30:5432')));
});

test('private-service-connect: the profile names the CREATED connection; a missing one is refused first', async () => {
  const missing = task('conn-psc-missing', { method: 'private-service-connect', privateConnection: PSC });
  await platform.provisionTarget(missing);
  const from = fake.log.length;
  await assert.rejects(platform.createMigrationJob(missing), (e: MigrationError) => e.type === 'NotFound');
  assert.deepEqual(fake.changes(from), [], 'no profile made before the private connection was found');

  // The operator's private connection, made through the API (a long-running create).
  const dms = platform.clients.dms.projects.locations;
  const op = await dms.privateConnections.create({
    parent: PARENT,
    privateConnectionId: 'to-datacenter',
    requestBody: {
      pscInterfaceConfig: { networkAttachment: `projects/${PROJECT}/regions/us-central1/networkAttachments/dms` },
    },
  });
  await waitDmsOperation(platform.clients, op.data, POLL);
  assert.equal((await dms.privateConnections.get({ name: PSC })).data.state, 'CREATED');

  const t = task('conn-psc', { method: 'private-service-connect', privateConnection: PSC });
  const { changes, job, source, reads } = await createJob(t);
  assert.deepEqual(source.postgresql.privateConnectivity, { privateConnection: PSC });
  for (const k of ['vpcPeeringConnectivity', 'reverseSshConnectivity', 'staticIpConnectivity'])
    assert.equal(job[k], undefined, k);
  assert.deepEqual(changes, plannedCalls(t));
  assert.ok(reads.some((r) => r.rpc!.endsWith('privateConnections.get')));

  // A private connection not yet CREATED is refused as a plan problem, naming the database.
  fake.resources.get(`dms/${PSC}`)!.state = 'CREATING';
  const early = task('conn-psc-early', { method: 'private-service-connect', privateConnection: PSC });
  await platform.provisionTarget(early);
  await assert.rejects(
    platform.createMigrationJob(early),
    (e: MigrationError) =>
      e.type === 'InvalidPlan' && /databases\[billing\] connectivity: .* is CREATING, not CREATED/.test(e.message),
  );
  // Deleted through the API (long-running): gone.
  fake.resources.get(`dms/${PSC}`)!.state = 'CREATED';
  await waitDmsOperation(platform.clients, (await dms.privateConnections.delete({ name: PSC })).data, POLL);
  await assert.rejects(dms.privateConnections.get({ name: PSC }), /not found/);
});

test('an existing job under another connectivity is not reused', async () => {
  const t = task('conn-vpc');
  const other = { ...t, database: { ...t.database, connectivity: { method: 'ip-allowlist' as const } } };
  await assert.rejects(
    platform.createMigrationJob(other),
    (e: MigrationError) =>
      e.type === 'AlreadyExistsMismatch' &&
      /vpcPeeringConnectivity\.vpc is projects\/.*, plan needs unset/.test(e.message),
  );
});

test('performanceConfig: the dump parallelism follows the size, in the job and in the dry run', async () => {
  assert.deepEqual([1, 9.9, 10, 60, 1023, 1024, 5000].map(dumpParallelLevel), [
    'MIN',
    'MIN',
    'OPTIMAL',
    'OPTIMAL',
    'OPTIMAL',
    'MAX',
    'MAX',
  ]);
  const t = task('conn-size', undefined, 2000);
  assert.deepEqual(jobBody(t).performanceConfig, { dumpParallelLevel: 'MAX' });
  assert.match(
    describeJobCreation(t).find((o) => o.api.includes('migrationJobs.create'))!.detail,
    /dump parallelism MAX \(2000 GB\)/,
  );
  const { job } = await createJob(task('conn-small', undefined, 5));
  assert.deepEqual(job.performanceConfig, { dumpParallelLevel: 'MIN' });
});

test('the fake refuses what the discovery document refuses: an SSH script request without its VM', async () => {
  const name = gcpNames(task('conn-ssh')).jobName;
  const r = await fetch(`${url}/v1/${name}:generateSshScript`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer fake-token' },
    body: JSON.stringify({ vmPort: 22, vmSelectionConfig: { vmZone: 'us-central1-a' }, vmCreationConfig: {} }),
  });
  assert.equal(r.status, 400);
  const text = await r.text();
  assert.match(text, /vm: is required/);
  assert.match(text, /vm_config/);
});

test('plans: gcp.dumpBucket is refused by name; connectivity off gcp is refused; a per-database one wins', () => {
  const input = gcpPlan();
  (input.gcp as any).dumpBucket = 'gs://dumps/orders.sql';
  assert.throws(
    () => validatePlan(input),
    (e: InvalidPlanError) =>
      e.issues.length === 1 &&
      e.issues[0].field === 'gcp.dumpBucket' &&
      /no longer accepted: it was never sent to DMS/.test(e.issues[0].message),
  );
  const local = gcpPlan({ platform: 'local' });
  delete local.gcp;
  local.databases = [{ ...local.databases[2], connectivity: { method: 'ip-allowlist' } }];
  assert.throws(() => validatePlan(local), /databases\[0\]\.connectivity: is how DMS reaches the source on gcp/);
  const mixed = gcpPlan();
  mixed.gcp = { ...mixed.gcp!, connectivity: { method: 'ip-allowlist' } };
  mixed.databases[0] = {
    ...mixed.databases[0],
    connectivity: { method: 'reverse-ssh', vm: 'bastion', vmIp: '10.0.0.2', vmPort: 3307 },
  };
  const plan = validatePlan({ ...mixed, migrationId: 'mixed' });
  assert.ok(jobBody(taskOf(plan, 'orders')).reverseSshConnectivity);
  assert.deepEqual(jobBody(taskOf(plan, 'ledger')).staticIpConnectivity, {});
  assert.throws(
    () =>
      validatePlan({
        ...mixed,
        gcp: { ...mixed.gcp!, connectivity: { method: 'reverse-ssh', vm: 'b', vmIp: '10.0.0.300', vmPort: 1 } },
      }),
    /gcp\.connectivity\.vmIp: must be an IPv4 address/,
  );
});

test('AlloyDB takes PostgreSQL 17 and 18 (the current @google-cloud/alloydb proto), on the fake', async () => {
  for (const version of ['17', '18']) {
    const base = taskOf(fleetPlan(`alloy-${version}`), 'ledger');
    const t: DatabaseTask = {
      ...base,
      database: { ...base.database, target: { ...base.database.target, instance: `ledger-pg${version}`, version } },
      requestScope: `alloy-${version}`,
    };
    await platform.provisionTarget(t);
    const cluster = fake.resources.get(`alloydb/${PARENT}/clusters/ledger-pg${version}`) as any;
    assert.equal(cluster.databaseVersion, `POSTGRES_${version}`);
  }
});
