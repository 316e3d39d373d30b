// The pure anomaly detector on synthetic series: a rising lag fires within a few polls of the window
// being spanned and clears once it falls; noise around a flat or a slowly wandering lag (what a
// healthy database waiting days for approval looks like) fires nothing over a simulated week; apply
// errors fire at the rate and clear after a quiet window; an apply rate under half the expected one
// fires only while there is lag to apply; nothing flaps on noise at the thresholds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pagerDutyDedupKey } from '../activities/notify/pagerduty';
import { AnomalyDetector, DEFAULT_THRESHOLDS, lagFit, type Anomaly } from '../common/anomaly';

const POLL = 10_000;
const T0 = Date.parse('2026-12-01T00:00:00Z');

/** A seeded pseudo-random in [0,1): tests must not depend on luck. */
function rng(seed: number) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/** Feeds `n` polls; returns every change of the active kinds, with the poll it happened at. */
function run(
  d: AnomalyDetector,
  n: number,
  sample: (i: number) => { lag: number | null; errors?: number; rate?: number },
  only?: string,
) {
  const changes: { i: number; kinds: string }[] = [];
  let last = '';
  for (let i = 0; i < n; i++) {
    const s = sample(i);
    const kinds = d
      .add({ at: T0 + i * POLL, lagSeconds: s.lag, errorCount: s.errors ?? 0, applyBytesPerSecond: s.rate })
      .map((a: Anomaly) => a.kind)
      .filter((k) => !only || k === only)
      .join(',');
    if (kinds !== last) changes.push({ i, kinds });
    last = kinds;
  }
  return changes;
}

test('the least-squares fit: slope per second and R²', () => {
  const fit = lagFit([0, 1, 2, 3].map((k) => ({ at: k * 1000, y: 5 + 2 * k })))!;
  assert.equal(fit.slope, 2);
  assert.equal(fit.r2, 1);
  assert.equal(lagFit([{ at: 0, y: 1 }]), null);
});

test('a rising lag fires lag-trend soon after the window is half spanned, and clears when it falls', () => {
  const d = new AnomalyDetector();
  // Flat 2 s for 20 min, then +0.2 s per second (12 s/min) for 20 min, then falling back.
  const lag = (i: number) => {
    const t = i * (POLL / 1000);
    if (t < 1200) return 2;
    if (t < 2400) return 2 + 0.2 * (t - 1200);
    return Math.max(2, 242 - 0.5 * (t - 2400));
  };
  const changes = run(d, 480, (i) => ({ lag: lag(i) }));
  assert.equal(changes[0].kinds, 'lag-trend');
  const delayS = changes[0].i * 10 - 1200;
  // It needs a 30 s rise and a fit of 3 confirming polls: under 5 minutes after the rise began.
  assert.ok(delayS > 0 && delayS <= 300, `detected ${delayS} s after the rise began`);
  assert.equal(changes[1].kinds, '', 'cleared once the lag stopped rising');
  assert.ok(changes[1].i * 10 > 2400, 'not before the lag turned');
  assert.equal(changes.length, 2, 'one firing, one clearing: no flapping');
});

test('a healthy database waiting a week for approval fires nothing: noisy small lag, slow wander', () => {
  const r = rng(7);
  const d = new AnomalyDetector();
  // 0..4 s of noise, a daily wave of ±3 s, over 7 days of 10 s polls (60,480 samples).
  const n = (7 * 86_400_000) / POLL;
  const changes = run(d, n, (i) => ({ lag: 2 + 4 * r() + 3 * Math.sin((i * POLL * 2 * Math.PI) / 86_400_000) }));
  assert.deepEqual(changes, []);
});

test('a lag at the trend threshold with noise flaps no more than it crosses for good', () => {
  const r = rng(11);
  const d = new AnomalyDetector();
  // Slope exactly at the alert level (3 s/min) with ±20 s of noise: R² stays low; at most one change pair.
  const changes = run(d, 2000, (i) => ({ lag: 10 + 0.05 * i * 10 * (i < 1000 ? 1 : 0) + 40 * (r() - 0.5) }));
  assert.ok(changes.length <= 2, `changes: ${JSON.stringify(changes)}`);
});

test('apply errors fire at the rate in the window and clear after a window without one', () => {
  const d = new AnomalyDetector();
  // An error every poll from minute 10 to 15, then none.
  const errors = (i: number) => Math.min(Math.max(0, i - 60), 30);
  const changes = run(d, 300, (i) => ({ lag: 1, errors: errors(i) }));
  assert.equal(changes[0].kinds, 'apply-errors');
  assert.ok(changes[0].i >= 62 && changes[0].i <= 66, `fired at poll ${changes[0].i}`);
  assert.equal(changes[1].kinds, '');
  assert.ok(changes[1].i * POLL >= 90 * POLL + DEFAULT_THRESHOLDS.windowMs, 'clears only after a quiet window');
  // A single blip (one error) never fires.
  assert.deepEqual(
    run(new AnomalyDetector(), 300, (i) => ({ lag: 1, errors: i > 100 ? 1 : 0 })),
    [],
  );
});

test('apply slower than half the expected rate fires only while there is lag to apply', () => {
  const expected = 10e6;
  const d = new AnomalyDetector(DEFAULT_THRESHOLDS, { applyBytesPerSecond: expected });
  const changes = run(
    d,
    100,
    (i) => ({
      lag: i < 20 ? 0 : 120,
      rate: i < 40 ? 2e6 : 9e6, // slow throughout the first 40 polls, but there is lag only from poll 20
    }),
    'apply-slow', // the step from 0 to 120 s of lag is a lag trend too; this test is about the rate
  );
  assert.deepEqual(
    changes.map((c) => [c.i, c.kinds]),
    [
      [22, 'apply-slow'],
      [42, ''],
    ],
  );
  // Noise around the firing share (45%..55%) does not flap: it clears only above 75%.
  const r = rng(3);
  const noisy = run(new AnomalyDetector(DEFAULT_THRESHOLDS, { applyBytesPerSecond: expected }), 500, () => ({
    lag: 120,
    rate: expected * (0.45 + 0.1 * r()),
  }));
  assert.ok(noisy.length <= 1, JSON.stringify(noisy));
});

test('a resumed detector keeps the anomalies its last heartbeat had', () => {
  const since = new Date(T0).toISOString();
  const d = new AnomalyDetector(DEFAULT_THRESHOLDS, undefined, [{ kind: 'lag-trend', detail: 'x', since }]);
  assert.deepEqual(
    d.current().map((a) => a.kind),
    ['lag-trend'],
  );
});

test('PagerDuty: one alert per database and anomaly kind, the clearing resolves the same one', () => {
  const base = { migrationId: 'm1', database: 'orders', event: 'anomaly' as const };
  const fired = pagerDutyDedupKey({ ...base, occurrence: 1, facts: { anomaly: 'lag-trend' } });
  const cleared = pagerDutyDedupKey({ ...base, occurrence: 2, facts: { anomaly: 'lag-trend', cleared: true } });
  const other = pagerDutyDedupKey({ ...base, occurrence: 3, facts: { anomaly: 'apply-errors' } });
  assert.equal(fired, cleared);
  assert.notEqual(fired, other);
});
