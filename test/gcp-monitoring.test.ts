// The recipe's monitoring step against the fake, through the real Monitoring clients: a dashboard
// and three alert policies per migration, made once however often (or however lossily) it runs,
// notifying the plan's channels, and removed (only ours) unless the plan keeps them.
/* eslint-disable @typescript-eslint/no-explicit-any -- the fake's resources are the JSON Google answers */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { withDataPlane } from '../worker/worker';
import { validatePlan } from '../common/plan';
import { failure } from '../common/failures';
import type { Activities } from '../activities';
import type { FleetTask } from '../activities/steps';
import { MultiDatabaseMigration } from '../workflows';
import { startDevServer } from '../worker/dev-server';
import { describeMonitoring, ensureMonitoring, removeMonitoring } from '../activities/platforms/gcp/monitoring';
import { createFakeGcp, fakeAuth, type FakeGcp } from './fakes/gcp';
import { GcpClients } from '../activities/platforms/gcp/clients';
import { monitoringAdminRoutes, type MonitoringAdmin } from './fakes/gcp/routes-monitoring';
import { gcpPlan, PROJECT } from './helpers/gcp-plan';
import { cachedWorkflowBundle } from './helpers/bundle-cache';
import { MockActivities } from './helpers/mock-activities';
import { fakePlan } from './helpers/workflow-env';

const CHANNELS = [`projects/${PROJECT}/notificationChannels/111`, `projects/${PROJECT}/notificationChannels/222`];

let fake: FakeGcp;
let admin: MonitoringAdmin;
let clients: GcpClients;

function fleet(migrationId: string, monitoring: Record<string, unknown> = {}): FleetTask {
  const base = gcpPlan();
  const plan = validatePlan({
    ...base,
    gcp: { ...base.gcp!, monitoring: { notificationChannels: CHANNELS, ...monitoring } },
  });
  return { migrationId, platform: 'gcp', databases: plan.databases.map((d) => d.name), gcp: plan.gcp };
}

/** Every monitoring resource the fake holds, by kind. */
function held(): { dashboards: any[]; policies: any[] } {
  const all = [...fake.resources.entries()].filter(([k]) => k.startsWith('monitoring/')).map(([, v]) => v);
  return {
    dashboards: all.filter((r) => r.name.includes('/dashboards/')),
    policies: all.filter((r) => r.name.includes('/alertPolicies/')),
  };
}
const ofMigration = (rs: any[], owner: string) =>
  rs.filter((r) => (r.userLabels ?? r.labels)?.['dbmig-migration'] === owner);

before(async () => {
  fake = createFakeGcp().fake;
  admin = monitoringAdminRoutes(fake, { channels: new Set(CHANNELS) });
  clients = new GcpClients({ endpoint: await fake.start(), authClient: fakeAuth() });
});
after(async () => {
  await clients?.close();
  await fake?.stop();
});

test('run twice, the dashboard and the three alert policies exist once, notifying the plan channels', async () => {
  const f = fleet('mon-twice');
  const from = fake.log.length;
  const first = await ensureMonitoring(clients, f);
  const second = await ensureMonitoring(clients, f);
  assert.deepEqual(second, first);
  assert.equal(first.resources.length, 4);
  const { dashboards, policies } = held();
  assert.equal(ofMigration(dashboards, 'mon-twice').length, 1);
  const ours = ofMigration(policies, 'mon-twice');
  assert.deepEqual(ours.map((p) => p.userLabels['dbmig-alert']).sort(), ['job-failed', 'lag-critical', 'lag-warning']);
  for (const p of ours) assert.deepEqual(p.notificationChannels, CHANNELS);
  const warning = ours.find((p) => p.userLabels['dbmig-alert'] === 'lag-warning');
  assert.equal(warning.conditions[0].conditionThreshold.thresholdValue, 60);
  assert.match(warning.conditions[0].conditionThreshold.filter, /max_replica_sec_lag/);
  const critical = ours.find((p) => p.userLabels['dbmig-alert'] === 'lag-critical');
  assert.equal(critical.conditions[0].conditionThreshold.thresholdValue, 300);
  // The second run only read.
  const creates = fake.changes(from).filter((c) => c.method.endsWith('.create'));
  assert.equal(creates.length, 4);
  assert.equal(fake.changes(from).length, 4);
  // The dashboard charts exactly the migration's jobs.
  const dash = ofMigration(dashboards, 'mon-twice')[0];
  assert.equal(dash.displayName, 'dbmig mon-twice');
  assert.match(JSON.stringify(dash.mosaicLayout), /max_replica_bytes_lag/);
});

