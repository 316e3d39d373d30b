// The pure rules every layer shares: capacity, ordering, names, durations, plan defaults and
// the approval messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byPriority, capacityMode, workerCount } from '../common/capacity';
import { formatDuration, parseDuration } from '../common/durations';
import { resourceNames } from '../common/naming';
import { effectiveSettings, validatePlan } from '../common/plan';
import { approvalProblem } from '../common/status';

test('worker count is clamp(size_gb / 50, 1, 8) and priority picks the capacity mode', () => {
  assert.deepEqual([1, 49, 50, 120, 399, 400, 5000].map(workerCount), [1, 1, 1, 2, 7, 8, 8]);
  assert.equal(capacityMode('high'), 'calendar');
  assert.equal(capacityMode('medium'), 'flex-start');
  assert.equal(capacityMode('low'), 'flex-start');
});

test('priority order is stable within a priority', () => {
  const dbs = [
    { name: 'a', priority: 'low' as const },
    { name: 'b', priority: 'high' as const },
    { name: 'c', priority: 'medium' as const },
    { name: 'd', priority: 'high' as const },
  ];
  assert.deepEqual(byPriority(dbs).map((d) => d.name), ['b', 'd', 'c', 'a']);
});

test('resource names are deterministic, distinct per database and valid PostgreSQL slot names', () => {
  const a = resourceNames('migration-2026-q4', 'orders-eu_west');
  assert.deepEqual(a, resourceNames('migration-2026-q4', 'orders-eu_west'));
  assert.notEqual(a.slot, resourceNames('migration-2026-q4', 'orders-eu').slot);
  assert.notEqual(a.slot, resourceNames('migration-2026-q5', 'orders-eu_west').slot);
  assert.equal(a.childWorkflowId, 'migration-2026-q4/orders-eu_west');
  const long = resourceNames('m', 'x'.repeat(48));
  for (const n of [a.slot, a.publication, a.subscription, long.slot, long.subscription]) {
    assert.match(n, /^[a-z0-9_]{1,63}$/);
  }
});

test('durations parse and format', () => {
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('1.5h'), 5_400_000);
  assert.equal(parseDuration('soon'), undefined);
  assert.equal(formatDuration(2000), '2.0s');
  assert.equal(formatDuration(90_000), '1m30s');
});

test('a minimal plan gets safe defaults', () => {
  const plan = validatePlan({ databases: [{ name: 'a', engine: 'postgresql', sizeGb: 1, source: { host: 'h', database: 'a', user: 'u', passwordRef: 'file:/run/secrets/a' }, target: { kind: 'alloydb', instance: 't' } }] });
  assert.equal(plan.platform, 'local');
  assert.equal(plan.concurrency, 2);
  assert.equal(plan.approval.policy, 'manual');
  assert.deepEqual(effectiveSettings(plan, plan.databases[0]), { lagThresholdSeconds: 5, stableWindowMs: 30_000, noPrimaryKey: 'fail', targetDatabase: 'a' });
});

test('approval problems name what is wrong', () => {
  const lookup = (db: string) => (db === 'a' ? { state: 'AWAITING_APPROVAL' as const } : db === 'b' ? { state: 'CDC' as const } : undefined);
  assert.equal(approvalProblem({ database: 'a', approver: 'alice' }, lookup, ['a', 'b']), undefined);
  assert.match(approvalProblem({ database: 'a', approver: '' }, lookup, ['a', 'b'])!, /approver must be a non-empty name/);
  assert.match(approvalProblem({ database: 'z', approver: 'alice' }, lookup, ['a', 'b'])!, /unknown database "z"; this migration has: a, b/);
  assert.match(approvalProblem({ database: 'b', approver: 'alice' }, lookup, ['a', 'b'])!, /"b" is CDC, not AWAITING_APPROVAL/);
  assert.match(approvalProblem(undefined, lookup, ['a'])!, /approval must be an object/);
});
