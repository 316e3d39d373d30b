// The per-database runbook with mocked activities: the happy path's step order, compensation in
// reverse order of what was done (and nothing that was not), what each phase may undo (nothing
// past the point of no return), and the retry policies.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DatabaseMigration } from '../workflows';
import { databaseStatusQuery } from '../common/messages';
import { MIGRATION_STATE } from '../common/search-attributes';
import type { FailureType } from '../common/failures';
import type { MigrationState } from '../common/states';
import { HAPPY_PATH, UNDO_BEFORE_CUTOVER, UNTIL_CDC, type StepName } from './helpers/mock-activities';
import { FAST, createWorkflowEnv, databaseInput, eventually, fakePlan, type WorkflowEnv } from './helpers/workflow-env';
import { recordHistory } from './helpers/histories';

let w: WorkflowEnv;
before(async () => {
  w = await createWorkflowEnv('runbook');
});
after(async () => w?.close());

/** One database run on its own, as the parent would start it, approved by policy. */
const childInput = (migrationId: string) =>
  databaseInput(migrationId, fakePlan(['alpha']), { policy: 'auto', timeoutMs: 60_000, onTimeout: 'fail' });

/** The ApplicationFailure in a failure's cause chain (an activity's failure arrives wrapped). */
function applicationFailure(err: unknown): ApplicationFailure | undefined {
  for (let e = err; e; e = (e as Error).cause) if (e instanceof ApplicationFailure) return e;
  return undefined;
}

const start = (migrationId: string) =>
  w.env.client.workflow.start(DatabaseMigration, {
    taskQueue: w.taskQueue,
    workflowId: `${migrationId}/alpha`,
    args: [childInput(migrationId)],
  });

