// Issue 9 on the simulated platform and a real dev server: a long copy and CDC wait writes no
// history per poll; a parent that continued-as-new still learns how a child it no longer holds
// ended (terminated here) and can retry it; an overdue approval escalates and keeps waiting; a
// channel that refuses a notification shows in the status and fails nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { SimPlatform } from '../activities/platforms/sim';
import { getStatus } from '../client/client';
import { approveCutoverUpdate, pauseUpdate, resumeUpdate, retryDatabaseUpdate } from '../common/messages';
import type { PlanInput } from '../common/plan';
import { MultiDatabaseMigration } from '../workflows';
import { startDevServer } from '../worker/dev-server';
import { createMigrationWorker } from '../worker/worker';
import { cachedWorkflowBundle } from './helpers/bundle-cache';
import { eventually } from './helpers/harness';
import { recordHistory } from './helpers/histories';
import { startWebhookChannel, TEST_HOOK_CHANNEL, type WebhookReceiver } from './helpers/receivers';
import { fakePlan } from './helpers/workflow-env';

const TASK_QUEUE = 'fleet-weeks';
const HOOK_SECRET = 'whsec-test-0123456789';
let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let hook: WebhookReceiver;
const sim = new SimPlatform();

before(async () => {
  [env, hook] = await Promise.all([startDevServer(), startWebhookChannel(HOOK_SECRET)]);
  process.env.DBMIG_TEST_BAD_HOOK_URL = hook.url.replace('/hooks/dbmig', '/nowhere');
  worker = await createMigrationWorker({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    platforms: { sim },
    workflowBundle: await cachedWorkflowBundle(),
  });
  running = worker.run();
});

after(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await hook?.close();
});

/** A sim plan whose targets are the migration's own (the sim, like the real ones, never reuses another's). */
function simPlan(names: string[], extra: Partial<PlanInput> = {}): PlanInput {
  const plan = fakePlan(names);
  const instance = `t-${(testSeq++).toString()}`;
  const databases = plan.databases.map((d) => ({ ...d, target: { ...d.target, instance } }));
  const defaults = { lagThresholdSeconds: 5, stableWindow: '1s', noPrimaryKey: 'fail' as const };
  return { ...plan, platform: 'sim', defaults, ...extra, databases };
}
let testSeq = 0;

const start = (id: string, plan: PlanInput) =>
  env.client.workflow.start(MultiDatabaseMigration, { taskQueue: TASK_QUEUE, workflowId: id, args: [{ plan }] });

async function eventsOf(workflowId: string, runId?: string): Promise<number> {
  const history = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
  return history.events?.length ?? 0;
}

const stateOf = async (id: string, database: string) =>
  (await getStatus(env.client, id)).databases.find((d) => d.database === database)!;

/**
 * One database through a 6 s copy, a CDC wait and watching before its approval, polled every
 * `poll`, approved once the sim has answered `minPolls` polls in all (counted, not timed: a loaded
 * machine polls less often per second, never fewer times than asked). With Temporal's 51,200-event
 * limit, what matters is that the history does not grow with the number of polls: a 7-day wait
 * polled every 2 s is 302,400 polls.
 */
async function longWait(
  id: string,
  poll: string,
  minPolls: (atApproval: number) => number,
): Promise<{ polls: number; child: number; parent: number }> {
  const handle = await start(
    id,
    simPlan(['orders'], {
      approval: { policy: 'manual', timeout: '24h' },
      defaults: { lagThresholdSeconds: 5, stableWindow: '2s', noPrimaryKey: 'fail' },
      sim: {
        pollInterval: poll,
        fullDump: '6s',
        lag: [
          { after: '0s', seconds: 40 },
          { after: '2s', seconds: 1 },
        ],
      },
    }),
  );
  await eventually(
    'awaiting approval',
    async () => (await stateOf(id, 'orders')).state === 'AWAITING_APPROVAL',
    60_000,
  );
  const polls = () => sim.calls(id, 'orders', 'getReplicationStatus');
  const wanted = minPolls(polls());
  await eventually(`${wanted} polls (${polls()} so far)`, async () => polls() >= wanted, 300_000, 50);
  await handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'orders', approver: 'ops' }] });
  const report = await handle.result();
  assert.equal(report.databases[0].state, 'COMPLETED');
  return {
    polls: sim.calls(id, 'orders', 'getReplicationStatus'),
    child: await eventsOf(`${id}/orders`),
    parent: await eventsOf(id),
  };
}

