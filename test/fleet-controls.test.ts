// Fleet controls and long runs: pause holds new databases back, cancelDatabase compensates one
// database, resume lets the rest go; a parent that continues-as-new keeps its summaries and
// never restarts a child.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { MultiDatabaseMigration } from '../workflows';
import { cancelDatabaseUpdate, pauseUpdate, resumeUpdate, statusQuery } from '../common/messages';
import { planFor, replicationLeftovers, type SourceDb } from './fixtures/fleet';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';

const DBS: SourceDb[] = [
  { name: 'first', rows: 300, priority: 'high', sizeGb: 5 },
  { name: 'second', rows: 300, priority: 'medium', sizeGb: 5 },
  { name: 'third', rows: 300, priority: 'low', sizeGb: 5 },
];

let h: Harness;
before(async () => {
  h = await createHarness('controls', { databases: DBS });
});
after(async () => h?.close());

test('pause holds new databases, cancelDatabase compensates one, resume finishes the rest', async () => {
  const plan = planFor(h.source, DBS.slice(0, 2), `env:${SOURCE_PASSWORD_ENV}`, {
    concurrency: 1,
    approval: { policy: 'auto', timeout: '1h' },
    defaults: { stableWindow: '1h' },
  });
  const handle = await h.env.client.workflow.start(MultiDatabaseMigration, {
    taskQueue: h.taskQueue,
    workflowId: 'controls',
    args: [{ plan }],
  });
  // Pause only once the first database is under way; pausing earlier would (rightly) hold it back too.
  await eventually('first started', async () =>
    (await handle.query(statusQuery)).databases.find((d) => d.database === 'first' && d.started),
  );
  const paused = await handle.executeUpdate(pauseUpdate);
  assert.equal(paused.paused, true);
  await eventually('first in CDC', async () =>
    (await handle.query(statusQuery)).databases.find((d) => d.database === 'first' && d.state === 'CDC'),
  );

  await assert.rejects(
    handle.executeUpdate(cancelDatabaseUpdate, { args: ['nope'] }),
    (err: unknown) =>
      err instanceof WorkflowUpdateFailedError && /unknown database "nope"/.test(String((err.cause as Error).message)),
  );
  await handle.executeUpdate(cancelDatabaseUpdate, { args: ['first'] });
  await eventually('first cancelled', async () =>
    (await handle.query(statusQuery)).databases.find((d) => d.database === 'first' && d.state === 'CANCELLED'),
  );
  await new Promise((r) => setTimeout(r, 1500));
  const held = await handle.query(statusQuery);
  assert.equal(held.databases[1].state, 'PENDING', 'paused: second did not start although a slot is free');
  assert.equal(held.databases[1].started, false);

  await handle.executeUpdate(resumeUpdate);
  await eventually('second in CDC', async () =>
    (await handle.query(statusQuery)).databases.find((d) => d.database === 'second' && d.state === 'CDC'),
  );
  await handle.executeUpdate(cancelDatabaseUpdate, { args: ['second'] });
  const report = await handle.result();
  assert.deepEqual(
    report.databases.map((d) => d.state),
    ['CANCELLED', 'CANCELLED'],
  );
  const target = await h.platform.clusters.ensure('fleet-target');
  assert.deepEqual(await replicationLeftovers(h.source, ['first', 'second'], target), {
    slots: [],
    publications: [],
    subscriptions: [],
  });
  assert.deepEqual(await h.platform.capacity.held(), {});
});

test('a parent that continues-as-new keeps its state and starts each child once', async () => {
  const plan = planFor(h.source, DBS, `env:${SOURCE_PASSWORD_ENV}`, {
    migrationId: 'can',
    concurrency: 2,
    continueAsNewAfterEvents: 100,
    approval: { policy: 'auto', timeout: '1h' },
  });
  plan.databases = plan.databases.map((d) => ({ ...d, target: { ...d.target, database: `${d.name}_can` } }));
  const handle = await h.env.client.workflow.start(MultiDatabaseMigration, {
    taskQueue: h.taskQueue,
    workflowId: 'can',
    args: [{ plan }],
  });
  const report = await handle.result();
  assert.deepEqual(
    report.databases.map((d) => [d.database, d.state]),
    DBS.map((d) => [d.name, 'COMPLETED']),
  );
  for (const d of report.databases)
    assert.ok(d.startedAt && d.finishedAt && d.validation, `${d.database} kept its details across runs`);

  const runs: string[] = [];
  for await (const wf of h.env.client.workflow.list({ query: `WorkflowId = 'can'` })) runs.push(wf.runId);
  assert.ok(runs.length >= 2, `the parent continued as new (${runs.length} runs)`);
  for (const db of DBS) {
    const childRuns: string[] = [];
    for await (const wf of h.env.client.workflow.list({ query: `WorkflowId = 'can/${db.name}'` }))
      childRuns.push(wf.runId);
    assert.equal(childRuns.length, 1, `${db.name} was started exactly once`);
  }
});
