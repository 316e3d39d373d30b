// A parent that continues-as-new keeps its summaries and starts each child once, with mocked
// activities. On the dev server, not the time-skipping one: no timer matters here, and the
// Java test server loses a child's signal now and then around a continue-as-new (see
// helpers/workflow-env.ts) and cannot list workflows.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FAST, createWorkflowEnv, fakePlan, type WorkflowEnv } from './helpers/workflow-env';
import { recordHistory } from './helpers/histories';

let w: WorkflowEnv;
before(async () => {
  w = await createWorkflowEnv('continue-as-new', { server: 'dev' });
});
after(async () => w?.close());

test('a parent that continues-as-new keeps its state and starts each child once', FAST, async () => {
  // Mocked steps are quick, so the children's signals arrive in few workflow tasks: it takes
  // more databases than on a real cluster to pass the (minimum) 100 events.
  const dbs = Array.from({ length: 8 }, (_, i) => `db${i}`);
  const handle = await w.startFleet(
    'can',
    fakePlan(dbs, { migrationId: 'can', concurrency: 2, continueAsNewAfterEvents: 100 }),
  );
  const report = await handle.result();
  assert.deepEqual(
    report.databases.map((d) => [d.database, d.state]),
    dbs.map((d) => [d, 'COMPLETED']),
  );
  for (const d of report.databases)
    assert.ok(d.startedAt && d.finishedAt && d.validation, `${d.database} kept its details across runs`);

  const runs: string[] = [];
  for await (const wf of w.env.client.workflow.list({ query: `WorkflowId = 'can'` })) runs.push(wf.runId);
  assert.ok(runs.length >= 2, `the parent continued as new (${runs.length} runs)`);
  for (const db of dbs) {
    const childRuns: string[] = [];
    for await (const wf of w.env.client.workflow.list({ query: `WorkflowId = 'can/${db}'` })) childRuns.push(wf.runId);
    assert.equal(childRuns.length, 1, `${db} was started exactly once`);
    assert.deepEqual(
      w.mocks.steps('can', db).filter((s) => s === 'assessSource'),
      ['assessSource'],
      `${db} ran its runbook once`,
    );
  }
  // Replay fixture: the parent's last run, which started from the state a continue-as-new carried.
  await recordHistory(w.env.client, 'can');
});
