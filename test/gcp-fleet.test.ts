// A whole MultiDatabaseMigration on the real Temporal dev server with platform gcp, against the
// local fake of the Google Cloud APIs: MySQL to Cloud SQL at high priority (calendar capacity),
// PostgreSQL to AlloyDB at low priority (flex-start), approved through the Update, promoted.
// Then the same fleet again with 20% of all API requests failing with 429 or 503.
//
// The dry run cannot drift from what runs: `dbmig plan`'s operations for a gcp plan are compared
// with the requests a whole fleet of that plan sends to the fake, run by the real workflow on the
// Temporal dev server with approval auto.
//
// What is compared, per database and in order: the `calls` of the platform's planned operations
// (API method as its discovery id, full resource name, validateOnly) against every request the
// fake received that asks for a change, i.e. every request but a GET: creates and inserts
// (validateOnly included), job actions (verify, start, promote), cancels and deletes. Reads and
// operation polls (GETs) are not compared: how often the code polls is not part of the plan.
// Each request is given to the database whose planned resources include its resource; a request
// that no database planned fails the test. The fake's requests interleave across databases, so
// the order is compared within each database, not across the fleet.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { GcpPlatform } from '../activities/platforms/gcp';
import type { PlannedCall } from '../activities/platforms/platform';
import { planOperations } from '../cli/plan-report';
import { validatePlan } from '../common/plan';
import { startDevServer } from '../worker/dev-server';
import { createMigrationWorker } from '../worker/worker';
import { MultiDatabaseMigration } from '../workflows';
import { approveCutoverUpdate, rejectCutoverUpdate, statusQuery } from '../common/messages';
import type { MigrationReport } from '../common/status';
import { createFakeGcp, fakeAuth, type FakeGcp } from './fakes/gcp';
import { sharedBundle } from './helpers/harness';
import { gcpPlan, PROJECT } from './helpers/gcp-plan';

let env: TestWorkflowEnvironment;
let fake: FakeGcp;
let platform: GcpPlatform;
let worker: Worker;
let running: Promise<void>;

before(async () => {
  process.env.GCP_TEST_SOURCE_PASSWORD = 's3cret-mysql';
  process.env.DBMIG_ALLOWED_HOSTS = '203.0.113.0/24';
  fake = createFakeGcp({ secrets: { [`projects/${PROJECT}/secrets/ledger-source-password`]: 's3cret-pg' } }).fake;
  platform = new GcpPlatform({ endpoint: await fake.start(), authClient: fakeAuth(), poll: { intervalMs: 20 } });
  env = await startDevServer();
  worker = await createMigrationWorker({
    connection: env.nativeConnection,
    taskQueue: 'gcp',
    platforms: { gcp: platform },
    workflowBundle: await sharedBundle(),
  });
  running = worker.run();
});
after(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await platform?.close();
  await fake?.stop();
});

const startFleet = (workflowId: string, plan: unknown) =>
  env.client.workflow.start(MultiDatabaseMigration, { taskQueue: 'gcp', workflowId, args: [{ plan }] });

