// An invalid plan fails the workflow non-retryably with an InvalidPlan error naming the field,
// before any cluster, database or slot exists.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { InvalidPlanError, validatePlan } from '../common/plan';
import { createSourceDatabase, planFor, replicationLeftovers } from './fixtures/fleet';
import { withClient } from '../activities/platforms/local/clusters';
import { createHarness, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';

let h: Harness;
before(async () => {
  h = await createHarness('invalid');
  await createSourceDatabase(h.source, { name: 'shop', rows: 100, priority: 'high', sizeGb: 1 });
});
after(async () => h?.close());

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
];

for (const [what, spoil, message] of cases) {
  test(`a plan with ${what} fails before any side effect`, async () => {
    const plan = planFor(
      h.source,
      [{ name: 'shop', rows: 0, priority: 'high', sizeGb: 1 }],
      `env:${SOURCE_PASSWORD_ENV}`,
    ) as AnyPlan;
    spoil(plan);
    assert.throws(
      () => validatePlan(plan),
      (err: unknown) => err instanceof InvalidPlanError && message.test(err.message),
    );

    const id = `invalid-${what.replace(/\W+/g, '-')}`;
    const handle = await h.startFleet(id, plan);
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      const cause = err.cause as ApplicationFailure;
      assert.equal(cause.type, 'InvalidPlan');
      assert.equal(cause.nonRetryable, true);
      assert.match(cause.message, message);
      return true;
    });
    const history = await handle.fetchHistory();
    const kinds = new Set(history.events!.map((e) => String(e.eventType)));
    assert.ok(
      ![...kinds].some((k) => /ACTIVITY|CHILD/.test(k)),
      `no activity or child was scheduled: ${[...kinds].join(', ')}`,
    );
    assert.equal(existsSync(join(h.stateDir, 'clusters', 'fleet-target')), false, 'no target cluster was created');
    assert.deepEqual(await replicationLeftovers(h.source, ['shop']), {
      slots: [],
      publications: [],
      subscriptions: [],
    });
    const dbs = await withClient(
      { ...h.source, database: 'postgres' },
      async (c) => (await c.query('select count(*)::int as n from pg_database')).rows[0].n,
    );
    assert.equal(dbs, 4, 'postgres, template0, template1 and shop only');
  });
}
