// Issue 8's workflow rules with mocked activities: decisions are final (a rejection after an
// approval is refused naming who and when; only a revocation takes it back, before the cutover);
// broken replication holds an approved cutover; a cutover that blocked nothing leaves the database
// ready and is tried again; after the cutover, reverse replication keeps a rollback open until an
// operator rolls back or finalizes, or the plan's time runs out; a migration id whose databases
// completed never redoes them, however it is started again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DatabaseMigration, MultiDatabaseMigration } from '../workflows';
import {
  approveCutoverUpdate,
  databaseStatusQuery,
  finalizeUpdate,
  rejectCutoverUpdate,
  replicationHealthSignal,
  revokeApprovalUpdate,
  rollbackUpdate,
  statusQuery,
} from '../common/messages';
import { DAYS } from '../common/cutover-window';
import { approvalProblem } from '../common/status';
import { scheduledActivities } from './helpers/history-events';
import { HAPPY_PATH } from './helpers/mock-activities';
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
  w = await createWorkflowEnv('decisions');
});
after(async () => w?.close());

/** A database run on its own (no parent), so time skipping is never held by a closed parent. */
function startAlone(env: WorkflowEnv, id: string, policy: 'manual' | 'auto', extra = {}) {
  return env.env.client.workflow.start(DatabaseMigration, {
    taskQueue: env.taskQueue,
    workflowId: `${id}/alpha`,
    args: [databaseInput(id, fakePlan(['alpha'], extra), { policy, timeoutMs: 24 * 3_600_000, onTimeout: 'fail' })],
  });
}

test('decisions are final: a rejection after an approval is refused, a revocation takes it back', FAST, () =>
  withOwnServer('final', async (w) => {
    const now = await w.env.currentTimeMs();
    const open = new Date(Math.ceil(now / 60_000) * 60_000 + 3 * 3_600_000);
    const close = new Date(open.getTime() + 10 * 60_000);
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    const window = { days: [...DAYS], start: hhmm(open), end: hhmm(close), timeZone: 'UTC' };
    const plan = fakePlan(['alpha'], { cutoverWindow: window, approval: { policy: 'manual', timeout: '24h' } });
    const handle = await w.startFleet('final', plan);
    const alpha = async () => (await handle.query(statusQuery)).databases[0];
    await eventually('awaiting approval', async () => ((await alpha()).state === 'AWAITING_APPROVAL' ? 1 : undefined));

    await refused(
      handle.executeUpdate(revokeApprovalUpdate, { args: [{ database: 'alpha', approver: 'ops' }] }),
      /"alpha" has no approval to revoke/,
    );
    await handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: 'ops' }] });
    const approved = await eventually('approved, waiting for the window', async () => {
      const d = await alpha();
      return d.state === 'APPROVED_WAITING_WINDOW' && d.approvedAt ? d : undefined;
    });
    assert.equal(approved.approvedBy, 'ops');

    // Through the parent and on the child alike: refused, naming who approved and when.
    const finalRule = new RegExp(`approved by ops at ${approved.approvedAt}, and decisions are final`);
    await refused(
      handle.executeUpdate(rejectCutoverUpdate, { args: [{ database: 'alpha', approver: 'dba', reason: 'late' }] }),
      finalRule,
    );
    const child = w.env.client.workflow.getHandle('final/alpha');
    await refused(
      child.executeUpdate(rejectCutoverUpdate, { args: [{ database: 'alpha', approver: 'dba' }] }),
      finalRule,
    );
    // A repeated approval is acknowledged as the first one.
    const again = await child.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: 'app' }] });
    assert.deepEqual(again, {
      database: 'alpha',
      accepted: true,
      decision: 'approved',
      by: 'ops',
      approvedAt: approved.approvedAt,
    });

    const revoked = await handle.executeUpdate(revokeApprovalUpdate, {
      args: [{ database: 'alpha', approver: 'dba', reason: 'freeze' }],
    });
    assert.equal(revoked.decision, 'revoked');
    const back = await eventually('awaiting a decision again', async () => {
      const d = await alpha();
      return d.state === 'AWAITING_APPROVAL' && !d.approvedBy ? d : undefined;
    });
    assert.match(back.lastError ?? '', /approval by ops revoked by dba: freeze/);
    assert.ok(!w.mocks.steps('final').includes('cutover'), 'no cutover after a revocation');

    await handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: 'ops2' }] });
    const report = await handle.result();
    assert.equal(report.databases[0].state, 'COMPLETED');
    assert.equal(report.databases[0].approvedBy, 'ops2');
    const cutover = w.mocks.calls.find((c) => c.migrationId === 'final' && c.name === 'cutover')!;
    assert.ok(cutover.at >= open.getTime() && cutover.at < close.getTime(), 'cut over inside the window');
    assert.deepEqual(w.mocks.steps('final'), HAPPY_PATH);
    // Once the cutover has started, too late to revoke (the rule the validators share).
    for (const state of ['CUTTING_OVER', 'COMPLETED'] as const)
      assert.match(
        approvalProblem(
          { database: 'alpha', approver: 'ops' },
          () => ({ state, approvedBy: 'ops2' }),
          ['alpha'],
          'revoke',
        ) ?? '',
        /an approval can be revoked only before the cutover starts/,
      );
  }),
);

