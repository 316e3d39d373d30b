// What the mocks could not show before they could fail and be slow (issue 17, Deliver 13): an undo
// that fails during compensation, a cancel while the cutover runs, and the replication watcher's
// last report racing the cutover.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DatabaseMigration } from '../workflows';
import { approveCutoverUpdate, databaseStatusQuery } from '../common/messages';
import { databaseInput, eventually, fakePlan, type WorkflowEnv, createWorkflowEnv } from './helpers/workflow-env';

const SLOW_START = { timeout: 120_000 };

let w: WorkflowEnv;
before(async () => {
  w = await createWorkflowEnv('mock-failures');
});
after(async () => w?.close());

const start = (id: string, policy: 'auto' | 'manual' = 'auto') =>
  w.env.client.workflow.start(DatabaseMigration, {
    taskQueue: w.taskQueue,
    workflowId: `${id}/alpha`,
    args: [databaseInput(id, fakePlan(['alpha']), { policy, timeoutMs: 24 * 3_600_000, onTimeout: 'fail' })],
  });

test(
  'an undo that fails while the source is restored: FAILED, saying to check the source, nothing deleted',
  SLOW_START,
  async () => {
    w.mocks.fail('cutover', { migrationId: 'undo' }, 'OperationFailed', 1);
    w.mocks.fail('rollbackCutover', { migrationId: 'undo' }, 'Error', 1, { nonRetryable: true });
    const handle = await start('undo');
    await assert.rejects(handle.result());
    const s = await handle.query(databaseStatusQuery);
    assert.equal(s.state, 'FAILED');
    assert.match(s.lastError ?? '', /restoring the source failed too: check it takes writes/);
    assert.match(s.nextAction ?? '', /restoring the source FAILED: check that the source takes writes/);
    const steps = w.mocks.steps('undo');
    assert.equal(steps.filter((x) => x === 'rollbackCutover').length, 1);
    assert.ok(!steps.includes('deleteTarget'), 'the target is kept for a retry');
  },
);

test('an undo that fails before the cutover: the other undos still run', SLOW_START, async () => {
  w.mocks.fail('validateData', { migrationId: 'undo2', mode: 'live' }, 'ValidationFailed', 1);
  w.mocks.fail('releaseCapacity', { migrationId: 'undo2' }, 'Error', 1, { nonRetryable: true });
  const handle = await start('undo2');
  await assert.rejects(handle.result());
  assert.equal((await handle.query(databaseStatusQuery)).state, 'FAILED');
  const undone = w.mocks.steps('undo2').slice(w.mocks.steps('undo2').indexOf('validateData:live') + 1);
  assert.deepEqual(undone, ['stopMigrationJob', 'deleteMigrationJob', 'releaseCapacity', 'deleteTarget']);
});

test(
  'cancelled during CUTTING_OVER: the cutover attempt ends first, then only the source is restored',
  SLOW_START,
  async () => {
    w.mocks.slowToStop('cutover', { migrationId: 'cut' }, 1_500);
    const handle = await start('cut');
    await eventually('cutting over', async () =>
      (await handle.query(databaseStatusQuery)).state === 'CUTTING_OVER' ? 1 : undefined,
    );
    await handle.cancel();
    await assert.rejects(handle.result());
    const s = await handle.query(databaseStatusQuery);
    assert.equal(s.state, 'CANCELLED');
    assert.match(s.nextAction ?? '', /the source takes writes again/);
    const steps = w.mocks.steps('cut');
    assert.equal(steps.at(-1), 'rollbackCutover');
    assert.ok(!steps.includes('deleteTarget') && !steps.includes('stopMigrationJob'), steps.join(', '));
    // The undo began only once the cancelled cutover had stopped (it took 1.5 s more to stop).
    const stopped = w.mocks.cancelled.find((c) => c.migrationId === 'cut' && c.name === 'cutover');
    const undo = w.mocks.calls.find((c) => c.migrationId === 'cut' && c.name === 'rollbackCutover')!;
    assert.ok(stopped, 'the cutover was cancelled');
    assert.ok(undo.at >= stopped.at, `undo at ${undo.at}, cutover stopped at ${stopped.at}`);
  },
);

test("the watcher's last report, landing while the cutover runs, changes nothing", SLOW_START, async () => {
  w.mocks.slowToStop('watchReplication', { migrationId: 'race' }, 1_000, {
    ok: false,
    problem: 'apply failed (a last poll)',
    at: new Date().toISOString(),
  });
  const release = w.mocks.hold('cutover', { migrationId: 'race' });
  const handle = await start('race', 'manual');
  await eventually('awaiting approval', async () =>
    (await handle.query(databaseStatusQuery)).state === 'AWAITING_APPROVAL' ? 1 : undefined,
  );
  await handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: 'ops' }] });
  await eventually('the watcher stopped, its report in', async () =>
    w.mocks.cancelled.some((c) => c.migrationId === 'race' && c.name === 'watchReplication') ? 1 : undefined,
  );
  const during = await handle.query(databaseStatusQuery);
  assert.equal(during.state, 'CUTTING_OVER');
  assert.equal(during.replication, undefined, 'a report during the cutover is not a break');
  release();
  const done = await handle.result();
  assert.equal(done.state, 'COMPLETED');
  assert.equal(done.replication, undefined);
});
