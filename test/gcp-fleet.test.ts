// A whole MultiDatabaseMigration on the real Temporal dev server with platform gcp, against the
// local fake of the Google Cloud APIs: MySQL to Cloud SQL at high priority (calendar capacity),
// PostgreSQL to AlloyDB at low priority (flex-start), approved through the Update, promoted.
// Then the same fleet again with 20% of all API requests failing with 429 or 503.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { GcpPlatform } from '../activities/platforms/gcp';
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

async function runFleet(id: string, reject: string[] = []): Promise<{ report: MigrationReport; approvals: number }> {
  const plan = gcpPlan({
    migrationId: id,
    defaults: { lagThresholdSeconds: 5, stableWindow: '1s', noPrimaryKey: 'fail' },
  });
  const handle = await env.client.workflow.start(MultiDatabaseMigration, {
    taskQueue: 'gcp',
    workflowId: id,
    args: [{ plan }],
  });
  let approvals = 0;
  for (;;) {
    const status = await handle.query(statusQuery);
    for (const d of status.databases.filter((x) => x.state === 'AWAITING_APPROVAL')) {
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