/** Every activity the run scheduled, from its history: what a test must not see is not even tried. */
async function scheduled(migrationId: string): Promise<string[]> {
  const history = await w.env.client.workflow.getHandle(`${migrationId}/alpha`).fetchHistory();
  return (history.events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
}

const UNDO_STEPS = ['rollbackCutover', 'stopMigrationJob', 'deleteTarget'];

async function failedRun(migrationId: string, state: MigrationState = 'FAILED'): Promise<ApplicationFailure> {
  const handle = await start(migrationId);
  let cause: ApplicationFailure | undefined;
  await assert.rejects(handle.result(), (err: unknown) => {
    assert.ok(err instanceof WorkflowFailedError);
    cause = applicationFailure(err);
    return true;
  });
  assert.equal((await handle.query(databaseStatusQuery)).state, state);
  return cause!;
}

test('the happy path runs every step once, in the runbook order', FAST, async () => {
  const handle = await w.startFleet('happy', fakePlan(['alpha']));
  const report = await handle.result();
  assert.deepEqual(w.mocks.steps('happy'), HAPPY_PATH);
  const [alpha] = report.databases;
  assert.equal(report.completed, 1);
  assert.equal(alpha.state, 'COMPLETED');
  assert.equal(alpha.approvedBy, 'policy:auto');
  assert.equal(alpha.writeBlockMs, 42);
  assert.equal(alpha.validation, '1 table(s) match (final)');
  assert.ok(alpha.startedAt && alpha.finishedAt);
  const child = await w.env.client.workflow.getHandle('happy/alpha').describe();
  assert.equal(child.status.name, 'COMPLETED');
  assert.equal(child.typedSearchAttributes.get(MIGRATION_STATE), 'COMPLETED');
  // What the Temporal UI shows: the child's summary and its current details.
  assert.equal(await child.staticSummary(), 'alpha: postgresql → cloudsql fleet-target (priority medium, 10 GB)');
  const metadata = await w.env.client.workflow
    .getHandle('happy/alpha')
    .query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  assert.match(metadata.currentDetails ?? '', /\*\*alpha\*\*: `COMPLETED`/);
});

// Where the run fails, and what must be undone: each undo was registered just before its step
// ran (a step may fail half-way), and they run in reverse order.
const UNDO_CASES: [StepName, FailureType, string[]][] = [
  ['assessSource', 'AssessmentFailed', []],
  ['provisionTarget', 'AlreadyExistsMismatch', ['deleteTarget']],
  ['reserveCapacity', 'PermissionDenied', ['releaseCapacity', 'deleteTarget']],
  ['createMigrationJob', 'InvalidArgument', UNDO_BEFORE_CUTOVER],
  ['waitForReplicationReady', 'ReplicationBroken', UNDO_BEFORE_CUTOVER],
  // While the source is blocked: only the source is restored (see the test below).
  ['cutover', 'OperationFailed', ['rollbackCutover']],
];

for (const [step, type, undone] of UNDO_CASES) {
  test(`${step} failing with ${type} undoes what was done, in reverse order`, FAST, async () => {
    const id = `undo-${step}`;
    w.mocks.fail(step, { migrationId: id }, type);
    const cause = await failedRun(id);
    assert.equal(cause.type, type);
    const done = HAPPY_PATH.slice(0, HAPPY_PATH.indexOf(step) + 1);
    assert.deepEqual(w.mocks.steps(id), [...done, ...undone], 'non-retryable: one attempt, then the undos');
  });
}

test('a failing undo step does not stop the others', FAST, async () => {
  const id = 'undo-fails';
  w.mocks.fail('validateData', { migrationId: id }, 'ValidationFailed');
  w.mocks.fail('stopMigrationJob', { migrationId: id }, 'PermissionDenied');
  const cause = await failedRun(id);
  assert.equal(cause.type, 'ValidationFailed');
  assert.deepEqual(w.mocks.steps(id).slice(HAPPY_PATH.indexOf('validateData:live') + 1), UNDO_BEFORE_CUTOVER);
});

// docs/architecture.md, The runbook of one database: after the point of no return (the target has
// taken writes) a failure undoes nothing automatically; the database needs attention, and its next
// action names what is left.
const AFTER_CUTOVER: [string, StepName, FailureType, 'final' | undefined, RegExp][] = [
  ['the final validation', 'validateData', 'TargetVerificationFailed', 'final', /migration job .*capacity reservation/],
  ['the clean-up', 'deleteMigrationJob', 'PermissionDenied', undefined, /migration job .*capacity reservation/],
  ['releasing capacity', 'releaseCapacity', 'PermissionDenied', undefined, /delete the capacity reservation/],
];

for (const [what, step, type, mode, left] of AFTER_CUTOVER) {
  test(`after the cutover, a failure in ${what} undoes nothing: NEEDS_ATTENTION`, FAST, async () => {
    const id = `after-cutover-${step}`;
    w.mocks.fail(step, { migrationId: id, ...(mode ? { mode } : {}) }, type);
    // NEEDS_ATTENTION completes, with its summary (so no parent can run it again); the step's
    // failure is in the history.
    const done = await start(id).then((h) => h.result());
    assert.equal(done.state, 'NEEDS_ATTENTION');
    const { events } = await w.env.client.workflow.getHandle(`${id}/alpha`).fetchHistory();
    const failedTypes = (events ?? []).flatMap(
      (e) => e.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo?.type ?? [],
    );
    assert.ok(failedTypes.includes(type), failedTypes.join(', '));
    const failedAt = HAPPY_PATH.indexOf(mode ? `${step}:${mode}` : step);
    assert.deepEqual(w.mocks.steps(id), HAPPY_PATH.slice(0, failedAt + 1), 'no step after the failure');
    const tried = await scheduled(id);
    assert.deepEqual(
      UNDO_STEPS.filter((u) => tried.includes(u)),
      [],
      'no undo scheduled at all',
    );
    const handle = w.env.client.workflow.getHandle(`${id}/alpha`);
    const s = await handle.query(databaseStatusQuery);
    assert.match(s.lastError ?? '', /failed \(test\)/);
    assert.match(
      s.nextAction ?? '',
      /^check the target \(database alpha on cloudsql fleet-target\): it has taken over/,
    );
    assert.match(s.nextAction ?? '', left);
    assert.doesNotMatch(s.nextAction ?? '', /the target: database/, 'the target is not something to delete');
    assert.equal((await handle.describe()).typedSearchAttributes.get(MIGRATION_STATE), 'NEEDS_ATTENTION');
  });
}

test('a cancel during VERIFYING_TARGET keeps the target: nothing is undone, NEEDS_ATTENTION', FAST, async () => {
  const id = 'cancel-verifying-target';
  w.mocks.block('validateData', { migrationId: id, mode: 'final' });
  const handle = await start(id);
  await eventually('the final validation running', async () =>
    w.mocks.steps(id).includes('validateData:final') ? true : undefined,
  );
  assert.equal((await handle.query(databaseStatusQuery)).state, 'VERIFYING_TARGET');
  await handle.cancel();
  const s = await handle.result(); // NEEDS_ATTENTION completes, with its summary
  assert.equal(s.state, 'NEEDS_ATTENTION');
  assert.equal(s.lastError, 'cancelled');
  assert.match(s.nextAction ?? '', /check the target/);
  assert.deepEqual(w.mocks.steps(id), HAPPY_PATH.slice(0, HAPPY_PATH.indexOf('validateData:final') + 1));
  const tried = await scheduled(id);
  assert.deepEqual(
    UNDO_STEPS.filter((u) => tried.includes(u)),
    [],
  );
  // Replay fixture: a cancel past the point of no return, which undoes nothing.
  await recordHistory(w.env.client, `${id}/alpha`);
});

test('a failed cutover restores only the source and keeps the job, capacity and target for a retry', FAST, async () => {
  const id = 'failed-cutover';
  w.mocks.fail('cutover', { migrationId: id }, 'OperationFailed');
  await failedRun(id);
  assert.deepEqual(w.mocks.steps(id), [...HAPPY_PATH.slice(0, HAPPY_PATH.indexOf('cutover') + 1), 'rollbackCutover']);
  const s = await w.env.client.workflow.getHandle(`${id}/alpha`).query(databaseStatusQuery);
  assert.equal(s.kept?.length, 3, s.kept?.join('; '));
  assert.match(s.nextAction ?? '', /^the source takes writes again; the target was not touched/);
  assert.match(s.nextAction ?? '', /`dbmig retry failed-cutover alpha`/);
  assert.match(s.nextAction ?? '', /`dbmig cancel failed-cutover alpha`, then delete by hand: the migration job/);
  // Replay fixture: a cutover that failed while the source was blocked: only the source restored.
  await recordHistory(w.env.client, `${id}/alpha`);
});

test('COMPENSATING is visible while the undos run', FAST, async () => {
  const id = 'compensating';
  w.mocks.fail('waitForReplicationReady', { migrationId: id }, 'ReplicationBroken');
  const release = w.mocks.hold('stopMigrationJob', { migrationId: id });
  const handle = await start(id);
  try {
    const s = await eventually('COMPENSATING', async () => {
      const q = await handle.query(databaseStatusQuery);
      return q.state === 'COMPENSATING' ? q : undefined;
    });
    assert.match(s.lastError ?? '', /waitForReplicationReady failed \(test\)/);
    assert.equal((await handle.describe()).typedSearchAttributes.get(MIGRATION_STATE), 'COMPENSATING');
  } finally {
    release();
  }
  await assert.rejects(handle.result(), WorkflowFailedError);
  assert.equal((await handle.query(databaseStatusQuery)).state, 'FAILED');
  assert.deepEqual(w.mocks.steps(id), [...UNTIL_CDC, ...UNDO_BEFORE_CUTOVER]);
});

test('a retryable failure is retried after its backoff, then the run goes on', FAST, async () => {
  const id = 'retry';
  w.mocks.fail('reserveCapacity', { migrationId: id }, 'CapacityUnavailable', 1);
  w.mocks.fail('verifyMigrationJob', { migrationId: id }, 'Error', 1);
  const handle = await w.env.client.workflow.start(DatabaseMigration, {
    taskQueue: w.taskQueue,
    workflowId: `${id}/alpha`,
    args: [childInput(id)],
  });
  assert.equal((await handle.result()).state, 'COMPLETED');
  // The capacity policy waits 2 s before its first retry, the quick steps' policy 1 s.
  for (const [step, backoff] of [
    ['reserveCapacity', 2000],
    ['verifyMigrationJob', 1000],
  ] as const) {
    const attempts = w.mocks.calls.filter((c) => c.migrationId === id && c.name === step);
    assert.deepEqual(
      attempts.map((c) => c.attempt),
      [1, 2],
      step,
    );
    assert.ok(
      attempts[1].at - attempts[0].at >= backoff,
      `${step} retried after ${attempts[1].at - attempts[0].at} ms`,
    );
  }
  const once = w.mocks.steps(id).filter((s) => s !== 'reserveCapacity' && s !== 'verifyMigrationJob');
  assert.deepEqual(
    once,
    HAPPY_PATH.filter((s) => s !== 'reserveCapacity' && s !== 'verifyMigrationJob'),
  );
});

// The Java test server does not skip retry backoff (it holds its clock while an activity is
// pending, retries included), so running a step into its attempt limit would take real
// minutes. The limits are checked where the server enforces them: in the scheduled policies.
test('each kind of step is scheduled with its retry policy', FAST, async () => {
  const handle = await w.env.client.workflow.start(DatabaseMigration, {
    taskQueue: w.taskQueue,
    workflowId: 'policies/alpha',
    args: [childInput('policies')],
  });
  await handle.result();
  const history = await handle.fetchHistory();
  const policies = new Map<string, { maximumAttempts: number; nonRetryable: string[] }>();
  for (const e of history.events ?? []) {
    const a = e.activityTaskScheduledEventAttributes;
    if (!a) continue;
    policies.set(a.activityType!.name!, {
      maximumAttempts: a.retryPolicy?.maximumAttempts ?? 0,
      nonRetryable: a.retryPolicy?.nonRetryableErrorTypes ?? [],
    });
  }
  assert.equal(policies.get('verifyMigrationJob')?.maximumAttempts, 8, 'quick steps give up after 8 attempts');
  assert.equal(policies.get('releaseCapacity')?.maximumAttempts, 20, 'clean-up steps try harder');
  assert.equal(policies.get('waitForReplicationReady')?.maximumAttempts, 0, 'waits retry without limit');
  for (const [step, p] of policies) {
    assert.ok(p.nonRetryable.includes('ValidationFailed'), `${step}: a permanent failure is not retried`);
    assert.ok(!p.nonRetryable.includes('CapacityUnavailable'), `${step}: missing capacity is retried`);
  }
});
