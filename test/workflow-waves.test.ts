// Waves and approvers, with mocked activities on a Temporal test server: a database's cutover
// starts only after the database it dependsOn has completed (measured from the steps the mocks saw,
// in order, and the status while it waits); a dependency that fails holds the dependent, visibly,
// until it is retried and completes; the plan's approvers (by name and role) are the only ones the
// parent's and the child's validators let decide, and revoking stays open.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  approveCutoverUpdate,
  rejectCutoverUpdate,
  retryDatabaseUpdate,
  revokeApprovalUpdate,
  statusQuery,
} from '../common/messages';
import type { PlanInput } from '../common/plan';
import type { DatabaseSummary } from '../common/status';
import { recordHistory } from './helpers/histories';
import { FAST, createWorkflowEnv, eventually, fakePlan, refused, type WorkflowEnv } from './helpers/workflow-env';

let w: WorkflowEnv;
before(async () => {
  w = await createWorkflowEnv('waves');
});
after(async () => w?.close());

type Handle = Awaited<ReturnType<WorkflowEnv['startFleet']>>;
const db = async (h: Handle, name: string): Promise<DatabaseSummary> =>
  (await h.query(statusQuery)).databases.find((d) => d.database === name)!;
const until = (h: Handle, name: string, ok: (d: DatabaseSummary) => boolean) =>
  eventually(`${name} in the expected state`, async () => {
    const d = await db(h, name);
    return ok(d) ? d : undefined;
  });

/** `orders` (high priority) dependsOn `inventory` (low priority). */
function wavePlan(id: string, extra: Partial<PlanInput> = {}): PlanInput {
  const plan = fakePlan(
    [
      { name: 'orders', priority: 'high' },
      { name: 'inventory', priority: 'low' },
    ],
    { migrationId: id, concurrency: 2, ...extra },
  );
  plan.databases[0].dependsOn = ['inventory'];
  return plan;
}

/** Index of `db`'s `step` in the order the mocks saw every call of the migration. */
function seen(id: string, database: string, step: string): number {
  const calls = w.mocks.calls.filter((c) => c.migrationId === id);
  return calls.findIndex((c) => c.database === database && c.name === step);
}

test(
  "a dependent's cutover starts only after its dependency completed; copy and replication earlier",
  FAST,
  async () => {
    const id = 'waves-order';
    // The dependency's cutover is held: the dependent reaches its own cutover point meanwhile.
    const release = w.mocks.hold('cutover', { migrationId: id, database: 'inventory' });
    const h = await w.startFleet(id, wavePlan(id));
    // Dependencies start first, whatever their priority.
    assert.deepEqual(
      (await h.query(statusQuery)).databases.map((d) => d.database),
      ['inventory', 'orders'],
    );
    const held = await until(h, 'orders', (d) => !!d.heldFor?.length);
    assert.equal(held.state, 'AWAITING_APPROVAL');
    assert.deepEqual(held.heldFor, ['inventory']);
    assert.deepEqual(held.waitingFor, ['inventory (CUTTING_OVER)']);
    assert.match(held.nextAction ?? '', /the cutover waits for inventory to complete \(dependsOn\)/);
    // Its copy and replication ran while the dependency was not done; its cutover did not.
    assert.ok(seen(id, 'orders', 'waitForReplicationReady') >= 0, 'the dependent replicated before');
    assert.ok(seen(id, 'orders', 'validateData') >= 0, 'and validated');
    assert.equal(seen(id, 'orders', 'cutover'), -1, 'no cutover while its dependency is cutting over');

    release();
    const report = await h.result();
    assert.equal(report.completed, 2);
    const depDone = seen(id, 'inventory', 'releaseCapacity'); // its last step before COMPLETED
    const cut = seen(id, 'orders', 'cutover');
    assert.ok(depDone >= 0 && cut > depDone, `orders' cutover (#${cut}) after inventory completed (#${depDone})`);
    const calls = w.mocks.calls.filter((c) => c.migrationId === id);
    assert.ok(calls[cut].at >= calls[depDone].at, 'and later on the server clock');
    // The waves-21 path, for test/replay.test.ts (DBMIG_RECORD_HISTORIES=1 records it).
    await recordHistory(w.env.client, id);
    await recordHistory(w.env.client, `${id}/orders`);
  },
);

