// The fleet (parent) with mocked activities: priority order and the concurrency limit, pause
// and resume, cancelDatabase, retryDatabase after a failure.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { cancelDatabaseUpdate, pauseUpdate, resumeUpdate, retryDatabaseUpdate } from '../common/messages';
import { getStatus } from '../client/client';
import type { FleetStatus } from '../common/status';
import { childEndedIn } from './helpers/history-events';
import { HAPPY_PATH, UNDO_BEFORE_CUTOVER, UNTIL_CDC } from './helpers/mock-activities';
import { FAST, createWorkflowEnv, eventually, fakePlan, type WorkflowEnv } from './helpers/workflow-env';

let w: WorkflowEnv;
before(async () => {
  w = await createWorkflowEnv('fleet');
});
after(async () => w?.close());

async function refused(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(
    p,
    (err: unknown) => err instanceof WorkflowUpdateFailedError && pattern.test(String((err.cause as Error).message)),
  );
}

type Handle = Awaited<ReturnType<WorkflowEnv['startFleet']>>;
const databaseIn = (handle: Handle, database: string, ok: (d: FleetStatus['databases'][number]) => boolean) =>
  eventually(`${database} in the expected state`, async () =>
    (await getStatus(w.env.client, handle.workflowId)).databases.find((d) => d.database === database && ok(d)),
  );

test('databases start in priority order, at most `concurrency` at a time', FAST, async () => {
  const id = 'order';
  for (const db of ['low', 'high', 'medium'])
    w.mocks.block('waitForReplicationReady', { migrationId: id, database: db });
  const handle = await w.startFleet(
    id,
    fakePlan(
      [
        { name: 'low', priority: 'low' },
        { name: 'high', priority: 'high' },
        { name: 'medium', priority: 'medium' },
      ],
      { concurrency: 2 },
    ),
  );
  await databaseIn(handle, 'high', (d) => d.state === 'CDC');
  await databaseIn(handle, 'medium', (d) => d.state === 'CDC');
  const status = await getStatus(w.env.client, handle.workflowId);
  assert.deepEqual(
    status.databases.map((d) => [d.database, d.state]),
    [
      ['high', 'CDC'],
      ['medium', 'CDC'],
      ['low', 'PENDING'],
    ],
  );
  assert.deepEqual(w.mocks.steps(id, 'low'), [], 'the third waits for a slot');

  await handle.executeUpdate(cancelDatabaseUpdate, { args: ['high'] });
  await databaseIn(handle, 'low', (d) => d.state === 'CDC');
  await handle.executeUpdate(cancelDatabaseUpdate, { args: ['medium'] });
  await handle.executeUpdate(cancelDatabaseUpdate, { args: ['low'] });
  const report = await handle.result();
  assert.equal(report.cancelled, 3);
});

test('pause holds new databases, cancelDatabase compensates one, resume finishes the rest', FAST, async () => {
  const id = 'controls';
  w.mocks.block('waitForReplicationReady', { migrationId: id, database: 'first' });
  w.mocks.block('waitForReplicationReady', { migrationId: id, database: 'second' });
  const plan = fakePlan(
    [
      { name: 'first', priority: 'high' },
      { name: 'second', priority: 'medium' },
    ],
    { concurrency: 1, approval: { policy: 'auto', timeout: '1h' } },
  );
  const handle = await w.startFleet(id, plan);
  // Pause only once the first database is under way; pausing earlier would (rightly) hold it back too.
  await databaseIn(handle, 'first', (d) => d.started);
  const paused = await handle.executeUpdate(pauseUpdate);
  assert.equal(paused.paused, true);
  await databaseIn(handle, 'first', (d) => d.state === 'CDC');

  await refused(handle.executeUpdate(cancelDatabaseUpdate, { args: ['nope'] }), /unknown database "nope"/);
  await refused(
    handle.executeUpdate(retryDatabaseUpdate, { args: ['first'] }),
    // The fleet knows the state it last heard of (its transitions), not every step.
    /"first" is ASSESSING; only a FAILED or CANCELLED database can be retried/,
  );
  await handle.executeUpdate(cancelDatabaseUpdate, { args: ['first'] });
  const first = await databaseIn(handle, 'first', (d) => d.state === 'CANCELLED');
  // The slot is free once the fleet has heard of first's end; an update it answers after that end
  // is in its history runs in a later workflow task, past the point where second would have started.
  await childEndedIn(handle, first.childWorkflowId);
  const answered = await handle.executeUpdate(pauseUpdate);
  for (const held of [answered, await getStatus(w.env.client, handle.workflowId)]) {
    assert.equal(held.databases[1].state, 'PENDING', 'paused: second did not start although a slot is free');
    assert.equal(held.databases[1].started, false);
  }
  assert.deepEqual(w.mocks.steps(id, 'second'), []);

  await handle.executeUpdate(resumeUpdate);
  await databaseIn(handle, 'second', (d) => d.state === 'CDC');
  await handle.executeUpdate(cancelDatabaseUpdate, { args: ['second'] });
  const report = await handle.result();
  assert.deepEqual(
    report.databases.map((d) => d.state),
    ['CANCELLED', 'CANCELLED'],
  );
  for (const db of ['first', 'second']) assert.deepEqual(w.mocks.steps(id, db), [...UNTIL_CDC, ...UNDO_BEFORE_CUTOVER]);
});