test('a long copy and CDC wait writes no history per poll', async (t) => {
  // The slow run watches for 12 more polls (3 s at 250 ms); the fast one until it has polled at
  // least 20 times as often as the slow one did in all, and 2,000 times.
  const slow = await longWait('weeks-slow', '250ms', (n) => n + 12);
  const fast = await longWait('weeks-fast', '1ms', () => Math.max(2_000, 20 * slow.polls));
  t.diagnostic(`poll 250ms: ${slow.polls} polls, child ${slow.child} events, parent ${slow.parent}`);
  t.diagnostic(`poll 1ms: ${fast.polls} polls, child ${fast.child} events, parent ${fast.parent}`);
  assert.ok(fast.polls >= 20 * slow.polls, `the fast run polled ${fast.polls} times, the slow one ${slow.polls}`);
  assert.ok(fast.polls >= 2_000, `${fast.polls} polls`);
  // The same transitions, whatever the number of polls: 170 times the polls, no more events. (Runs
  // differ by a few workflow tasks, as signals and completions happen to share them or not.)
  assert.ok(fast.child <= slow.child + 12, `child: ${fast.child} events against ${slow.child}`);
  assert.ok(fast.parent <= slow.parent + 12, `parent: ${fast.parent} events against ${slow.parent}`);
  assert.ok(fast.child < 200 && fast.parent < 100, `child ${fast.child}, parent ${fast.parent} events`);
});

test('after continue-as-new the fleet learns that a child was terminated; retry runs it again', async () => {
  const id = 'weeks-lost';
  const handle = await start(
    id,
    simPlan(['alpha', 'beta'], { approval: { policy: 'manual', timeout: '24h' }, continueAsNewAfterEvents: 100 }),
  );
  await eventually('both awaiting approval', async () => {
    const s = await getStatus(env.client, id);
    return s.databases.every((d) => d.state === 'AWAITING_APPROVAL');
  });
  // Steering the fleet writes events; enough of them make it continue as new.
  for (let i = 0; (await handle.describe()).runId === handle.firstExecutionRunId; i++) {
    assert.ok(i < 100, 'the parent never continued as new');
    await handle.executeUpdate(i % 2 ? resumeUpdate : pauseUpdate);
  }
  await handle.executeUpdate(resumeUpdate);

  await env.client.workflow.getHandle(`${id}/alpha`).terminate('an operator ended the wrong workflow');
  const lost = await eventually(
    'alpha FAILED in the fleet',
    async () => {
      const d = await stateOf(id, 'alpha');
      return d.state === 'FAILED' ? d : undefined;
    },
    30_000,
  );
  assert.match(lost.lastError ?? '', /TERMINATED: terminated: an operator ended the wrong workflow/);
  assert.equal((await stateOf(id, 'beta')).state, 'AWAITING_APPROVAL');

  await handle.executeUpdate(retryDatabaseUpdate, { args: ['alpha'] });
  await eventually(
    'alpha awaiting approval again',
    async () => (await stateOf(id, 'alpha')).state === 'AWAITING_APPROVAL',
  );
  for (const database of ['alpha', 'beta'])
    await handle.executeUpdate(approveCutoverUpdate, { args: [{ database, approver: 'ops' }] });
  const report = await handle.result();
  assert.deepEqual(
    report.databases.map((d) => [d.database, d.state, d.retries ?? 0]),
    [
      ['alpha', 'COMPLETED', 1],
      ['beta', 'COMPLETED', 0],
    ],
  );
  // The retried run found what the terminated one had made.
  assert.deepEqual(sim.created(id, 'alpha'), { target: 1, capacity: 1, job: 1 });
  // Replay fixture: a parent run carried across continue-as-new that learns of a child it no longer
  // holds, retries it, and relays decisions as Updates.
  await recordHistory(env.client, id);
});

