// `dbmig gcp check` against the fake: a healthy project is all OK (exit 0); each broken thing is a
// FIX row naming its remedy (exit 1); and the check sends reads only.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { METHOD_PERMISSIONS } from '../activities/platforms/gcp/permissions';
import { runPreflight, type CheckResult } from '../activities/platforms/gcp/preflight';
import { checkReport, gcpCheckCommand } from '../cli/commands-gcp';
import { planOperations } from '../cli/plan-report';
import { validatePlan, type Plan, type PlanInput } from '../common/plan';
import { fakeAuth } from './fakes/gcp';
import { healthyWorld, preflightRoutes, type PreflightWorld } from './fakes/gcp/routes-preflight';
import { FakeGcp } from './fakes/gcp/server';
import { gcpPlan, PROJECT } from './helpers/gcp-plan';

let fake: FakeGcp;
let world: PreflightWorld;
let endpoint: { host: string; port: number; protocol: 'http' };
let listener: net.Server;
let openPort: number;

const RANGE = 'google-managed-services-migration-network';

function planInput(sourcePort = openPort): PlanInput {
  const input = gcpPlan();
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
  endpoint = await fake.start();
});
after(async () => {
  await fake?.stop();
  await new Promise((ok) => listener?.close(ok));
});
beforeEach(() => Object.assign(world, freshWorld()));

async function check(plan: Plan = validatePlan(planInput())) {
  return runPreflight(plan, { endpoint, authClient: fakeAuth(), connectTimeoutMs: 1_000 });
}

const fixes = (results: CheckResult[]) => results.filter((r) => r.status === 'FIX');

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
  for (const heading of ['APIs', 'IAM permissions', 'Private services access', 'Migration workers', 'Quota', 'Sources'])
    assert.match(out, new RegExp(`^${heading}$`, 'm'), heading);
  assert.match(out, /instance template dbmig-migration-worker will be created/);
  assert.match(out, /CPUS in us-central1: the plan needs up to \d+ vCPUs/);
  assert.match(out, /orders: 127\.0\.0\.1:\d+ accepts TCP connections/);
  assert.match(out, /nothing to fix/);

  const sent = fake.log.slice(from);
  assert.ok(sent.length >= 8, 'the check read the project');
  const writes = sent.filter((r) => r.method !== 'GET' && r.rpc !== 'cloudresourcemanager.projects.testIamPermissions');
  assert.deepEqual(writes, [], 'nothing but reads and testIamPermissions');
  // FakeGcp.changes() lists every non-GET; testIamPermissions is a POST that changes nothing.
  assert.ok(fake.changes(from).every((c) => c.method === 'cloudresourcemanager.projects.testIamPermissions'));
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
    Object.values(METHOD_PERMISSIONS)
      .flat()
      .filter((p) => p !== 'datamigration.migrationjobs.demoteDestination'),
  );
  for (const p of ['serviceusage.services.get', 'compute.networks.get', 'compute.globalAddresses.get'])
    world.granted.add(p);
  for (const p of [
    'compute.instanceTemplates.get',
    'compute.zones.get',
    'compute.regions.get',
    'compute.machineTypes.get',
  ])
    world.granted.add(p);
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

test('an existing template that does not match the plan is a FIX', async () => {
  world.instanceTemplates.set(`${PROJECT}/dbmig-migration-worker`, { properties: { machineType: 'n2-standard-8' } });
  const r = await check();
  const f = fixes(r.results);
  assert.equal(f.length, 1);
  assert.match(
    f[0].what,
    /instance template dbmig-migration-worker exists with n2-standard-8, the plan asks e2-standard-4/,
  );
});

test('the permission list covers every method the dry run plans', () => {
  const plan = validatePlan(gcpPlan());
  const methods = new Set(
    planOperations(plan, 'perm')
      .flatMap((d) => d.operations.flatMap((o) => o.calls ?? []))
      .map((c) => c.method),
  );
  assert.ok(methods.size > 5);
  const missing = [...methods].filter((m) => !METHOD_PERMISSIONS[m]);
  assert.deepEqual(missing, [], 'add these methods to activities/platforms/gcp/permissions.ts');
});
