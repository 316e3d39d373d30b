// What the fleet tells people is what the child did (issue 17, points 3 and 10): a child whose run
// ended without its final report after its cutover started is NEEDS_ATTENTION, never FAILED with
// a retry, and a parent started again under the same id does not start it once more; a decision
// reaches the child as an Update and the caller gets the child's answer, even when the fleet's
// view of the child trails it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MultiDatabaseMigration } from '../workflows';
import {
  approveCutoverUpdate,
  childSummarySignal,
  databaseStatusQuery,
  revokeApprovalUpdate,
  statusQuery,
} from '../common/messages';
import { isTerminal } from '../common/states';
import { createWorkflowEnv, eventually, fakePlan, refused, type WorkflowEnv } from './helpers/workflow-env';

const SLOW_START = { timeout: 120_000 };

let w: WorkflowEnv;
before(async () => {
  w = await createWorkflowEnv('fleet-truth');
});
after(async () => w?.close());

test('a child terminated after its cutover started: NEEDS_ATTENTION, and never started again', SLOW_START, async () => {
  // The dev server: the Java test server does not tell a parent that its child was terminated.
  const w = await createWorkflowEnv('fleet-took-over', { server: 'dev' });
  try {
    w.mocks.block('cutover', { migrationId: 'took' });
    const plan = fakePlan(['alpha']);
    const parent = await w.startFleet('took', plan);
    const alpha = async () => (await parent.query(statusQuery)).databases[0];
    await eventually('cutting over', async () => ((await alpha()).state === 'CUTTING_OVER' ? 1 : undefined));
    // As an operator (or Temporal's history limit) does: the child ends with no report of its own.
    await w.env.client.workflow.getHandle('took/alpha').terminate('operator: stuck');
    const ended = await eventually('the fleet hears of it', async () => {
      const d = await alpha();
      return isTerminal(d.state) || d.state === 'FAILED' ? d : undefined;
    });
    assert.equal(ended.state, 'NEEDS_ATTENTION', `${ended.state}: ${ended.lastError}`);
    assert.match(ended.nextAction ?? '', /never retried or started again/);
    const report = await parent.result();
    assert.equal(report.needsAttention, 1);
    assert.equal(report.failed, 0);

    // Started again under the same id (the Temporal UI or CLI may): the child id's earlier run had
    // started its cutover, so nothing runs again.
    const cutovers = () => w.mocks.calls.filter((c) => c.migrationId === 'took' && c.name === 'cutover').length;
    const before = { cutovers: cutovers(), calls: w.mocks.calls.length };
    const again = await w.env.client.workflow.start(MultiDatabaseMigration, {
      taskQueue: w.taskQueue,
      workflowId: 'took',
      args: [{ plan }],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
    const second = await again.result();
    assert.equal(second.databases[0].state, 'NEEDS_ATTENTION');
    assert.match(second.databases[0].lastError ?? '', /earlier run of took\/alpha ended TERMINATED at CUTTING_OVER/);
    assert.equal(cutovers(), before.cutovers, 'no cutover ran again');
    assert.equal(w.mocks.calls.length, before.calls, 'no step ran again');
  } finally {
    await w.close();
  }
});

test(
  "a revocation the child cannot take is refused with the child's reason, whatever the fleet's view",
  SLOW_START,
  async () => {
    const release = w.mocks.hold('cutover', { migrationId: 'stale' });
    const parent = await w.startFleet('stale', fakePlan(['alpha'], { approval: { policy: 'manual', timeout: '24h' } }));
    const child = w.env.client.workflow.getHandle('stale/alpha');
    await eventually('awaiting approval', async () =>
      (await parent.query(statusQuery)).databases[0].state === 'AWAITING_APPROVAL' ? 1 : undefined,
    );
    const ack = await parent.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: 'ops' }] });
    assert.equal(ack.decision, 'approved');
    assert.ok(ack.by === 'ops');
    const cutting = await eventually('cutting over', async () => {
      const s = await child.query(databaseStatusQuery);
      return s.state === 'CUTTING_OVER' ? s : undefined;
    });
    // The fleet's view trails the child (its reports are signals): here a late report says it still
    // awaits its cutover, approved.
    await parent.signal(childSummarySignal, { ...cutting, state: 'AWAITING_APPROVAL' });
    await eventually('the fleet behind', async () =>
      (await parent.query(statusQuery)).databases[0].state === 'AWAITING_APPROVAL' ? 1 : undefined,
    );
    // The fleet does not answer for the child: the child's own refusal reaches the caller.
    await refused(
      parent.executeUpdate(revokeApprovalUpdate, { args: [{ database: 'alpha', approver: 'dba' }] }),
      /is CUTTING_OVER: an approval can be revoked only before the cutover starts/,
    );
    release();
    const report = await parent.result();
    assert.equal(report.databases[0].state, 'COMPLETED');
    assert.equal(report.databases[0].approvedBy, 'ops');
  },
);
