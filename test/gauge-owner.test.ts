// A database's gauges are the running activity's (activities/gauge-owner.ts): whether the activity
// returns, fails or is cancelled, each gauge it set goes back to no value (NaN, or the 0 of a 0/1
// gauge), and gauges set outside it, or by another activity, are left alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MetricGauge } from '@temporalio/common';
import { ownGauges, setOwned, withOwnedGauges } from '../activities/gauge-owner';

function fakeGauge(name: string): MetricGauge & { values: number[] } {
  const values: number[] = [];
  const g = {
    name,
    kind: 'gauge' as const,
    valueType: 'float' as const,
    values,
    set: (v: number) => void values.push(v),
    withTags: () => g,
  };
  return g;
}

const tags = { migration_id: 'm', database: 'd' };

test('a returning, a failing and a cancelled activity each clear what they set, only that', async () => {
  for (const end of ['returns', 'fails', 'cancelled'] as const) {
    const lag = fakeGauge('dbmig_replication_lag_seconds');
    const waiting = fakeGauge('dbmig_waiting_for_cutover');
    const other = fakeGauge('dbmig_copy_fraction');
    setOwned(other, tags, 0.5); // outside any activity: nobody clears it
    const run = ownGauges(async () => {
      setOwned(lag, tags, 3.5);
      setOwned(lag, tags, 4);
      setOwned(waiting, tags, 1, 0);
      await new Promise((r) => setTimeout(r, 5)); // a later callback still belongs to the activity
      setOwned(lag, tags, 4.5);
      if (end === 'fails') throw new Error('apply broke');
      if (end === 'cancelled') throw Object.assign(new Error('cancelled'), { name: 'CancelledFailure' });
      return 'done';
    });
    if (end === 'returns') assert.equal(await run, 'done');
    else await assert.rejects(run);
    assert.deepEqual(lag.values.slice(0, 3), [3.5, 4, 4.5], end);
    assert.ok(Number.isNaN(lag.values.at(-1)), `${end}: lag back to NaN, not ${lag.values.at(-1)}`);
    assert.equal(lag.values.length, 4, `${end}: cleared once`);
    assert.deepEqual(waiting.values, [1, 0], `${end}: the 0/1 gauge back to 0`);
    assert.deepEqual(other.values, [0.5], `${end}: a gauge it did not set is left alone`);
  }
});

test('two activities at once each clear their own', async () => {
  const a = fakeGauge('dbmig_replication_lag_seconds');
  const b = fakeGauge('dbmig_validation_fraction');
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const first = ownGauges(async () => {
    setOwned(a, tags, 1);
    await held;
  });
  await ownGauges(async () => setOwned(b, tags, 0.3));
  assert.deepEqual(a.values, [1], 'the running one keeps its value');
  assert.ok(Number.isNaN(b.values.at(-1)));
  release();
  await first;
  assert.ok(Number.isNaN(a.values.at(-1)));
});

test('withOwnedGauges keeps every activity under its name and wraps it', async () => {
  const g = fakeGauge('dbmig_rows_on_target');
  const acts = withOwnedGauges({
    watchReplication: async (n: number) => {
      setOwned(g, tags, n);
      return n * 2;
    },
  });
  assert.equal(acts.watchReplication.name, 'watchReplication');
  assert.equal(await acts.watchReplication(21), 42);
  assert.deepEqual(g.values.slice(0, 1), [21]);
  assert.ok(Number.isNaN(g.values.at(-1)));
});