test('a failed dependency holds the dependent, visibly, until it is retried and completes', FAST, async () => {
  const id = 'waves-failed';
  w.mocks.fail('assessSource', { migrationId: id, database: 'inventory' }, 'AssessmentFailed', 1, {
    nonRetryable: true,
  });
  const h = await w.startFleet(id, wavePlan(id));
  await until(h, 'inventory', (d) => d.state === 'FAILED');
  const held = await until(h, 'orders', (d) => !!d.heldFor?.length);
  assert.deepEqual(held.waitingFor, ['inventory (FAILED: retry it (dbmig retry), or cancel this database)']);
  assert.equal(seen(id, 'orders', 'cutover'), -1);

  await h.executeUpdate(retryDatabaseUpdate, { args: ['inventory'] });
  const report = await h.result();
  assert.equal(report.completed, 2, JSON.stringify(report.databases.map((d) => [d.database, d.state, d.lastError])));
  const cut = seen(id, 'orders', 'cutover');
  const calls = w.mocks.calls.filter((c) => c.migrationId === id);
  const depDone = calls.map((c, i) => (c.database === 'inventory' && c.name === 'releaseCapacity' ? i : -1));
  assert.ok(cut > Math.max(...depDone), 'the cutover followed the retried dependency');
});

test('only the plan approvers, by name or role, approve or reject; anyone may revoke', FAST, async () => {
  const id = 'waves-approvers';
  const plan = fakePlan(['ledger'], {
    migrationId: id,
    approval: { policy: 'manual', timeout: '1h' },
    roles: { dba: ['bob', 'carol'] },
  });
  plan.databases[0].approvers = ['alice', 'role:dba'];
  const h = await w.startFleet(id, plan);
  await until(h, 'ledger', (d) => d.state === 'AWAITING_APPROVAL');
  const child = w.env.client.workflow.getHandle(`${id}/ledger`);
  const who =
    /"mallory" may not decide the cutover of "ledger": the plan's approvers for it are alice, role:dba \(bob, carol\)/;
  await refused(h.executeUpdate(approveCutoverUpdate, { args: [{ database: 'ledger', approver: 'mallory' }] }), who);
  await refused(
    child.executeUpdate(approveCutoverUpdate, { args: [{ database: 'ledger', approver: 'mallory' }] }),
    who,
  );
  await refused(h.executeUpdate(rejectCutoverUpdate, { args: [{ database: 'ledger', approver: 'mallory' }] }), who);
  assert.equal((await db(h, 'ledger')).approvedBy, undefined);

  // carol is a dba: accepted through the parent; mallory may still revoke (a brake, not a decision).
  const ack = await h.executeUpdate(approveCutoverUpdate, { args: [{ database: 'ledger', approver: 'carol' }] });
  assert.equal(ack.by, 'carol');
  // (The cutover may already be under way: a revoke is then refused for the state, never for who asks.)
  await h
    .executeUpdate(revokeApprovalUpdate, { args: [{ database: 'ledger', approver: 'mallory' }] })
    .catch((err: Error) => assert.doesNotMatch(String((err.cause as Error)?.message), /may not decide/));
  const state = (await db(h, 'ledger')).state;
  if (state === 'AWAITING_APPROVAL')
    await h.executeUpdate(approveCutoverUpdate, { args: [{ database: 'ledger', approver: 'alice' }] });
  const report = await h.result();
  assert.equal(report.completed, 1);
  assert.match(report.databases[0].approvedBy ?? '', /^(carol|alice)$/);
});

test(
  'with one slot the dependency runs first, and the dependent is released as soon as it reports its hold',
  FAST,
  async () => {
    const id = 'waves-serial';
    const h = await w.startFleet(id, wavePlan(id, { concurrency: 1 }));
    const report = await h.result();
    assert.equal(report.completed, 2);
    // inventory completed before orders even started: its hold was answered at once.
    const depDone = seen(id, 'inventory', 'releaseCapacity');
    assert.ok(depDone >= 0 && seen(id, 'orders', 'assessSource') > depDone, 'orders started after inventory ended');
    assert.ok(seen(id, 'orders', 'cutover') > depDone);
    const child = await w.env.client.workflow.getHandle(`${id}/orders`).fetchHistory();
    const released = child.events!.filter(
      (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'dependenciesCompleted',
    );
    assert.equal(released.length, 1, 'one release signal, not one per poll');
  },
);
