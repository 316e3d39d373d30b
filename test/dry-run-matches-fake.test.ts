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
import { GcpPlatform } from '../activities/platforms/gcp';
import type { PlannedCall } from '../activities/platforms/platform';
import { planOperations } from '../cli/plan-report';
import { statusQuery } from '../common/messages';
import { validatePlan } from '../common/plan';
import { startDevServer } from '../worker/dev-server';
import { createMigrationWorker } from '../worker/worker';
import { MultiDatabaseMigration } from '../workflows';
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
    taskQueue: 'gcp-dry-run',
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

test('the gcp dry run lists exactly the changing requests its fleet sends, per database, in order', async () => {
  const id = 'dry-run-vs-fake';
  const plan = validatePlan(
    gcpPlan({
      migrationId: id,
      approval: { policy: 'auto' },
      defaults: { lagThresholdSeconds: 5, stableWindow: '1s', noPrimaryKey: 'fail' },
    }),
  );
  const planned = planOperations(plan, id, { gcp: platform });
  const from = fake.log.length;

  const handle = await env.client.workflow.start(MultiDatabaseMigration, {
    taskQueue: 'gcp-dry-run',
    workflowId: id,
    args: [{ plan }],
  });
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