test('an overdue approval escalates and keeps waiting; nothing is deleted', async () => {
  const id = 'weeks-overdue';
  const before = hook.deliveries.size;
  const handle = await start(
    id,
    simPlan(['ledger'], {
      approval: { policy: 'manual', timeout: '2s' },
      notifications: {
        channels: { hook: TEST_HOOK_CHANNEL },
        routes: [{ events: ['approval-needed', 'cutover-done', 'fleet-finished'], channels: ['hook'] }],
        escalation: ['hook'],
      },
    }),
  );
  const overdue = await eventually(
    'ledger overdue, still waiting',
    async () => {
      const d = await stateOf(id, 'ledger');
      return d.state === 'AWAITING_APPROVAL' && d.approvalOverdueSince ? d : undefined;
    },
    30_000,
  );
  assert.match(overdue.nextAction ?? '', /approval overdue: no decision in 2\.0s; escalated to hook/);
  const events = () => [...hook.deliveries.values()].slice(before).map((d) => d.event);
  await eventually('approval-needed and approval-overdue delivered', async () =>
    events().includes('approval-needed') && events().includes('approval-overdue') ? true : undefined,
  );
  const needed = [...hook.deliveries.values()].find((d) => d.event === 'approval-needed' && d.body.migrationId === id)!;
  assert.match(String(needed.body.text), new RegExp(`dbmig approve ${id} ledger --approver`));
  assert.equal(sim.deleted(id, 'ledger').target, 0, 'the synced target is kept');

  await handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'ledger', approver: 'late-ops' }] });
  const report = await handle.result();
  assert.equal(report.databases[0].state, 'COMPLETED');
  assert.equal(report.databases[0].approvalOverdueSince, undefined);
  for (const e of ['cutover-done', 'fleet-finished']) assert.ok(events().includes(e), `${e} delivered: ${events()}`);
  // Replay fixtures of this version's runbook: escalation, notifications, fleet transitions only.
  await recordHistory(env.client, id);
  await recordHistory(env.client, `${id}/ledger`);
});

test('approval.onTimeout: fail fails the database as before', async () => {
  const id = 'weeks-fail';
  const handle = await start(
    id,
    simPlan(['ledger'], { approval: { policy: 'manual', timeout: '1s', onTimeout: 'fail' } }),
  );
  await eventually('ledger FAILED', async () => (await stateOf(id, 'ledger')).state === 'FAILED', 30_000);
  assert.match((await stateOf(id, 'ledger')).lastError ?? '', /no cutover approval within 1\.0s/);
  await handle.terminate('test done');
});

test('a channel that refuses shows in the status and fails nothing', async () => {
  const id = 'weeks-refused';
  const handle = await start(
    id,
    simPlan(['ledger'], {
      approval: { policy: 'manual', timeout: '24h' },
      notifications: {
        channels: {
          broken: { type: 'webhook', urlRef: 'env:DBMIG_TEST_BAD_HOOK_URL', secretRef: 'env:DBMIG_TEST_HOOK_SECRET' },
        },
        routes: [{ events: ['approval-needed'], channels: ['broken'] }],
      },
    }),
  );
  const shown = await eventually(
    'the undelivered notification in the status',
    async () => {
      const d = await stateOf(id, 'ledger');
      return d.notifications ? d : undefined;
    },
    30_000,
  );
  assert.equal(shown.state, 'AWAITING_APPROVAL');
  assert.match(shown.notifications!, /approval-needed not delivered: .*broken/);
  assert.doesNotMatch(shown.notifications!, /127\.0\.0\.1|whsec/, 'no URL or secret in the status');
  await handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'ledger', approver: 'ops' }] });
  assert.equal((await handle.result()).databases[0].state, 'COMPLETED');
});