async function runFleet(id: string, reject: string[] = []): Promise<{ report: MigrationReport; approvals: number }> {
  const plan = gcpPlan({
    migrationId: id,
    defaults: { lagThresholdSeconds: 5, stableWindow: '1s', noPrimaryKey: 'fail' },
  });
  const handle = await startFleet(id, plan);
  let approvals = 0;
  // The parent's view lags its children's: decide each database once, or a second decision may
  // race the fleet's end and be aborted with the closing workflow.
  const decided = new Set<string>();
  for (;;) {
    const status = await handle.query(statusQuery);
    for (const d of status.databases.filter((x) => x.state === 'AWAITING_APPROVAL' && !decided.has(x.database))) {
      decided.add(d.database);
      try {
        if (reject.includes(d.database))
          await handle.executeUpdate(rejectCutoverUpdate, {
            args: [{ database: d.database, approver: 'gcp-test', reason: 'not today' }],
          });
        else
          await handle.executeUpdate(approveCutoverUpdate, { args: [{ database: d.database, approver: 'gcp-test' }] });
        approvals++;
      } catch (err) {
        if (!(err instanceof WorkflowUpdateFailedError)) throw err;
      }
    }
    // A FAILED database would hold the fleet open for an operator: report it instead of waiting.
    const failed = status.databases.filter((d) => d.state === 'FAILED');
    if (failed.length) throw new Error(`failed: ${failed.map((d) => `${d.database}: ${d.lastError}`).join('; ')}`);
    if (status.databases.every((d) => ['COMPLETED', 'CANCELLED'].includes(d.state))) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return { report: await handle.result(), approvals };
}

function assertCleanFleet(report: MigrationReport): void {
  assert.deepEqual(
    report.databases.map((d) => [d.database, d.state, d.lastError ?? '']),
    [
      ['orders', 'COMPLETED', ''],
      ['ledger', 'COMPLETED', ''],
    ],
  );
  const keys = [...fake.resources.keys()];
  assert.deepEqual(
    keys.filter((k) => k.startsWith('dms/')),
    [],
    'jobs and profiles are deleted after promotion',
  );
  assert.deepEqual(
    keys.filter((k) => k.startsWith('fr/') || k.startsWith('rr/')),
    [],
    'capacity is released',
  );
  assert.ok(keys.includes(`sql/${PROJECT}/orders-mysql`), 'the Cloud SQL target stays');
  assert.ok(
    keys.some((k) => k.endsWith('/clusters/ledger-alloy/instances/ledger-alloy-primary')),
    'the AlloyDB target stays',
  );
}

test('a MySQL→Cloud SQL and a PostgreSQL→AlloyDB migration complete on gcp', async () => {
  const { report, approvals } = await runFleet('gcp-fleet');
  assert.equal(approvals, 2);
  assertCleanFleet(report);
  assert.equal(fake.count('POST', /:promote$/), 2);
  assert.equal(fake.count('POST', /\/futureReservations$/), 1, 'high priority: calendar mode');
  assert.equal(fake.count('POST', /\/resizeRequests$/), 1, 'low priority: flex-start');
  for (const d of report.databases) assert.match(d.validation ?? '', /DMS job COMPLETED/);
});

test('with 20% of API requests failing (429/503) and 10% slow, the fleet still completes', async () => {
  // Fresh targets: the first test's instances belong to another migration id.
  for (const k of [...fake.resources.keys()]) fake.resources.delete(k);
  fake.faults = { rate: 0.2, slowRate: 0.1, slowMs: 300 };
  const before = fake.log.length;
  const { report } = await runFleet('gcp-faulty');
  fake.faults = { rate: 0, slowRate: 0, slowMs: 0 };
  assertCleanFleet(report);
  const requests = fake.log.slice(before);
  const faulted = requests.filter((r) => r.faulted).length;
  assert.ok(faulted >= 5, `faults were injected: ${faulted} of ${requests.length}`);
  console.log(`# faulty run: ${faulted} of ${requests.length} requests failed with 429/503`);
});

test('a rejected cutover on gcp compensates: job stopped and deleted, capacity released, target deleted', async () => {
  for (const k of [...fake.resources.keys()]) fake.resources.delete(k);
  const stops = fake.count('POST', /:stop$/);
  const { report } = await runFleet('gcp-reject', ['ledger']);
  assert.deepEqual(
    report.databases.map((d) => [d.database, d.state]),
    [
      ['orders', 'COMPLETED'],
      ['ledger', 'CANCELLED'],
    ],
  );
  assert.match(report.databases[1].lastError ?? '', /cutover rejected by gcp-test: not today/);
  assert.equal(fake.count('POST', /:stop$/) - stops, 1, 'the running DMS job was stopped');
  const keys = [...fake.resources.keys()];
  assert.deepEqual(
    keys.filter((k) => k.startsWith('dms/') || k.startsWith('fr/') || k.startsWith('rr/')),
    [],
  );
  assert.deepEqual(
    keys.filter((k) => k.startsWith('alloydb/')),
    [],
    'the AlloyDB cluster this run created is deleted',
  );
  assert.ok(keys.includes(`sql/${PROJECT}/orders-mysql`), 'the promoted Cloud SQL target stays');
});

test('the gcp dry run lists exactly the changing requests its fleet sends, per database, in order', async () => {
  const id = 'dry-run-vs-fake';
  const plan = validatePlan(
    gcpPlan({
      migrationId: id,
      approval: { policy: 'auto' },
      defaults: { lagThresholdSeconds: 5, stableWindow: '1s', noPrimaryKey: 'fail' },
    }),
  );
  // A first run, as the dry run describes it: nothing of the earlier tests' fleets exists.
  for (const k of [...fake.resources.keys()]) fake.resources.delete(k);
  const planned = planOperations(plan, id, { gcp: platform });
  const from = fake.log.length;

  const handle = await startFleet(id, plan);
  for (;;) {
    const status = await handle.query(statusQuery);
    // A FAILED database holds the fleet open for an operator: report it instead of waiting.
    const failed = status.databases.filter((d) => d.state === 'FAILED');
    if (failed.length) throw new Error(`failed: ${failed.map((d) => `${d.database}: ${d.lastError}`).join('; ')}`);
    if (status.databases.every((d) => d.state === 'COMPLETED')) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await handle.result();

  const owner = new Map<string, string>();
  const expected = new Map<string, PlannedCall[]>();
  for (const p of planned) {
    const calls = p.operations.flatMap((o) => o.calls ?? []);
    expected.set(p.database.name, calls);
    for (const c of calls) owner.set(c.resource, p.database.name);
  }
  const sent = new Map<string, PlannedCall[]>([...expected.keys()].map((db) => [db, []]));
  const unplanned: PlannedCall[] = [];
  for (const c of fake.changes(from)) {
    const db = owner.get(c.resource);
    if (db) sent.get(db)!.push(c);
    else unplanned.push(c);
  }

  assert.deepEqual(unplanned, [], 'every changing request was planned for some database');
  for (const [db, calls] of expected) {
    assert.ok(calls.length >= 10, `${db}: the dry run lists the requests (${calls.length})`);
    assert.deepEqual(sent.get(db), calls, `${db}: requests sent = requests planned`);
  }
});