test('a create whose answer is lost is found on the retry: still one of each', async () => {
  const f = fleet('mon-lost');
  // Applied, then the connection drops (server.ts loseResponse); and applied, then a 503 (loseNext).
  fake.loseResponse('monitoring.projects.alertPolicies.create');
  fake.loseResponse('monitoring.projects.dashboards.create');
  admin.loseNext.add('monitoring.projects.alertPolicies.create');
  await ensureMonitoring(clients, f);
  assert.equal(admin.loseNext.size, 0, 'the 503 loss happened');
  assert.equal(fake.log.filter((r) => r.lost).length >= 2, true, 'both dropped answers happened');
  const { dashboards, policies } = held();
  assert.equal(ofMigration(dashboards, 'mon-lost').length, 1);
  assert.equal(ofMigration(policies, 'mon-lost').length, 3);
  await ensureMonitoring(clients, f);
  assert.equal(ofMigration(held().policies, 'mon-lost').length, 3);
});

test('a channel the plan names that does not exist is refused, naming the field; nothing is created', async () => {
  const bad = `projects/${PROJECT}/notificationChannels/404`;
  const f = fleet('mon-badchannel', { notificationChannels: [CHANNELS[0], bad] });
  await assert.rejects(
    ensureMonitoring(clients, f),
    /gcp\.monitoring\.notificationChannels\[1\]: .*404 does not exist/,
  );
  assert.equal(ofMigration(held().policies, 'mon-badchannel').length, 0);
  assert.equal(ofMigration(held().dashboards, 'mon-badchannel').length, 0);
});

test('a changed definition updates the existing policies in place (same ids), never adds', async () => {
  const before1 = await ensureMonitoring(clients, fleet('mon-change'));
  const after1 = await ensureMonitoring(clients, fleet('mon-change', { lagWarningSeconds: 90 }));
  assert.deepEqual(after1, before1);
  const warning = ofMigration(held().policies, 'mon-change').find((p) => p.userLabels['dbmig-alert'] === 'lag-warning');
  assert.equal(warning.conditions[0].conditionThreshold.thresholdValue, 90);
  assert.equal(ofMigration(held().policies, 'mon-change').length, 3);
});

test('remove deletes only what carries this migration label; keep keeps everything', async () => {
  await ensureMonitoring(clients, fleet('mon-a'));
  await ensureMonitoring(clients, fleet('mon-b'));
  // An operator's policy in the same project, without our labels.
  fake.resources.set(`monitoring/projects/${PROJECT}/alertPolicies/42`, {
    name: `projects/${PROJECT}/alertPolicies/42`,
    displayName: 'hand-made',
    userLabels: { team: 'db' },
  });
  assert.deepEqual(await removeMonitoring(clients, fleet('mon-a', { keep: true })), []);
  assert.equal(ofMigration(held().policies, 'mon-a').length, 3);

  const deleted = await removeMonitoring(clients, fleet('mon-a'));
  assert.equal(deleted.length, 4);
  assert.equal(ofMigration(held().policies, 'mon-a').length, 0);
  assert.equal(ofMigration(held().dashboards, 'mon-a').length, 0);
  assert.equal(ofMigration(held().policies, 'mon-b').length, 3);
  assert.equal(ofMigration(held().dashboards, 'mon-b').length, 1);
  assert.ok(fake.resources.has(`monitoring/projects/${PROJECT}/alertPolicies/42`));
  // Again: nothing left to delete, nothing fails.
  assert.deepEqual(await removeMonitoring(clients, fleet('mon-a')), []);
});

