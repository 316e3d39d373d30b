// An invalid plan fails the fleet workflow non-retryably with an InvalidPlan error naming the
// field, before any activity or child is scheduled.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { InvalidPlanError, validatePlan } from '../common/plan';
import { FAST, createWorkflowEnv, fakePlan, type WorkflowEnv } from './helpers/workflow-env';

let w: WorkflowEnv;
before(async () => {
  w = await createWorkflowEnv('invalid-plan');
});
after(async () => w?.close());

// The cases spoil a valid plan in place, reaching into any field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyPlan = any;
const cases: [string, (plan: AnyPlan) => void, RegExp][] = [
  [
    'a password in place of a reference',
    (p) => (p.databases[0].source.passwordRef = 'hunter2'),
    /databases\[0\]\.source\.passwordRef: must be a secret reference/,
  ],
  ['a negative size', (p) => (p.databases[0].sizeGb = -5), /databases\[0\]\.sizeGb/],
  ['zero concurrency', (p) => (p.concurrency = 0), /concurrency/],
  ['an unknown priority', (p) => (p.databases[0].priority = 'urgent'), /databases\[0\]\.priority/],
  [
    'mysql on the local platform',
    (p) => (p.databases[0].engine = 'mysql'),
    /databases\[0\]\.engine: mysql is not supported by the local platform/,
  ],
  ['a bad duration', (p) => (p.approval.timeout = 'soon'), /approval\.timeout: must be a duration/],
  [
    'a duplicated database',
    (p) => p.databases.push({ ...p.databases[0] }),
    /databases\[1\]\.name: duplicate database name "shop"/,
  ],
  ['an unknown field', (p) => (p.databases[0].colour = 'blue'), /databases\[0\]/],
  [
    'a cutover window without days',
    (p) => (p.cutoverWindow = { days: [], start: '22:00', end: '02:00', timeZone: 'UTC' }),
    /cutoverWindow\.days: must name at least one day/,
  ],
  ['nothing in it', (p) => Object.keys(p).forEach((k) => delete p[k]), /databases: /],
];

for (const [what, spoil, message] of cases) {
  test(`a plan with ${what} fails before any activity`, FAST, async () => {
    const plan = fakePlan([{ name: 'shop', priority: 'high' }]) as AnyPlan;
    spoil(plan);
    assert.throws(
      () => validatePlan(plan),
      (err: unknown) => err instanceof InvalidPlanError && message.test(err.message),
    );

    const id = `invalid-${what.replace(/\W+/g, '-')}`;
    const handle = await w.startFleet(id, plan);
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      const cause = err.cause as ApplicationFailure;
      assert.equal(cause.type, 'InvalidPlan');
      assert.equal(cause.nonRetryable, true);
      assert.match(cause.message, message);
      return true;
    });
    // Event types are numbers here; the attributes say what each event is.
    const scheduled = (await handle.fetchHistory()).events!.flatMap((e) =>
      Object.entries(e).flatMap(([k, v]) => (v && /^(activity|startChild|childWorkflow)/.test(k) ? [k] : [])),
    );
    assert.deepEqual(scheduled, [], 'no activity or child was scheduled');
    assert.deepEqual(w.mocks.steps(id), []);
  });
}
