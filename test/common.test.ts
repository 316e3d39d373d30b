// The pure rules every layer shares: capacity, ordering, names, durations, plan defaults and
// the approval messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byPriority, capacityMode, workerCount } from '../common/capacity';
import { formatDuration, parseDuration } from '../common/durations';
import { resourceNames } from '../common/naming';
import { effectiveSettings, validationSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { approvalProblem, retryProblem } from '../common/status';
import { isInWindow, msUntilWindow } from '../common/cutover-window';

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
  assert.deepEqual(
    byPriority(dbs).map((d) => d.name),
    ['b', 'd', 'c', 'a'],
  );
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
  const plan = validatePlan({
    databases: [
      {
        name: 'a',
        engine: 'postgresql',
        sizeGb: 1,
        source: { host: 'h', database: 'a', user: 'u', passwordRef: 'file:/run/secrets/a' },
        target: { kind: 'alloydb', instance: 't' },
      },
    ],
  });
  assert.equal(plan.platform, 'local');
  assert.equal(plan.concurrency, 2);
  assert.equal(plan.approval.policy, 'manual');
  assert.deepEqual(effectiveSettings(plan, plan.databases[0]), {
    lagThresholdSeconds: 5,
    stableWindowMs: 30_000,
    noPrimaryKey: 'fail',
    targetDatabase: 'a',
  });
});

test("the live validation's settings: the plan's where it sets them, else today's defaults", () => {
  const database = {
    name: 'a',
    engine: 'postgresql',
    sizeGb: 1,
    source: { host: 'h', database: 'a', user: 'u', passwordRef: 'file:/run/secrets/a' },
    target: { kind: 'alloydb', instance: 't' },
  };
  const bare = validatePlan({ databases: [database] });
  assert.deepEqual(validationSettings(effectiveSettings(bare, bare.databases[0])), { streams: 4, chunkRows: 20_000 });
  const set = validatePlan({ validation: { streams: 2 }, databases: [database] });
  const settings = effectiveSettings(set, set.databases[0]);
  assert.deepEqual(settings.validation, { streams: 2 });
  assert.deepEqual(validationSettings(settings), { streams: 2, chunkRows: 20_000 });
});

test('approval problems name what is wrong', () => {
  const lookup = (db: string) =>
    db === 'a' ? { state: 'AWAITING_APPROVAL' as const } : db === 'b' ? { state: 'CDC' as const } : undefined;
  assert.equal(approvalProblem({ database: 'a', approver: 'alice' }, lookup, ['a', 'b']), undefined);
  assert.match(
    approvalProblem({ database: 'a', approver: '' }, lookup, ['a', 'b'])!,
    /approver must be a non-empty name/,
  );
  assert.match(
    approvalProblem({ database: 'z', approver: 'alice' }, lookup, ['a', 'b'])!,
    /unknown database "z"; this migration has: a, b/,
  );
  assert.match(
    approvalProblem({ database: 'b', approver: 'alice' }, lookup, ['a', 'b'])!,
    /"b" is CDC, not AWAITING_APPROVAL/,
  );
  assert.match(approvalProblem(undefined, lookup, ['a'])!, /approval must be an object/);
});

test('only failed or cancelled databases can be retried; a completed cutover never is', () => {
  assert.equal(retryProblem('a', { state: 'FAILED' }, ['a']), undefined);
  assert.equal(retryProblem('a', { state: 'CANCELLED' }, ['a']), undefined);
  assert.match(retryProblem('a', { state: 'COMPLETED' }, ['a'])!, /COMPLETED; a completed cutover is never redone/);
  assert.match(retryProblem('a', { state: 'CDC' }, ['a'])!, /is CDC; only a FAILED or CANCELLED/);
  assert.match(retryProblem('a', { state: 'NEEDS_ATTENTION' }, ['a'])!, /past the point of no return is never redone/);
  assert.match(retryProblem('z', undefined, ['a'])!, /unknown database "z"/);
});

test('cutover windows: weekdays, crossing midnight, and a daylight-saving change', () => {
  const w = {
    days: ['mon', 'tue', 'wed', 'thu', 'fri'] as const,
    start: '22:00',
    end: '02:00',
    timeZone: 'Europe/Berlin',
  };
  const win = { ...w, days: [...w.days] };
  // Tuesday 2026-11-24, Berlin is UTC+1.
  assert.equal(msUntilWindow(new Date('2026-11-24T20:30:00Z'), win), 30 * 60_000);
  assert.equal(isInWindow(new Date('2026-11-24T22:00:00Z'), win), true);
  assert.equal(isInWindow(new Date('2026-11-25T00:30:00Z'), win), true, 'Wednesday 01:30 belongs to Tuesday night');
  assert.equal(isInWindow(new Date('2026-11-28T00:30:00Z'), win), true, 'Saturday 01:30 belongs to Friday night');
  assert.equal(isInWindow(new Date('2026-11-28T02:00:00Z'), win), false, 'Saturday 03:00 is outside');
  assert.equal(
    msUntilWindow(new Date('2026-11-28T02:00:00Z'), win),
    (2 * 24 + 19) * 3_600_000,
    'next is Monday 22:00 Berlin (21:00Z)',
  );
  // Berlin springs forward on 2026-03-29: Sunday 03:00 local is 01:00Z.
  const sunday = { days: ['sun' as const], start: '03:00', end: '04:00', timeZone: 'Europe/Berlin' };
  assert.equal(msUntilWindow(new Date('2026-03-28T12:00:00Z'), sunday), 13 * 3_600_000);
});

test('a plan too large for one parent workflow is refused naming why, before anything starts', () => {
  const db = (i: number) => ({
    name: `db-${i}`,
    engine: 'postgresql',
    sizeGb: 1,
    source: { host: `pg-${i}.internal`, database: `d${i}`, user: 'u', passwordRef: `env:PG_${i}_PASSWORD` },
    target: { kind: 'cloudsql', instance: `t-${i % 40}` },
  });
  const many = (n: number) => ({ databases: Array.from({ length: n }, (_, i) => db(i)) });
  assert.equal(validatePlan(many(2_000)).databases.length, 2_000);
  assert.throws(
    () => validatePlan(many(10_000)),
    /databases: must list at most 2000 databases: one migration .* Temporal refuses payloads over 2 MB; split/,
  );
  // Under the count but over the size (long host names): refused for the same reason.
  const wide = many(1_900);
  for (const d of wide.databases) d.source.host = `${'h'.repeat(500)}.internal`;
  assert.throws(() => validatePlan(wide), /\(plan\): is \d+ KB, over the 1000 KB a migration takes/);
  // Notifications: every route names a known channel; an overdue approval escalates by default.
  assert.equal(validatePlan(many(1)).approval.onTimeout, 'escalate');
  assert.throws(
    () =>
      validatePlan({
        ...many(1),
        notifications: {
          channels: { ops: { type: 'slack', webhookUrlRef: 'env:SLACK_URL' } },
          routes: [{ events: ['failure'], channels: ['ops', 'pager'] }],
        },
      }),
    /notifications\.routes\[0\]\.channels\[1\]: unknown channel "pager" \(channels: ops\)/,
  );
});