test('the dry run lists the creates and deletes the fake records, in order', async () => {
  const f = fleet('mon-dry');
  const { prepare, finish } = describeMonitoring(f);
  const from = fake.log.length;
  await ensureMonitoring(clients, f);
  const mid = fake.log.length;
  await removeMonitoring(clients, f);
  const methods = (ops: typeof prepare) => ops.flatMap((o) => o.calls ?? []).map((c) => c.method);
  assert.deepEqual(
    fake
      .changes(from)
      .slice(0, fake.changes(from).length - fake.changes(mid).length)
      .map((c) => c.method),
    methods(prepare),
  );
  assert.deepEqual(
    fake.changes(mid).map((c) => c.method),
    methods(finish),
  );
  assert.deepEqual(describeMonitoring(fleet('mon-dry', { keep: true })).finish, []);
});

test('the fleet prepares once across continue-as-new and finishes once; a failed setup fails nothing', async () => {
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
  });
  const env = await startDevServer();
  const calls: { step: string; fleet: FleetTask }[] = [];
  let failPrepare = false;
  const mocks = new MockActivities(async () => Date.now());
  // The mocks plus the two fleet steps, recorded here (mock-activities.ts may not have them yet).
  const activities = {
    ...mocks.activities(),
    prepareMigration: async (fleet: FleetTask) => {
      calls.push({ step: 'prepare', fleet });
      if (failPrepare) throw failure('PermissionDenied', 'monitoring.alertPolicies.create denied (test)');
      return { resources: ['projects/p/dashboards/d'] };
    },
    finishMigration: async (fleet: FleetTask) => void calls.push({ step: 'finish', fleet }),
  } satisfies Activities;
  const taskQueue = 'wf-fleet-monitoring';
  const worker = await withDataPlane({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await cachedWorkflowBundle(),
    activities,
  });
  const running = worker.run();
  try {
    const dbs = Array.from({ length: 8 }, (_, i) => `db${i}`);
    const plan = fakePlan(dbs, { migrationId: 'mon-fleet', concurrency: 2, continueAsNewAfterEvents: 100 });
    const report = await env.client.workflow.execute(MultiDatabaseMigration, {
      taskQueue,
      workflowId: 'mon-fleet',
      args: [{ plan }],
    });
    assert.equal(report.completed, 8);
    const runs: string[] = [];
    for await (const wf of env.client.workflow.list({ query: `WorkflowId = 'mon-fleet'` })) runs.push(wf.runId);
    assert.ok(runs.length >= 2, `the parent continued as new (${runs.length} runs)`);
    assert.deepEqual(
      calls.map((c) => c.step),
      ['prepare', 'finish'],
    );
    assert.deepEqual(calls[0].fleet.databases.sort(), [...dbs].sort());
    assert.equal(calls[0].fleet.migrationId, 'mon-fleet');
    assert.ok(mocks.calls.filter((c) => c.name === 'assessSource').length === 8, 'every database ran after the setup');

    // Monitoring that cannot be set up does not hold or fail the fleet; its removal still runs.
    calls.length = 0;
    failPrepare = true;
    const failed = await env.client.workflow.execute(MultiDatabaseMigration, {
      taskQueue,
      workflowId: 'mon-fleet-2',
      args: [{ plan: fakePlan(['solo'], { migrationId: 'mon-fleet-2' }) }],
    });
    assert.equal(failed.completed, 1);
    assert.deepEqual(
      calls.map((c) => c.step),
      ['prepare', 'finish'],
    );
  } finally {
    worker.shutdown();
    await running;
    await env.teardown();
  }
});
