// An approval and a revocation delivered in one workflow task (issue 17, problem 11) behave as their
// order says: approve then revoke is awaiting a new decision (runs from before read it as a timeout:
// "approval overdue", or with onTimeout: fail an ApprovalTimeout whose compensation deleted the
// synced target); revoke then approve is approved. Both messages are sent while no worker polls,
// so the next worker gets them in one activation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withDataPlane } from '../worker/worker';
import { DatabaseMigration } from '../workflows';
import {
  approveCutoverSignal,
  approveCutoverUpdate,
  databaseStatusQuery,
  revokeApprovalSignal,
} from '../common/messages';
import { DAYS } from '../common/cutover-window';
import { cachedWorkflowBundle } from './helpers/bundle-cache';
import { databaseInput, eventually, fakePlan, withOwnServer, type WorkflowEnv } from './helpers/workflow-env';

/** A worker of the test's own, on a queue of its own, that the test stops and starts again. */
async function ownWorker(w: WorkflowEnv, taskQueue: string): Promise<{ stop(): Promise<void> }> {
  const worker = await withDataPlane({
    connection: w.env.nativeConnection,
    taskQueue,
    workflowBundle: await cachedWorkflowBundle(),
    activities: w.mocks.activities(),
    // No sticky queue: the next worker gets the workflow's tasks at once, not after a stopped
    // worker's sticky queue times out (which the test server does not always do).
    maxCachedWorkflows: 0,
  });
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
    },
  };
}

const SLOW_START = { timeout: 120_000 }; // a server of its own, started on a loaded machine

test('approve then revoke in one activation: awaiting a new decision, nothing deleted', SLOW_START, () =>
  withOwnServer('one-activation-ar', async (w) => {
    const queue = 'one-activation-ar';
    let worker = await ownWorker(w, queue);
    const plan = fakePlan(['alpha'], { approval: { policy: 'manual', timeout: '1h', onTimeout: 'fail' } });
    const handle = await w.env.client.workflow.start(DatabaseMigration, {
      taskQueue: queue,
      workflowId: 'ar/alpha',
      args: [databaseInput('ar', plan, { policy: 'manual', timeoutMs: 3_600_000, onTimeout: 'fail' })],
    });
    await eventually('awaiting approval', async () =>
      (await handle.query(databaseStatusQuery)).state === 'AWAITING_APPROVAL' ? 1 : undefined,
    );
    await worker.stop();
    await handle.signal(approveCutoverSignal, { database: 'alpha', approver: 'ops' });
    await handle.signal(revokeApprovalSignal, { database: 'alpha', approver: 'dba', reason: 'freeze' });
    worker = await ownWorker(w, queue);
    try {
      const back = await eventually('awaiting a new decision', async () => {
        const s = await handle.query(databaseStatusQuery);
        if (s.state === 'FAILED') return s; // runs from before: ApprovalTimeout, the target deleted
        return /awaiting a new decision/.test(s.nextAction ?? '') ? s : undefined;
      });
      assert.equal(back.state, 'AWAITING_APPROVAL', `${back.state}: ${back.lastError}`);
      assert.equal(back.approvedBy, undefined);
      assert.match(back.lastError ?? '', /approval by ops revoked by dba: freeze/);
      assert.equal(back.approvalOverdueSince, undefined, 'not read as an overdue approval');
      assert.ok(!w.mocks.steps('ar').includes('deleteTarget'), 'the synced target is kept');
      // The wait goes on: a new approval cuts over.
      await handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: 'ops2' }] });
      const done = await handle.result();
      assert.equal(done.state, 'COMPLETED');
      assert.equal(done.approvedBy, 'ops2');
    } finally {
      await worker.stop();
    }
  }),
);

test('revoke then approve in one activation: approved, by the second approver', SLOW_START, () =>
  withOwnServer('one-activation-ra', async (w) => {
    const queue = 'one-activation-ra';
    let worker = await ownWorker(w, queue);
    // A window hours away holds the approved database before its cutover.
    const now = await w.env.currentTimeMs();
    const open = new Date(Math.ceil(now / 60_000) * 60_000 + 6 * 3_600_000);
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    const window = {
      days: [...DAYS],
      start: hhmm(open),
      end: hhmm(new Date(open.getTime() + 600_000)),
      timeZone: 'UTC',
    };
    const plan = fakePlan(['alpha'], { cutoverWindow: window, approval: { policy: 'manual', timeout: '24h' } });
    const input = {
      ...databaseInput('ra', plan, { policy: 'manual', timeoutMs: 24 * 3_600_000, onTimeout: 'fail' }),
      cutoverWindow: window,
    };
    const handle = await w.env.client.workflow.start(DatabaseMigration, {
      taskQueue: queue,
      workflowId: 'ra/alpha',
      args: [input],
    });
    await eventually('awaiting approval', async () =>
      (await handle.query(databaseStatusQuery)).state === 'AWAITING_APPROVAL' ? 1 : undefined,
    );
    await handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: 'ops' }] });
    await eventually('waiting for the window', async () =>
      (await handle.query(databaseStatusQuery)).state === 'APPROVED_WAITING_WINDOW' ? 1 : undefined,
    );
    await worker.stop();
    await handle.signal(revokeApprovalSignal, { database: 'alpha', approver: 'dba' });
    await handle.signal(approveCutoverSignal, { database: 'alpha', approver: 'ops2' });
    worker = await ownWorker(w, queue);
    try {
      const s = await eventually('approved again', async () => {
        const d = await handle.query(databaseStatusQuery);
        return d.approvedBy === 'ops2' && d.state === 'APPROVED_WAITING_WINDOW' ? d : undefined;
      });
      assert.match(s.lastError ?? '', /approval by ops revoked by dba/);
      assert.ok(!w.mocks.steps('ra').includes('cutover'), 'no cutover outside the window');
    } finally {
      await handle.terminate('test over');
      await worker.stop();
    }
  }),
);