test('broken replication holds an approved cutover until it is healthy again', FAST, async () => {
  const handle = await startAlone(w, 'held', 'manual');
  await eventually('awaiting approval', async () =>
    (await handle.query(databaseStatusQuery)).state === 'AWAITING_APPROVAL' ? 1 : undefined,
  );
  const problem = 'the target fails to apply changes: column "note" of relation "items" does not exist';
  await handle.signal(replicationHealthSignal, { ok: false, problem, at: '2026-11-22T07:00:00.000Z' });
  const broken = await eventually('the break in the status', async () => {
    const s = await handle.query(databaseStatusQuery);
    return s.replication ? s : undefined;
  });
  assert.equal(broken.replication, `broken since 2026-11-22T07:00:00.000Z: ${problem}`);

  await handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: 'ops' }] });
  const held = await eventually('held', async () => {
    const s = await handle.query(databaseStatusQuery);
    return /waits until replication is healthy again/.test(s.nextAction ?? '') ? s : undefined;
  });
  assert.equal(held.state, 'AWAITING_APPROVAL');
  // A later signal, seen in the status, is a workflow task after the approval's: had the approval
  // started the cutover, it would be scheduled in the history by then.
  const still = 'the target still fails to apply changes';
  await handle.signal(replicationHealthSignal, { ok: false, problem: still, at: '2026-11-22T07:00:30.000Z' });
  await eventually('the second report in the status', async () =>
    (await handle.query(databaseStatusQuery)).replication?.includes(still) ? 1 : undefined,
  );
  assert.ok(!(await scheduledActivities(handle)).includes('cutover'), 'no cutover while replication is broken');
  assert.ok(!w.mocks.steps('held').includes('cutover'), 'no cutover while replication is broken');

  await handle.signal(replicationHealthSignal, { ok: true, at: '2026-11-22T07:01:00.000Z' });
  const done = await handle.result();
  assert.equal(done.state, 'COMPLETED');
  assert.equal(done.replication, undefined);
  assert.deepEqual(w.mocks.steps('held'), HAPPY_PATH);
  assert.ok(w.mocks.watches('held') >= 1, 'the watcher ran');
});

test('a cutover that blocked nothing keeps the database ready and is tried again', FAST, () =>
  withOwnServer('gate', async (w) => {
    w.mocks.fail('cutover', { migrationId: 'gate' }, 'CutoverNotReady', 1);
    const handle = await startAlone(w, 'gate', 'auto');
    const waiting = await eventually('the reason, while ready', async () => {
      const s = await handle.query(databaseStatusQuery);
      return /did not start and nothing was blocked/.test(s.nextAction ?? '') ? s : undefined;
    });
    assert.equal(waiting.state, 'AWAITING_APPROVAL');
    assert.match(waiting.lastError ?? '', /cutover failed \(test\)/);
    assert.match(waiting.nextAction ?? '', /Holding: the target stays synced .* \(attempt 2\)/);

    const done = await handle.result();
    assert.equal(done.state, 'COMPLETED');
    const cutovers = w.mocks.calls.filter((c) => c.migrationId === 'gate' && c.name === 'cutover');
    assert.equal(cutovers.length, 2);
    assert.ok(cutovers[1].at - cutovers[0].at >= 30_000, 'tried again after 30 s');
    // Nothing was undone in between: no undo step ran at all.
    assert.deepEqual(
      w.mocks.steps('gate').filter((s) => !HAPPY_PATH.includes(s)),
      [],
    );
  }),
);

test('after the cutover a rollback gives the source back; then no second rollback or finalize', FAST, async () => {
  w.mocks.reverse.add('back');
  const handle = await startAlone(w, 'back', 'auto');
  const completed = await eventually('completed, rollback open', async () => {
    const s = await handle.query(databaseStatusQuery);
    return s.state === 'COMPLETED' && s.rollbackUntil ? s : undefined;
  });
  assert.match(completed.nextAction ?? '', /dbmig rollback back alpha.*dbmig finalize back alpha/);
  await refused(
    handle.executeUpdate(rollbackUpdate, { args: [{ database: 'alpha', by: ' ' }] }),
    /rollback needs \{ database, by \}/,
  );
  const rolled = await handle.executeUpdate(rollbackUpdate, {
    args: [{ database: 'alpha', by: 'sre', reason: 'p99' }],
  });
  assert.equal(rolled.state, 'ROLLED_BACK');
  assert.equal(rolled.writeBlockMs, 37);
  assert.match(rolled.nextAction ?? '', /the source takes the writes again/);
  assert.equal((await handle.result()).state, 'ROLLED_BACK');
  // COMPLETED with a rollback possible: reverse replication is watched until the rollback.
  assert.deepEqual(w.mocks.steps('back'), [...HAPPY_PATH, 'watchReverseReplication', 'rollbackAfterCutover']);
  // Its run has ended: the client library says so (test/client.test.ts); the server refuses the Update.
  await assert.rejects(handle.executeUpdate(finalizeUpdate, { args: [{ database: 'alpha', by: 'sre' }] }));
});

