// Every loop in a workflow has an event budget (issue 17, Deliver 4), with time skipped: a cutover
// stuck past its point of no return for 30 days stays under 10,000 events in every run (backoff and
// continue-as-new, never an earlier step again); a cutover that does not start holds the synced
// target for days instead of failing the run after 10 attempts; an approval overdue for 30 days
// is told again with backoff, in runs that stay small.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { DatabaseMigration } from '../workflows';
import { databaseStatusQuery } from '../common/messages';
import type { FailureType } from '../common/failures';
import { HAPPY_PATH } from './helpers/mock-activities';
import { databaseInput, eventually, fakePlan, withOwnServer, type WorkflowEnv } from './helpers/workflow-env';

const DAY = 24 * 3_600_000;
/** Minutes: these tests run thousands of workflow tasks on a loaded machine. */
const LONG = { timeout: 15 * 60_000 };

function startAlone(w: WorkflowEnv, id: string, approval: Parameters<typeof databaseInput>[2], extra = {}) {
  return w.env.client.workflow.start(DatabaseMigration, {
    taskQueue: w.taskQueue,
    workflowId: `${id}/alpha`,
    args: [databaseInput(id, fakePlan(['alpha'], extra), approval)],
  });
}

/** Every run of the workflow, first to last, with its history's length: walked back from the last. */
async function runs(w: WorkflowEnv, handle: WorkflowHandle): Promise<{ runId: string; events: number }[]> {
  const out: { runId: string; events: number }[] = [];
  let runId: string | undefined = (await handle.describe()).runId;
  while (runId) {
    const { events } = await w.env.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
    out.unshift({ runId, events: events?.length ?? 0 });
    runId = events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  return out;
}

test('a cutover stuck past its point of no return for 30 days: every run under 10,000 events', LONG, () =>
  withOwnServer('stuck-30d', async (w) => {
    const start = await w.env.currentTimeMs();
    // Non-retryable, so each failure comes back to the runbook at once: its loop is what is counted
    // (the activity's own retries are not time-skipped by the test server).
    w.mocks.fail('cutover', { migrationId: 'stuck' }, 'CutoverIncomplete', Infinity, {
      nonRetryable: true,
      untilMs: start + 30 * DAY,
    });
    const handle = await startAlone(w, 'stuck', { policy: 'auto', timeoutMs: 3_600_000, onTimeout: 'fail' });
    const done = await handle.result();
    assert.equal(done.state, 'COMPLETED');

    const chain = await runs(w, handle);
    const cutovers = w.mocks.calls.filter((c) => c.migrationId === 'stuck' && c.name === 'cutover');
    const biggest = Math.max(...chain.map((r) => r.events));
    console.log(
      `30 days past the point of no return: ${cutovers.length} cutover attempts in ${chain.length} runs; ` +
        `events per run: ${chain.map((r) => r.events).join(', ')}`,
    );
    assert.ok(biggest < 10_000, `a run wrote ${biggest} events`);
    assert.ok(chain.length > 1, 'continued as new');
    // 30 s doubling to 30 min: about 1,450 attempts in 30 days, not one every 30 s (86,400).
    assert.ok(cutovers.length > 1_300 && cutovers.length < 1_600, `${cutovers.length} attempts`);
    const gaps = cutovers.slice(1).map((c, i) => c.at - cutovers[i].at);
    assert.ok(gaps[0] >= 30_000 && gaps[0] < 60_000, `first gap ${gaps[0]} ms`);
    assert.ok(Math.max(...gaps) <= 30 * 60_000 + 60_000, `longest gap ${Math.max(...gaps)} ms`);
    // No run did an earlier step again, and nothing was undone: every step once, the cutover resumed.
    const once = w.mocks.steps('stuck').filter((s, i, all) => s !== 'cutover' || all.indexOf(s) === i);
    assert.deepEqual(once, HAPPY_PATH);
    assert.equal(w.mocks.watches('stuck'), 0, 'no watcher was started again past the point of no return');
  }),
);

test('a cutover that does not start holds the synced target for days, never fails the run', LONG, () =>
  withOwnServer('held-2d', async (w) => {
    const start = await w.env.currentTimeMs();
    // The live set changed (part liveset names the finding), then replication lags for two days.
    w.mocks.fail('cutover', { migrationId: 'held' }, 'MigratedSetChanged' as FailureType, 3, { nonRetryable: true });
    w.mocks.fail('cutover', { migrationId: 'held' }, 'CutoverNotReady', Infinity, { untilMs: start + 2 * DAY });
    const handle = await startAlone(w, 'held', { policy: 'auto', timeoutMs: 3_600_000, onTimeout: 'fail' });
    const holding = await eventually('holding, with the finding', async () => {
      const s = await handle.query(databaseStatusQuery);
      return /MigratedSetChanged|cutover failed/.test(s.lastError ?? '') && /Holding/.test(s.nextAction ?? '')
        ? s
        : undefined;
    });
    assert.equal(holding.state, 'AWAITING_APPROVAL');
    const done = await handle.result();
    assert.equal(done.state, 'COMPLETED');
    const cutovers = w.mocks.calls.filter((c) => c.migrationId === 'held' && c.name === 'cutover');
    const chain = await runs(w, handle);
    console.log(
      `2 days not ready: ${cutovers.length} cutover attempts in ${chain.length} runs; ` +
        `events per run: ${chain.map((r) => r.events).join(', ')}`,
    );
    // No attempt limit: a cutover that does not start never fails the run, nor deletes the synced target.
    assert.ok(cutovers.length > 10, `${cutovers.length} attempts`);
    assert.ok(cutovers.length < 250, `${cutovers.length} attempts: backoff to 15 min`);
    assert.ok(Math.max(...chain.map((r) => r.events)) < 10_000);
    const undone = w.mocks.steps('held').filter((s) => !HAPPY_PATH.includes(s));
    assert.deepEqual(undone, [], 'nothing was undone');
  }),
);

test('an approval overdue for 30 days is told again with backoff, in small runs', LONG, () =>
  withOwnServer('overdue-30d', async (w) => {
    const handle = await startAlone(
      w,
      'late',
      { policy: 'manual', timeoutMs: 60_000, onTimeout: 'escalate' },
      { approval: { policy: 'manual', timeout: '1m', onTimeout: 'escalate' } },
    );
    await eventually('awaiting approval', async () =>
      (await handle.query(databaseStatusQuery)).state === 'AWAITING_APPROVAL' ? 1 : undefined,
    );
    // Let 30 days pass (the server skips time while the test sleeps on it), then decide.
    await w.env.sleep(30 * DAY);
    const s = await handle.query(databaseStatusQuery);
    assert.equal(s.state, 'AWAITING_APPROVAL');
    assert.ok(s.approvalOverdueSince, 'overdue');
    assert.match(s.nextAction ?? '', /approval overdue: no decision in/);
    const chain = await runs(w, handle);
    console.log(`30 days overdue (1 min timeout): events per run: ${chain.map((r) => r.events).join(', ')}`);
    // One round per minute would be 43,200 rounds; doubling to a day is about 40.
    const total = chain.reduce((n, r) => n + r.events, 0);
    assert.ok(total < 2_000, `${total} events in 30 days`);
    await w.env.client.workflow
      .getHandle('late/alpha')
      .signal('approveCutoverSignal', { database: 'alpha', approver: 'ops' });
    assert.equal((await handle.result()).state, 'COMPLETED');
  }),
);
