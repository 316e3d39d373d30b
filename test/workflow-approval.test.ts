// Approvals with mocked activities: the validators refuse an unknown database, a database that
// is not awaiting approval and an empty approver, on the parent and on the child alike; a
// rejection, an approval timeout (24 h, time-skipped) and a cutover window each do what the
// runbook says, without real waiting.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { DatabaseMigration } from '../workflows';
import { approveCutoverUpdate, databaseStatusQuery, rejectCutoverUpdate, statusQuery } from '../common/messages';
import { DAYS } from '../common/cutover-window';
import { UNDO_BEFORE_CUTOVER } from './helpers/mock-activities';
import { approveBetaBySignal } from './helpers/approval-scenario';
import {
  FAST,
  createWorkflowEnv,
  databaseInput,
  eventually,
  fakePlan,
  refused,
  withOwnServer,
  type WorkflowEnv,
} from './helpers/workflow-env';

let w: WorkflowEnv;
before(async () => {
  w = await createWorkflowEnv('approval');
});
after(async () => w?.close());

test('bad approvals are rejected by the validators; reject and approve end each database', FAST, async () => {
  const plan = fakePlan(
    [
      { name: 'alpha', priority: 'high' },
      { name: 'beta', priority: 'low' },
    ],
    { concurrency: 1, migrationId: 'appr', approval: { policy: 'manual', timeout: '1h' } },
  );
  const handle = await w.startFleet('appr', plan);
  await eventually('alpha awaiting approval', async () =>
    (await handle.query(statusQuery)).databases.find((d) => d.database === 'alpha' && d.state === 'AWAITING_APPROVAL'),
  );

  await refused(
    handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'gamma', approver: 'ops' }] }),
    /unknown database "gamma"; this migration has: alpha, beta/,
  );
  await refused(
    handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'beta', approver: 'ops' }] }),
    /"beta" is PENDING, not AWAITING_APPROVAL/,
  );
  await refused(
    handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: '  ' }] }),
    /approver must be a non-empty name/,
  );
  const child = w.env.client.workflow.getHandle('appr/alpha');
  await refused(
    child.executeUpdate(approveCutoverUpdate, { args: [{ database: 'beta', approver: 'ops' }] }),
    /unknown database "beta"/,
  );
  await refused(
    child.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: '' }] }),
    /approver must be a non-empty name/,
  );
  // A refused update leaves no trace: alpha still waits.
  assert.equal((await handle.query(statusQuery)).databases[0].state, 'AWAITING_APPROVAL');
  assert.ok(!w.mocks.steps('appr', 'alpha').includes('cutover'));

  const ack = await handle.executeUpdate(rejectCutoverUpdate, {
    args: [{ database: 'alpha', approver: 'dba-on-call', reason: 'freeze week' }],
  });
  assert.deepEqual(ack, { database: 'alpha', accepted: true, decision: 'rejected', by: 'dba-on-call' });

  await approveBetaBySignal(w.env.client, handle, () =>
    refused(
      handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: 'ops' }] }),
      /"alpha" is CANCELLED/,
    ),
  );
  // The rejected database never cut over and undid everything it had set up.
  assert.deepEqual(w.mocks.steps('appr', 'alpha').slice(-5), ['validateData:live', ...UNDO_BEFORE_CUTOVER]);
  assert.ok(w.mocks.steps('appr', 'beta').includes('cutover'));
});

test('an approval that never comes times out with a clear reason', FAST, () =>
  withOwnServer('timeout', async (w) => {
    const handle = await w.env.client.workflow.start(DatabaseMigration, {
      taskQueue: w.taskQueue,
      workflowId: 'solo/alpha',
      args: [
        databaseInput('solo', fakePlan(['alpha']), { policy: 'manual', timeoutMs: 24 * 3_600_000, onTimeout: 'fail' }),
      ],
    });
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(String((err.cause as Error).message), /no cutover approval within/);
      return true;
    });
    assert.equal((await handle.query(databaseStatusQuery)).state, 'FAILED');
    const calls = w.mocks.calls.filter((c) => c.migrationId === 'solo');
    const validated = calls.find((c) => c.mode === 'live')!;
    const firstUndo = calls.find((c) => c.name === 'stopMigrationJob')!;
    const waited = firstUndo.at - validated.at;
    assert.ok(waited >= 24 * 3_600_000 && waited < 24 * 3_600_000 + 60_000, `timed out after 24 h, not ${waited} ms`);
    assert.deepEqual(w.mocks.steps('solo').slice(-4), UNDO_BEFORE_CUTOVER);
  }),
);

test('an approval outside the cutover window is accepted; the cutover waits for the window', FAST, () =>
  withOwnServer('window', async (w) => {
    // A window that opens three hours from now on the server's clock, which time skipping moves.
    const now = await w.env.currentTimeMs();
    const open = new Date(Math.ceil(now / 60_000) * 60_000 + 3 * 3_600_000);
    const close = new Date(open.getTime() + 10 * 60_000);
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    const window = { days: [...DAYS], start: hhmm(open), end: hhmm(close), timeZone: 'UTC' };
    const plan = fakePlan(['alpha'], { cutoverWindow: window, approval: { policy: 'manual', timeout: '24h' } });
    const handle = await w.startFleet('window', plan);
    await eventually('awaiting approval', async () =>
      (await handle.query(statusQuery)).databases.find((d) => d.state === 'AWAITING_APPROVAL'),
    );
    await handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: 'ops' }] });
    const waiting = await eventually('waiting for the window', async () =>
      (await handle.query(statusQuery)).databases.find((d) => /waits for the window/.test(d.nextAction ?? '')),
    );
    assert.equal(waiting.state, 'APPROVED_WAITING_WINDOW');
    assert.equal(waiting.approvedBy, 'ops');
    assert.ok(!w.mocks.steps('window').includes('cutover'), 'no cutover before the window');

    const report = await handle.result();
    assert.equal(report.databases[0].state, 'COMPLETED');
    const cutover = w.mocks.calls.find((c) => c.migrationId === 'window' && c.name === 'cutover')!;
    assert.ok(
      cutover.at >= open.getTime() && cutover.at < close.getTime(),
      `cut over at ${new Date(cutover.at).toISOString()}, window ${open.toISOString()}-${close.toISOString()}`,
    );
  }),
);