test('finalize ends the rollback path; without it, the plan time runs out and finalizes', FAST, () =>
  withOwnServer('finalize', async (w) => {
    w.mocks.reverse.add('fin');
    w.mocks.reverse.add('timed');
    const byHand = await startAlone(w, 'fin', 'auto');
    await eventually('completed', async () =>
      (await byHand.query(databaseStatusQuery)).rollbackUntil ? 1 : undefined,
    );
    const fin = await byHand.executeUpdate(finalizeUpdate, { args: [{ database: 'alpha', by: 'owner' }] });
    assert.equal(fin.state, 'FINALIZED');
    assert.equal(fin.rollbackUntil, undefined);
    assert.deepEqual(w.mocks.steps('fin'), [...HAPPY_PATH, 'watchReverseReplication', 'finalizeCutover']);

    const timed = await startAlone(w, 'timed', 'auto', { cutover: { reverseReplicationFor: '2h' } });
    const done = await timed.result();
    assert.equal(done.state, 'FINALIZED');
    const calls = w.mocks.calls.filter((c) => c.migrationId === 'timed');
    const released = calls.find((c) => c.name === 'releaseCapacity')!;
    const finalized = calls.find((c) => c.name === 'finalizeCutover')!;
    const waited = finalized.at - released.at;
    assert.ok(waited >= 2 * 3_600_000 && waited < 2 * 3_600_000 + 60_000, `finalized after 2 h, not ${waited} ms`);
  }),
);

test(
  'starting a finished migration id again redoes nothing, even with a reuse policy that allows it',
  FAST,
  async () => {
    const plan = fakePlan(['alpha', 'beta']);
    const first = await w.startFleet('again', plan);
    assert.equal((await first.result()).completed, 2);
    const before = w.mocks.calls.length;
    // As the Temporal UI or CLI may start it: the server's default reuse policy allows a closed id.
    const second = await w.env.client.workflow.start(MultiDatabaseMigration, {
      taskQueue: w.taskQueue,
      workflowId: 'again',
      args: [{ plan }],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
    const report = await second.result();
    assert.deepEqual(
      report.databases.map((d) => [d.database, d.state]),
      [
        ['alpha', 'NEEDS_ATTENTION'],
        ['beta', 'NEEDS_ATTENTION'],
      ],
    );
    assert.match(
      report.databases[0].lastError ?? '',
      /not started again: an earlier run of again\/alpha ended COMPLETED/,
    );
    assert.match(report.databases[0].nextAction ?? '', /nothing was changed/);
    assert.equal(w.mocks.calls.length, before, 'no step ran again');
  },
);

test('a cutover that fails past its point of no return is resumed, never undone', FAST, () =>
  withOwnServer('resume', async (w) => {
    // Three failed attempts are the activity's retry policy; the runbook then resumes it after 30 s.
    w.mocks.fail('cutover', { migrationId: 'resume' }, 'CutoverIncomplete', 3);
    const handle = await startAlone(w, 'resume', 'auto');
    const resuming = await eventually('resuming', async () => {
      const s = await handle.query(databaseStatusQuery);
      return /passed its point of no return .* resuming it in 30\.0s/.test(s.nextAction ?? '') ? s : undefined;
    });
    assert.equal(resuming.state, 'CUTTING_OVER');
    const done = await handle.result();
    assert.equal(done.state, 'COMPLETED');
    assert.equal(w.mocks.calls.filter((c) => c.migrationId === 'resume' && c.name === 'cutover').length, 4);
    const once = w.mocks.steps('resume').filter((step, i, all) => all.indexOf(step) === i || step !== 'cutover');
    assert.deepEqual(once, HAPPY_PATH, 'nothing undone, nothing reopened');
  }),
);

test('cancelled while resuming past the point of no return: NEEDS_ATTENTION, never FAILED', FAST, async () => {
  w.mocks.fail('cutover', { migrationId: 'stuck' }, 'CutoverIncomplete');
  w.mocks.pastPointOfNoReturn.add('stuck');
  const handle = await startAlone(w, 'stuck', 'auto');
  await eventually('resuming', async () =>
    /resuming it in/.test((await handle.query(databaseStatusQuery)).nextAction ?? '') ? 1 : undefined,
  );
  await handle.cancel();
  // It completes, with its summary: a failed run's id may be started again, a completed one never.
  const s = await handle.result();
  assert.equal(s.state, 'NEEDS_ATTENTION');
  assert.equal((await handle.describe()).status.name, 'COMPLETED');
  assert.match(s.nextAction ?? '', /passed its point of no return .* Nothing reopened the source/);
  const steps = w.mocks.steps('stuck');
  assert.equal(steps.at(-1), 'rollbackCutover', 'only the source step ran, and it found the point passed');
  assert.ok(!steps.includes('deleteTarget') && !steps.includes('deleteMigrationJob'), steps.join(', '));
});
