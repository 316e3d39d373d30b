// `dbmig gcp check` against the fake: a healthy project is all OK (exit 0); each broken thing is a
// FIX row naming its remedy (exit 1); and the check sends reads only. Last: the permissions it asks
// for are exactly those of the methods the platform sends, found by running the platform on the fake.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { GcpPlatform } from '../activities/platforms/gcp';
import { ensureProfiles } from '../activities/platforms/gcp/dms/profiles';
import { deleteJobAndProfiles } from '../activities/platforms/gcp/dms/actions';
import { waitZoneOperation } from '../activities/platforms/gcp/compute/operations';
import { resizeRequestRequest } from '../activities/platforms/gcp/compute/flex-start';
import { SPEC_LABEL } from '../activities/platforms/gcp/monitoring/scope';
import { METHOD_PERMISSIONS, PREFLIGHT_PERMISSIONS } from '../activities/platforms/gcp/preflight/permissions';
import { runPreflight, type CheckResult } from '../activities/platforms/gcp/preflight';
import { ensureWorkerGroup, ownerTag, workerGroupNames } from '../activities/platforms/gcp/compute/worker-group';
import { MigrationError } from '../common/failures';
import { type DatabaseTask, type FleetTask } from '../activities/steps';
import { checkReport, gcpCheckCommand } from '../cli/commands-gcp';
import { planOperations } from '../cli/plan-report';
import { validatePlan, type Plan, type PlanInput } from '../common/plan';
import { type Connectivity } from '../common/plan-gcp';
import { createFakeGcp, fakeAuth, type LoggedRequest } from './fakes/gcp';
import { healthyWorld, preflightRoutes, type PreflightWorld } from './fakes/gcp/routes-preflight';
import {
  defaultConnectivityWorld,
  dmsConnectivityRoutes,
  type ConnectivityWorld,
} from './fakes/gcp/routes-dms-connectivity';
import { FakeGcp } from './fakes/gcp/server';
import { gcpPlan, PROJECT } from './helpers/gcp-plan';
import { sqlServerPlan, SQLSERVER_BUCKET } from './helpers/gcp-sqlserver-plan';
import { putBackupFile } from './fakes/gcp/routes-dms-sqlserver';
import { storageRoutes } from './fakes/gcp/routes-storage';
import { backupFileName } from '../activities/platforms/gcp/dms/job-sqlserver';
import { CHANNEL, FAST_DMS, fleetPlan, taskOf } from './helpers/gcp-world';

let fake: FakeGcp;
let world: PreflightWorld;
let connectivity: ConnectivityWorld;
let endpoint: { host: string; port: number; protocol: 'http' };
let listener: net.Server;
let openPort: number;

const RANGE = 'google-managed-services-migration-network';
const MIGRATION = 'check-2026';

function planInput(sourcePort = openPort): PlanInput {
  const input = gcpPlan({ migrationId: MIGRATION });
  input.gcp = { ...input.gcp!, allocatedIpRange: RANGE };
  // The first database's source is one the worker reaches: a local port that accepts connections.
  input.databases[0] = {
    ...input.databases[0],
    source: { ...input.databases[0].source, host: '127.0.0.1', port: sourcePort, access: 'direct' },
  };
  return input;
}

const freshWorld = () =>
  healthyWorld({
    project: PROJECT,
    region: 'us-central1',
    zone: 'us-central1-a',
    network: `projects/${PROJECT}/global/networks/migration-network`,
    allocatedIpRange: RANGE,
  });