test('cancelDatabase gives up on a failed database and on one not started yet', FAST, async () => {
  const id = 'give-up';
  w.mocks.block('waitForReplicationReady', { migrationId: id, database: 'one' });
  w.mocks.fail('assessSource', { migrationId: id, database: 'two' }, 'AssessmentFailed');
  const handle = await w.startFleet(id, fakePlan(['one', 'two', 'three'], { concurrency: 1 }));
  await databaseIn(handle, 'one', (d) => d.state === 'CDC');
  await handle.executeUpdate(cancelDatabaseUpdate, { args: ['three'] });
  await refused(handle.executeUpdate(cancelDatabaseUpdate, { args: ['three'] }), /"three" is already CANCELLED/);
  await handle.executeUpdate(cancelDatabaseUpdate, { args: ['one'] });
  const two = await databaseIn(handle, 'two', (d) => d.state === 'FAILED');
  assert.match(two.lastError ?? '', /assessSource failed \(test\)/);
  const cancelled = await handle.executeUpdate(cancelDatabaseUpdate, { args: ['two'] });
  assert.match(cancelled.lastError ?? '', /^given up by an operator after: .*assessSource failed/);

  const report = await handle.result();
  assert.deepEqual(
    report.databases.map((d) => [d.database, d.state, d.lastError]),
    [
      ['one', 'CANCELLED', 'cancelled'],
      ['two', 'CANCELLED', cancelled.lastError],
      ['three', 'CANCELLED', 'cancelled before it started'],
    ],
  );
  assert.deepEqual(w.mocks.steps(id, 'three'), []);
});

test('a failed database waits for a decision; retryDatabase runs it again from the start', FAST, async () => {
  const id = 'retry';
  w.mocks.fail('waitForReplicationReady', { migrationId: id }, 'ReplicationBroken', 1);
  const handle = await w.startFleet(id, fakePlan(['ledger']));
  const ledger = await databaseIn(handle, 'ledger', (d) => d.state === 'FAILED');
  assert.match(ledger.lastError ?? '', /waitForReplicationReady failed \(test\)/);

  // The fleet does not end on a failure: it waits for an operator. An update it answers after the
  // failure is a workflow task past the point where it would have ended (a closed run answers none).
  await refused(handle.executeUpdate(retryDatabaseUpdate, { args: ['nope'] }), /unknown database "nope"/);
  assert.equal((await handle.describe()).status.name, 'RUNNING');
  const retried = await handle.executeUpdate(retryDatabaseUpdate, { args: ['ledger'] });
  assert.equal(retried.state, 'PENDING');
  const report = await handle.result();
  assert.equal(report.databases[0].state, 'COMPLETED', report.databases[0].lastError);
  assert.equal(report.databases[0].retries, 1);
  // Two runs of the same child: undone after the failure in CDC, then the whole runbook.
  const steps = w.mocks.steps(id);
  const second = steps.lastIndexOf('assessSource');
  assert.deepEqual(steps.slice(0, second), [...UNTIL_CDC, ...UNDO_BEFORE_CUTOVER]);
  assert.deepEqual(steps.slice(second), HAPPY_PATH);
});

test('past the point of no return: never retried nor cancelled, and it does not hold the fleet', FAST, async () => {
  const id = 'attention';
  w.mocks.fail('validateData', { migrationId: id, database: 'alpha', mode: 'final' }, 'TargetVerificationFailed');
  w.mocks.fail('cutover', { migrationId: id, database: 'beta' }, 'OperationFailed');
  const handle = await w.startFleet(id, fakePlan(['alpha', 'beta'], { concurrency: 2 }));
  const alpha = await databaseIn(handle, 'alpha', (d) => d.state === 'NEEDS_ATTENTION');
  assert.match(alpha.nextAction ?? '', /^check the target/);
  await refused(
    handle.executeUpdate(retryDatabaseUpdate, { args: ['alpha'] }),
    /"alpha" is NEEDS_ATTENTION: .*past the point of no return is never redone/,
  );
  await refused(handle.executeUpdate(cancelDatabaseUpdate, { args: ['alpha'] }), /"alpha" is NEEDS_ATTENTION/);
  assert.match((await getStatus(w.env.client, handle.workflowId)).databases[0].nextAction ?? '', /^check the target/);

  // A failed cutover kept the job, capacity and target for a retry; giving it up names them.
  const beta = await databaseIn(handle, 'beta', (d) => d.state === 'FAILED');
  assert.equal(beta.kept?.length, 3);
  const given = await handle.executeUpdate(cancelDatabaseUpdate, { args: ['beta'] });
  assert.match(given.nextAction ?? '', /^delete by hand what the run kept: the migration job .*; the target: /);

  const report = await handle.result();
  assert.equal(report.needsAttention, 1);
  assert.deepEqual(
    report.databases.map((d) => d.state),
    ['NEEDS_ATTENTION', 'CANCELLED'],
  );
  assert.deepEqual(w.mocks.steps(id, 'beta'), [
    ...HAPPY_PATH.slice(0, HAPPY_PATH.indexOf('cutover') + 1),
    'rollbackCutover',
  ]);
});
