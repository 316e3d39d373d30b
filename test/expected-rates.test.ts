// The rates copy-slow and apply-slow compare with (common/expected-rates.ts) and copy-slow itself
// (common/anomaly.ts addCopy): the newest passed rehearsal of the same plan wins, a failed one or
// another plan's never counts; else the fleet's median rate, not scaled by size; nothing
// expected gives no verdict at all; copy-slow fires under half the expected rate after 3 polls and
// clears above 75%, without flapping on noise around the firing level.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BacklogApplyRate } from '../activities/replication-waits';
import { AnomalyDetector, DEFAULT_THRESHOLDS } from '../common/anomaly';
import { REHEARSAL_MB, describeExpected, expectedFor, expectedFromRehearsals, median } from '../common/expected-rates';

const HASH = 'sha256:aaa';

test('the newest passed rehearsal of the same plan that measured the database sets its expected rates', () => {
  const records = [
    { planHash: HASH, passed: true, finishedAt: '2026-12-01T00:00:00Z', rates: [{ name: 'orders', mbPerSecond: 10 }] },
    // Newer, but failed: not evidence of what a healthy copy does.
    { planHash: HASH, passed: false, finishedAt: '2026-12-03T00:00:00Z', rates: [{ name: 'orders', mbPerSecond: 1 }] },
    // Newer and passed, but of another plan.
    {
      planHash: 'sha256:bbb',
      passed: true,
      finishedAt: '2026-12-04T00:00:00Z',
      rates: [{ name: 'orders', mbPerSecond: 2 }],
    },
    // Newest passed of this plan, but it did not time orders' copy: the one before still counts for orders.
    {
      planHash: HASH,
      passed: true,
      finishedAt: '2026-12-02T00:00:00Z',
      rates: [{ name: 'orders' }, { name: 'ledger', mbPerSecond: 4, applyMbPerSecond: 8 }],
    },
  ];
  const e = expectedFromRehearsals(['orders', 'ledger', 'unmeasured'], HASH, records);
  assert.deepEqual(e.orders, { copyBytesPerSecond: 10 * REHEARSAL_MB, source: 'rehearsal of 2026-12-01T00:00:00Z' });
  assert.deepEqual(e.ledger, {
    copyBytesPerSecond: 4 * REHEARSAL_MB,
    applyBytesPerSecond: 8 * REHEARSAL_MB,
    source: 'rehearsal of 2026-12-02T00:00:00Z',
  });
  assert.equal(e.unmeasured, undefined);
});

test("the fleet's median rate, whatever the sizes; the rehearsal wins per rate; nothing: no expectation", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.equal(median([]), undefined);
  // A rate is throughput: a 4 GB database expects what a 10 GB and a 20 GB one did, not 4/10 of it.
  const fleet = [
    { copyBytesPerSecond: 100e6 },
    { copyBytesPerSecond: 300e6 },
    { copyBytesPerSecond: 0 }, // nothing measured
    {},
  ];
  assert.deepEqual(expectedFor(undefined, fleet), {
    copyBytesPerSecond: 200e6,
    source: 'fleet median of 2 database(s)',
  });
  const rehearsed = { copyBytesPerSecond: 7e6, source: 'rehearsal of X' };
  assert.deepEqual(expectedFor(rehearsed, fleet), rehearsed);
  assert.deepEqual(expectedFor(undefined, []), {});
  assert.match(describeExpected(undefined), /^none \(.*\): rates not judged$/);
  assert.match(describeExpected(expectedFor(undefined, fleet)), /^copy 200\.00 MB\/s, apply not judged/);
});

const T0 = Date.parse('2026-12-01T00:00:00Z');

function copyRun(d: AnomalyDetector, rates: (number | null)[]) {
  const changes: { i: number; kinds: string }[] = [];
  let last = '';
  rates.forEach((r, i) => {
    const kinds = d
      .addCopy({ at: T0 + i * 10_000, bytesPerSecond: r })
      .map((a) => a.kind)
      .join(',');
    if (kinds !== last) changes.push({ i, kinds });
    last = kinds;
  });
  return changes;
}

test('copy-slow fires after 3 polls under half the expected rate and clears after 3 polls above 75%', () => {
  const expected = 20e6;
  const rates = [...Array(10).fill(19e6), ...Array(10).fill(5e6), ...Array(10).fill(12e6), ...Array(10).fill(16e6)];
  const d = new AnomalyDetector(DEFAULT_THRESHOLDS, { copyBytesPerSecond: expected });
  // Slow from poll 10: fires at poll 12. 60% (poll 20..29) is neither slow nor recovered: it holds.
  // Back at 80% from poll 30: cleared at poll 32.
  assert.deepEqual(copyRun(d, rates), [
    { i: 12, kinds: 'copy-slow' },
    { i: 32, kinds: '' },
  ]);
  // One slow poll is not believed.
  const once = new AnomalyDetector(DEFAULT_THRESHOLDS, { copyBytesPerSecond: expected });
  assert.deepEqual(once.addCopy({ at: T0, bytesPerSecond: 1e6 }), []);
});

test('copy-slow: no expectation or no measurement is no verdict; noise at the level does not flap', () => {
  assert.deepEqual(copyRun(new AnomalyDetector(), Array(50).fill(1)), [], 'nothing expected: never slow');
  const d = new AnomalyDetector(DEFAULT_THRESHOLDS, { copyBytesPerSecond: 20e6 });
  assert.deepEqual(copyRun(d, Array(50).fill(null)), [], 'not measured yet: no verdict');
  let s = 5;
  const r = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const noisy = copyRun(
    new AnomalyDetector(DEFAULT_THRESHOLDS, { copyBytesPerSecond: 20e6 }),
    Array.from({ length: 500 }, () => 20e6 * (0.45 + 0.1 * r())),
  );
  assert.ok(noisy.length <= 1, JSON.stringify(noisy));
  // The copy's kind is not judged by the watcher's add(): a CDC sample leaves copy-slow to the copy.
  const w = new AnomalyDetector(DEFAULT_THRESHOLDS, { copyBytesPerSecond: 20e6 });
  for (let i = 0; i < 5; i++) w.add({ at: T0 + i * 10_000, lagSeconds: 1, errorCount: 0 });
  assert.deepEqual(w.current(), []);
});

test("the catch-up's apply rate counts only polls that found a backlog, and needs a second of them", () => {
  const r = new BacklogApplyRate();
  r.add(0, 0, true);
  r.add(500, 5e6, true);
  assert.equal(r.perSecond(), null, 'half a second says nothing');
  r.add(1_000, 10e6, true); // 10 MB/s while there is a backlog
  r.add(2_000, 11e6, false); // caught up: the idle link's trickle is not the apply rate
  r.add(3_000, 12e6, true);
  r.add(4_000, 22e6, true);
  r.add(5_000, 22e6, true); // an unknown position (a platform that does not report it) breaks the span
  r.add(6_000, undefined, true);
  r.add(7_000, 40e6, true);
  assert.equal(r.perSecond(), (20e6 * 1000) / 3_000);
});