before(async () => {
  listener = net.createServer((s) => s.destroy());
  await new Promise<void>((ok) => listener.listen(0, '127.0.0.1', ok));
  openPort = (listener.address() as net.AddressInfo).port;
  fake = new FakeGcp();
  world = freshWorld();
  // Routes read `world` when a request arrives, so each test reshapes it in place.
  preflightRoutes(fake, world);
  connectivity = defaultConnectivityWorld();
  dmsConnectivityRoutes(fake, connectivity);
  storageRoutes(fake);
  endpoint = await fake.start();
});
after(async () => {
  await fake?.stop();
  await new Promise((ok) => listener?.close(ok));
});
beforeEach(() => {
  Object.assign(world, freshWorld());
  Object.assign(connectivity, defaultConnectivityWorld());
  for (const k of [...fake.resources.keys()]) if (/^(dms|gcs)\//.test(k)) fake.resources.delete(k);
});

async function check(plan: Plan = validatePlan(planInput())) {
  return runPreflight(plan, { endpoint, authClient: fakeAuth(), connectTimeoutMs: 1_000 });
}

const fixes = (results: CheckResult[]) => results.filter((r) => r.status === 'FIX');

/** The names the platform gives `database`'s instance template and MIG in the checked plan. */
const workerNames = (database: string, plan: Plan = validatePlan(planInput())) =>
  workerGroupNames(taskOf(plan, database));

test('a healthy project: every check OK, exit 0, and only reads were sent', async () => {
  const from = fake.log.length;
  const file = join(tmpdir(), `gcp-check-${process.pid}.json`);
  writeFileSync(file, JSON.stringify(planInput()));
  const printed: string[] = [];
  const log = console.log;
  console.log = (s: string) => void printed.push(s);
  let code: number;
  try {
    code = await gcpCheckCommand(file, { endpoint, authClient: fakeAuth(), connectTimeoutMs: 1_000 });
  } finally {
    console.log = log;
  }
  const out = printed.join('\n');
  assert.equal(code, 0, out);
  assert.doesNotMatch(out, /^(FIX|WARN) /m);
  const headings = ['APIs', 'IAM permissions', 'Private services access', 'Connectivity', 'Migration workers', 'Quota'];
  for (const heading of [...headings, 'Sources']) assert.match(out, new RegExp(`^${heading}$`, 'm'), heading);
  for (const db of ['orders', 'ledger', 'billing']) {
    const { template, group } = workerNames(db);
    assert.ok(template.startsWith('dbmig-migration-worker-') && template !== 'dbmig-migration-worker', template);
    assert.match(
      out,
      new RegExp(
        `^OK +${db}: instance template ${template} will be created \\(e2-standard-4, FLEX_START\\); ` +
          `MIG ${group} will be created$`,
        'm',
      ),
    );
  }
  assert.match(out, /CPUS in us-central1: the plan needs up to \d+ vCPUs/);
  assert.match(out, /orders: 127\.0\.0\.1:\d+ accepts TCP connections/);
  assert.match(out, /^OK +billing: VPC peering with migration-network \(see Private services access\)$/m);
  assert.match(out, /nothing to fix/);

  const sent = fake.log.slice(from);
  assert.ok(sent.length >= 8, 'the check read the project');
  const readPosts = ['cloudresourcemanager.projects.testIamPermissions', 'cloudresourcemanager.projects.getIamPolicy'];
  const writes = sent.filter((r) => r.method !== 'GET' && !readPosts.includes(String(r.rpc)));
  assert.deepEqual(writes, [], 'nothing but reads, testIamPermissions and getIamPolicy');
  // FakeGcp.changes() lists every non-GET but those two POSTs, which change nothing.
  assert.deepEqual(fake.changes(from), []);
});

test('a disabled API is a FIX naming the gcloud command', async () => {
  world.services.set('datamigration.googleapis.com', 'DISABLED');
  const r = await check();
  assert.equal(r.ready, false);
  assert.deepEqual(
    fixes(r.results).map((x) => x.fix),
    [`gcloud services enable datamigration.googleapis.com --project=${PROJECT}`],
  );
});

test('a missing permission is a FIX naming the role that grants it', async () => {
  world.granted = new Set(
    [...Object.values(METHOD_PERMISSIONS).flat(), ...PREFLIGHT_PERMISSIONS].filter(
      (p) => p !== 'datamigration.migrationjobs.demoteDestination',
    ),
  );
  const r = await check();
  const [fix, ...rest] = fixes(r.results);
  assert.deepEqual(rest, []);
  assert.match(
    fix.what,
    /missing datamigration\.migrationjobs\.demoteDestination \(for migrationJobs\.demoteDestination\)/,
  );
  assert.match(fix.fix, /add-iam-policy-binding dbmig-contract .*--role=roles\/datamigration\.admin/);
});

test('no servicenetworking peering, or no range, is a FIX with the commands that set it up', async () => {
  world.networks.get(`${PROJECT}/migration-network`)!.peerings = [];
  world.addresses.clear();
  const r = await check();
  const f = fixes(r.results);
  assert.equal(f.length, 2);
  assert.match(f[0].what, /migration-network has no peering with servicenetworking\.googleapis\.com/);
  assert.match(
    f[0].fix,
    /gcloud services vpc-peerings connect --service=servicenetworking\.googleapis\.com --ranges=google-managed/,
  );
  assert.match(f[1].what, /range google-managed-services-migration-network does not exist/);
  assert.match(f[1].fix, /gcloud compute addresses create .* --global --purpose=VPC_PEERING/);
});

test('an unreachable direct source is a FIX; a dms-only one is never contacted', async () => {
  const closed = net.createServer();
  await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise((ok) => closed.close(ok));
  const r = await check(validatePlan(planInput(port)));
  const f = fixes(r.results);
  assert.equal(f.length, 1);
  assert.match(f[0].what, new RegExp(`orders: 127\\.0\\.0\\.1:${port} is not reachable from here \\(ECONNREFUSED\\)`));
  assert.match(f[0].fix, /source\.access: dms-only/);
  assert.ok(r.results.some((x) => /ledger: access dms-only, not contacted/.test(x.what)));
});

test('too little CPU quota is a FIX with the amount to ask for', async () => {
  world.regions.set(`${PROJECT}/us-central1`, [{ metric: 'CPUS', limit: 24, usage: 10 }]);
  const r = await check();
  const f = fixes(r.results);
  assert.equal(f.length, 1);
  // concurrency 2: the two largest requests, orders 8 and ledger 2 workers, x 4 vCPUs of e2-standard-4.
  assert.match(f[0].what, /CPUS in us-central1: the plan needs up to 40 vCPUs .* 14 free of 24/);
  assert.match(f[0].fix, /ask for CPUS ≥ 50 in us-central1/);
  const text = checkReport(r.results, PROJECT);
  assert.match(text, /1 to fix: fix them, then run dbmig gcp check again/);
});

test("an existing template under the platform's name that does not match the plan is a FIX", async () => {
  const { template } = workerNames('orders');
  world.instanceTemplates.set(`${PROJECT}/${template}`, {
    properties: { machineType: 'n2-standard-8', scheduling: { provisioningModel: 'FLEX_START' } },
  });
  // A template named by the bare prefix is not one the platform uses: it changes nothing.
  world.instanceTemplates.set(`${PROJECT}/dbmig-migration-worker`, { properties: { machineType: 'n2-standard-8' } });
  const r = await check();
  const f = fixes(r.results);
  assert.equal(f.length, 1, JSON.stringify(f));
  assert.equal(f[0].check, 'Migration workers');
  assert.equal(
    f[0].what,
    `orders: instance template ${template} exists with n2-standard-8, the plan asks e2-standard-4`,
  );
  assert.match(
    f[0].fix,
    new RegExp(`^delete it \\(gcloud compute instance-templates delete ${template} --project=${PROJECT}\\)`),
  );
});

test('a template of the right machine type but not FLEX_START is a FIX: flex-start needs it', async () => {
  const { template } = workerNames('billing');
  world.instanceTemplates.set(`${PROJECT}/${template}`, {
    properties: { machineType: 'e2-standard-4', scheduling: { provisioningModel: 'STANDARD' } },
  });
  const f = fixes((await check()).results);
  assert.deepEqual(
    f.map((x) => x.what),
    [`billing: instance template ${template} uses STANDARD, flex-start needs FLEX_START`],
  );
});

test("a template and MIG the platform would make are reused; another migration's MIG is a FIX", async () => {
  const plan = validatePlan(planInput());
  const ledger = workerNames('ledger', plan);
  world.instanceTemplates.set(`${PROJECT}/${ledger.template}`, {
    properties: { machineType: 'e2-standard-4', scheduling: { provisioningModel: 'FLEX_START' } },
  });
  world.instanceGroupManagers.set(`${PROJECT}/us-central1-a/${ledger.group}`, {
    description: `dbmig migration workers for ${ownerTag(taskOf(plan, 'ledger'))}`,
    instanceTemplate: `https://www.googleapis.com/compute/v1/${ledger.templateUrl}`,
  });
  const orders = workerNames('orders', plan);
  world.instanceGroupManagers.set(`${PROJECT}/us-central1-a/${orders.group}`, {
    description: 'made by hand',
    instanceTemplate: `projects/${PROJECT}/global/instanceTemplates/${orders.template}`,
  });
  const r = await check(plan);
  assert.ok(
    r.results.some(
      (x) =>
        x.status === 'OK' &&
        x.what ===
          `ledger: instance template ${ledger.template} exists (e2-standard-4, FLEX_START) and is reused; ` +
            `MIG ${ledger.group} exists and is reused`,
    ),
  );
  const f = fixes(r.results);
  assert.deepEqual(
    f.map((x) => x.what),
    [`orders: MIG ${orders.group} exists in us-central1-a and was not created by this migration and database`],
  );
  assert.match(f[0].fix, /gcloud compute instance-groups managed delete .* --zone=us-central1-a/);
});

test('without a migrationId the workers cannot be looked up: a WARN, nothing read for them', async () => {
  const input = planInput();
  delete input.migrationId;
  const from = fake.log.length;
  const r = await check(validatePlan(input));
  assert.equal(r.ready, true);
  const warn = r.results.filter((x) => x.status === 'WARN');
  assert.equal(warn.length, 1);
  assert.match(
    warn[0].what,
    /the plan sets no migrationId: .* dbmig-migration-worker-HASH and dbmig-migration-workers-HASH/,
  );
  assert.ok(!fake.log.slice(from).some((x) => /instanceTemplates|instanceGroupManagers/.test(x.path)));
});

// ---- connectivity by plan ---------------------------------------------------------------------

const PSC = `projects/${PROJECT}/locations/us-central1/privateConnections/to-datacenter`;
const NETWORK_URL = `https://www.googleapis.com/compute/v1/projects/${PROJECT}/global/networks/migration-network`;

/** orders through a bastion VM, ledger through a private connection, billing over an IP allowlist. */
function connectivityPlan(): Plan {
  const input = planInput();
  const [orders, ledger, billing] = input.databases;
  input.databases = [
    { ...orders, connectivity: { method: 'reverse-ssh', vm: 'bastion-1', vmIp: '10.128.0.9', vmPort: 3307 } },
    { ...ledger, connectivity: { method: 'private-service-connect', privateConnection: PSC } },
    { ...billing, connectivity: { method: 'ip-allowlist' } },
  ];
  return validatePlan(input);
}
const connectivityRows = (r: { results: CheckResult[] }) =>
  r.results.filter((x) => x.check === 'Connectivity').map((x) => `${x.status} ${x.what}`);

test('connectivity: the bastion VM, the private connection and the static IPs each checked by method', async () => {
  connectivity.vms.set(`${PROJECT}/us-central1-a/bastion-1`, {
    status: 'RUNNING',
    networkInterfaces: [{ network: NETWORK_URL, networkIP: '10.128.0.9' }],
  });
  fake.resources.set(`dms/${PSC}`, { name: PSC, state: 'CREATED' });
  const from = fake.log.length;
  const ok = await check(connectivityPlan());
  assert.deepEqual(connectivityRows(ok), [
    'OK orders: bastion VM bastion-1 in us-central1-a is RUNNING with 10.128.0.9 on migration-network; ' +
      'the tunnel script comes when the job is created (port 3307)',
    'OK ledger: private connection to-datacenter is CREATED',
    'WARN billing: DMS connects to 203.0.113.30:5432 from 198.51.100.11, 198.51.100.12, 198.51.100.13',
  ]);
  assert.equal(ok.ready, true, JSON.stringify(fixes(ok.results)));
  assert.deepEqual(fake.changes(from), [], 'the connectivity reads change nothing');

  // Each broken: the VM on another address, the connection still being made, then both gone.
  connectivity.vms.get(`${PROJECT}/us-central1-a/bastion-1`)!.networkInterfaces[0].networkIP = '10.128.0.7';
  fake.resources.get(`dms/${PSC}`)!.state = 'CREATING';
  const broken = await check(connectivityPlan());
  assert.equal(broken.ready, false);
  assert.deepEqual(
    fixes(broken.results).map((x) => [x.what, x.fix]),
    [
      [
        'orders: bastion VM bastion-1 in us-central1-a has no interface with 10.128.0.9 (it has 10.128.0.7)',
        "set the connectivity's vmIp to the VM's internal IP",
      ],
      ['ledger: private connection to-datacenter is CREATING, not CREATED', 'wait until it is CREATED'],
    ],
  );
  connectivity.vms.clear();
  fake.resources.delete(`dms/${PSC}`);
  const gone = fixes((await check(connectivityPlan())).results);
  assert.match(gone[0].what, /^orders: bastion VM bastion-1 in us-central1-a does not exist$/);
  assert.match(
    gone[0].fix,
    /gcloud compute instances create bastion-1 --zone=us-central1-a --network=migration-network/,
  );
  assert.equal(gone[1].what, `ledger: private connection ${PSC} does not exist`);
  assert.match(gone[1].fix, /gcloud database-migration private-connections create to-datacenter --region=us-central1/);
});

test("connectivity: a method's permissions are asked only of plans that use it", async () => {
  const allBut = (p: string) =>
    new Set([...Object.values(METHOD_PERMISSIONS).flat(), ...PREFLIGHT_PERMISSIONS].filter((x) => x !== p));
  world.granted = allBut('datamigration.migrationjobs.generateSshScript');
  // The shared plan peers every source: no SSH script is ever generated, nothing to fix.
  assert.deepEqual(fixes((await check()).results), []);
  connectivity.vms.set(`${PROJECT}/us-central1-a/bastion-1`, {
    status: 'RUNNING',
    networkInterfaces: [{ network: NETWORK_URL, networkIP: '10.128.0.9' }],
  });
  fake.resources.set(`dms/${PSC}`, { name: PSC, state: 'CREATED' });
  // compute.instances.get and the other two reads are the check's own: asked as well.
  world.granted = new Set([
    ...allBut('datamigration.migrationjobs.generateSshScript'),
    'compute.instances.get',
    'datamigration.privateconnections.get',
    'datamigration.locations.fetchStaticIps',
  ]);
  const f = fixes((await check(connectivityPlan())).results);
  assert.equal(f.length, 1, JSON.stringify(f));
  assert.match(
    f[0].what,
    /missing datamigration\.migrationjobs\.generateSshScript \(for migrationJobs\.generateSshScript\)/,
  );
});

// ---- the permission list against what the platform sends ----------------------------------

const DMS = 'datamigration.projects.locations';
const ALLOYDB = 'alloydb.projects.locations';
/**
 * The fake serves DMS's and AlloyDB's operations.get on one route (the same path, the same
 * google.longrunning proto): a request there is one of these two methods.
 */
const SHARED_ROUTES: Record<string, string[]> = {
  'google.longrunning.Operations.GetOperation': [`${DMS}.operations.get`, `${ALLOYDB}.operations.get`],
};
const methodsOf = (rpc: string) => SHARED_ROUTES[rpc] ?? [rpc];

const POLL = { intervalMs: 10, timeoutMs: 30_000 };

/** Retries while the step says to wait for capacity, as the activity's retries would. */
async function retryingCapacity<T>(step: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await step();
    } catch (err) {
      if (!(err instanceof MigrationError && err.type === 'CapacityUnavailable') || i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function untilCdc(platform: GcpPlatform, task: DatabaseTask): Promise<void> {
  for (const until = Date.now() + 30_000; ;) {
    if ((await platform.getReplicationStatus(task)).phase === 'CDC') return;
    assert.ok(Date.now() < until, `${task.database.name}: no CDC within 30 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Every API method the platform sends in a whole run on the fake, reads included: the monitoring
 * step (made, made again over an older definition: replaced, then removed); per database of the
 * shared plan (Cloud SQL MySQL, AlloyDB, Cloud SQL PostgreSQL) the runbook to a completed cutover
 * and its cleanup, and every undo: a waiting resize request cancelled, a job stopped in the full
 * dump (restarted) and in CDC (resumed), deleted, capacity released, the target deleted once
 * another migration's profile no longer names it; calendar-mode capacity reserved and released.
 * Requests the test itself sends to arrange a world are left out.
 */
async function methodsOfWholeRun(): Promise<{ sent: Set<string>; unrouted: string[] }> {
  // What the shared plan's env: passwords name, and its sources (documentation addresses) allowed.
  const env = {
    GCP_TEST_SOURCE_PASSWORD: 's3cret-source',
    GCP_TEST_TARGET_PASSWORD: 's3cret-target',
    DBMIG_ALLOWED_HOSTS: '203.0.113.0/24',
    // Where the reverse SSH script is stored.
    DBMIG_HOME: mkdtempSync(join(tmpdir(), 'gcp-check-home-')),
  };
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  const { fake: gcp, behaviour } = createFakeGcp({
    secrets: {
      [`projects/${PROJECT}/secrets/ledger-source-password`]: 's3cret-ledger-source',
      [`projects/${PROJECT}/secrets/ledger-target-password`]: 's3cret-ledger-target',
    },
    notificationChannels: [CHANNEL],
    dms: FAST_DMS,
  });
  const platform = new GcpPlatform({ endpoint: await gcp.start(), authClient: fakeAuth(), poll: POLL });
  const c = platform.clients;
  const arranged = new Set<LoggedRequest>();
  const arrange = async (fn: () => Promise<unknown>) => {
    const from = gcp.log.length;
    try {
      await fn();
    } finally {
      for (const r of gcp.log.slice(from)) arranged.add(r);
    }
  };
  try {
    const plan = fleetPlan('perm-run');
    const names = plan.databases.map((d) => d.name);
    const fleet: FleetTask = { migrationId: 'perm-run', platform: 'gcp', databases: names, gcp: plan.gcp };
    await platform.prepareMigration(fleet);
    // The dashboard and a policy as an older definition left them: replaced in place.
    for (const [key, r] of gcp.resources)
      if (key.startsWith('monitoring/')) (r.labels ?? r.userLabels)[SPEC_LABEL] = 'older';
    await platform.prepareMigration(fleet);

    for (const name of names) {
      const task = taskOf(plan, name);
      await platform.assessSource(task);
      await platform.provisionTarget(task);
      await retryingCapacity(() => platform.reserveCapacity(task));
      await platform.createMigrationJob(task);
      assert.deepEqual(await platform.verifyMigrationJob(task), []);
      await platform.startMigrationJob(task);
      await untilCdc(platform, task);
      assert.ok((await platform.validateData(task, 'live')).ok);
      await platform.cutover(task, () => undefined);
      assert.ok((await platform.validateData(task, 'final')).ok);
      await platform.finalizeCutover();
      await platform.deleteMigrationJob(task);
      await platform.releaseCapacity(task);

      // The undo of a migration of the same database onto a target of its own.
      const base = taskOf({ ...plan, migrationId: 'perm-undo' }, name);
      const undo: DatabaseTask = {
        ...base,
        migrationId: 'perm-undo',
        database: {
          ...base.database,
          target: { ...base.database.target, instance: `${base.database.target.instance}-u` },
        },
      };
      // Arranged with request ids of their own, or the platform's later requests would be answered
      // from the fake's request-id memory instead of applied.
      const arranging: DatabaseTask = { ...undo, requestScope: 'arranged' };
      await arrange(async () => {
        await ensureWorkerGroup(c, arranging, POLL);
        const [op] = await c.resizeRequests.insert(resizeRequestRequest(arranging));
        await waitZoneOperation(c, undo, op, POLL);
      });
      await platform.releaseCapacity(undo); // the request still waits: cancelled, deleted, group gone
      await platform.provisionTarget(undo);
      await retryingCapacity(() => platform.reserveCapacity(undo));
      await platform.createMigrationJob(undo);
      behaviour.fullDumpMs = 60_000;
      await platform.startMigrationJob(undo);
      await platform.stopMigrationJob(undo); // in the full dump
      await platform.startMigrationJob(undo); // restart
      behaviour.fullDumpMs = FAST_DMS.fullDumpMs!;
      await untilCdc(platform, undo);
      await platform.stopMigrationJob(undo); // in CDC
      await platform.startMigrationJob(undo); // resume
      await platform.deleteMigrationJob(undo);
      await platform.releaseCapacity(undo);
      const other: DatabaseTask = { ...undo, migrationId: 'someone-else', requestScope: 'arranged' };
      await arrange(() => ensureProfiles(c, other, POLL));
      await platform.deleteTarget(undo); // refused: another migration's profile names the target
      await arrange(() => deleteJobAndProfiles(c, other, POLL));
      await platform.deleteTarget(undo);
    }

    // Each connectivity method but VPC peering, on a target of its own: the requests only it sends.
    gcp.resources.set(`dms/${PSC}`, { name: PSC, state: 'CREATED' });
    const methods: Connectivity[] = [
      { method: 'reverse-ssh', vm: 'bastion-1', vmIp: '10.128.0.9', vmPort: 5433 },
      { method: 'ip-allowlist' },
      { method: 'private-service-connect', privateConnection: PSC },
    ];
    for (const [i, connectivity] of methods.entries()) {
      const base = taskOf({ ...plan, migrationId: `perm-conn-${i}` }, 'billing');
      const t: DatabaseTask = {
        ...base,
        migrationId: `perm-conn-${i}`,
        database: { ...base.database, connectivity, target: { ...base.database.target, instance: `conn-${i}` } },
      };
      await platform.provisionTarget(t);
      await platform.createMigrationJob(t);
    }

    // SQL Server: the assessment reads its backup bucket; the status, its job's objects.
    const mssql = taskOf(validatePlan(sqlServerPlan({ migrationId: 'perm-mssql' })), 'inventory');
    shipFullBackup(gcp);
    await platform.assessSource(mssql);
    await platform.provisionTarget(mssql);
    await platform.createMigrationJob(mssql);
    await platform.startMigrationJob(mssql);
    await platform.getReplicationStatus(mssql);

    // Calendar mode: priority high (orders) on an A3 machine type.
    const orders = taskOf({ ...plan, migrationId: 'perm-calendar' }, 'orders');
    const calendar: DatabaseTask = {
      ...orders,
      migrationId: 'perm-calendar',
      gcp: { ...orders.gcp!, machineType: 'a3-highgpu-8g' },
    };
    await retryingCapacity(() => platform.reserveCapacity(calendar));
    await platform.releaseCapacity(calendar);

    await platform.finishMigration(fleet);
  } finally {
    await platform.close();
    await gcp.stop();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const sent = gcp.log.filter((r) => !arranged.has(r));
  return {
    sent: new Set(sent.filter((r) => r.rpc).flatMap((r) => methodsOf(r.rpc!))),
    unrouted: sent.filter((r) => !r.rpc).map((r) => `${r.method} ${r.path}`),
  };
}

test('the permission list is exactly the methods a whole run on the fake sends, reads included', async () => {
  const { sent, unrouted } = await methodsOfWholeRun();
  assert.deepEqual(unrouted, [], 'every request reached a route of the fake');
  // The dry run's planned calls as well: `dbmig plan` lists what a first run sends.
  const plan = validatePlan(gcpPlan());
  const planned = planOperations(plan, 'perm')
    .flatMap((d) => d.operations.flatMap((o) => o.calls ?? []))
    .map((c) => c.method);
  assert.ok(planned.length > 5);
  const methods = new Set([...sent, ...planned]);
  const missing = [...methods].filter((m) => !METHOD_PERMISSIONS[m]).sort();
  assert.deepEqual(missing, [], 'add these methods to activities/platforms/gcp/preflight/permissions.ts');
  const neverSent = Object.keys(METHOD_PERMISSIONS)
    .filter((m) => !methods.has(m))
    .sort();
  assert.deepEqual(neverSent, [], 'the platform never sends these: remove them from permissions.ts');
  // Each entry names at least one permission, written as IAM writes them: service.resource.verb.
  for (const [m, perms] of Object.entries(METHOD_PERMISSIONS)) {
    assert.ok(perms.length > 0, m);
    for (const p of perms) assert.match(p, /^[a-z]+\.[a-zA-Z]+\.[a-zA-Z]+$/, `${m}: ${p}`);
  }
});

test("the workers' service account lacking a permission is a FIX naming it and the role to grant", async () => {
  const account = `serviceAccount:dbmig-worker@${PROJECT}.iam.gserviceaccount.com`;
  world.bindings = world.bindings.filter((b) => b.role !== 'roles/secretmanager.secretAccessor');
  const [fix, ...rest] = fixes((await check()).results);
  assert.deepEqual(rest, []);
  assert.equal(fix.check, 'Worker service account');
  assert.match(
    fix.what,
    /dbmig-worker@dbmig-contract\.iam\.gserviceaccount\.com lacks secretmanager\.versions\.access/,
  );
  assert.equal(
    fix.fix,
    `gcloud projects add-iam-policy-binding ${PROJECT} --member=${account} --role=roles/secretmanager.secretAccessor`,
  );
  // An account with no role at all (absent, or never granted) lacks every one, each by name.
  world.bindings = [];
  const none = fixes((await check()).results);
  assert.deepEqual(
    none.map((r) => r.what.match(/lacks (\S+)/)?.[1]),
    [
      'datamigration.migrationjobs.get',
      'monitoring.timeSeries.list',
      'secretmanager.versions.access',
      'artifactregistry.repositories.downloadArtifacts',
      'logging.logEntries.create',
    ],
  );
  assert.ok(none.every((r) => /it has no role on the project/.test(r.what)));
});

test('creating the template needs iam.serviceAccounts.actAs: missing, a FIX naming it', async () => {
  world.granted = new Set(
    [...Object.values(METHOD_PERMISSIONS).flat(), ...PREFLIGHT_PERMISSIONS].filter(
      (p) => p !== 'iam.serviceAccounts.actAs',
    ),
  );
  const [fix, ...rest] = fixes((await check()).results);
  assert.deepEqual(rest, []);
  assert.match(fix.what, /missing iam\.serviceAccounts\.actAs \(for instanceTemplates\.insert\)/);
  assert.match(fix.fix, /--role=roles\/iam\.serviceAccountUser/);
});

test('a plan without the worker image or the Temporal address is a FIX: the capacity would do no work', async () => {
  const input = planInput();
  input.gcp = { ...input.gcp!, workerImage: undefined, workerTemporal: undefined };
  const found = fixes((await check(validatePlan(input))).results).map((r) => r.what);
  assert.deepEqual(found, [
    'the plan sets no gcp.workerImage: the reserved workers would have nothing to run, so capacity is refused',
    'the plan sets no gcp.workerTemporal.address: the workers would not know which Temporal to serve',
  ]);
});

/** A full backup in the SQL Server plan's folder, as the source's backup job would have put it. */
function shipFullBackup(to: FakeGcp = fake, at = new Date(Date.now() - 60_000)): void {
  putBackupFile(to, SQLSERVER_BUCKET, `sqlserver/inventory/full/${backupFileName('inventory', at, 'full')}`);
}

test('SQL Server: the backup bucket is read and judged; its permissions asked only of plans having it', async () => {
  const plan = validatePlan(sqlServerPlan());
  const rows = async () => (await check(plan)).results.filter((r) => r.check === 'SQL Server backups');
  const [missing] = await rows();
  assert.equal(missing.status, 'FIX');
  assert.match(missing.what, /^inventory: BACKUP_BUCKET_MISSING/);
  assert.match(missing.fix, /gs:\/\/dbmig-contract-mssql-backups\/sqlserver\/inventory\//);
  shipFullBackup();
  putBackupFile(
    fake,
    SQLSERVER_BUCKET,
    `sqlserver/inventory/log/${backupFileName('inventory', new Date(Date.now() - 5_000), 'log')}`,
  );
  const [ok] = await rows();
  assert.equal(ok.status, 'OK', ok.what);
  // The storage reads are asked of this plan, and of no plan without SQL Server.
  world.granted = new Set(
    [...Object.values(METHOD_PERMISSIONS).flat(), ...PREFLIGHT_PERMISSIONS].filter((x) => x !== 'storage.objects.list'),
  );
  assert.deepEqual(fixes((await check()).results), [], 'the shared plan has no SQL Server database');
  const [fix] = fixes((await check(plan)).results).filter((r) => r.check === 'IAM permissions');
  assert.match(fix.what, /missing storage\.objects\.list/);
  assert.match(fix.fix, /--role=roles\/storage\.objectViewer$/);
});
