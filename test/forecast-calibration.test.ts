import assert from 'node:assert/strict';
import { test } from 'node:test';
import { calibrate, FORECAST_DEFAULTS, simFor } from '../common/forecast-calibration';
import { planSchema } from '../common/plan';
import { fullDumpMs, lagAt } from '../activities/platforms/sim/settings';

const db = (name: string, sizeGb: number) => ({
  name,
  engine: 'postgresql',
  sizeGb,
  source: { host: 'h', port: 5432, user: 'u', database: name, passwordRef: 'env:P' },
  target: { kind: 'cloudsql', instance: `t-${name}` },
});
const plan = planSchema.parse({ platform: 'sim', databases: [db('a', 1), db('b', 2), db('c', 4)] });
const rates = (name: string, sizeGb: number, copyMs: number) => ({
  name,
  sizeGb,
  sourceBytes: 2_000_000,
  copyBytes: 1_000_000, // a 50% sample
  copyMs,
  catchUpMs: 40_000,
  validationMs: 3_000,
});

test('calibration: this plan’s rehearsal, else one by name scaled by size, else the named defaults', () => {
  const recs = [
    { planHash: 'sha256:mine', finishedAt: '2026-12-01T00:00:00Z', rates: [rates('a', 1, 10_000)] },
    { planHash: 'sha256:mine', finishedAt: '2026-11-01T00:00:00Z', rates: [rates('a', 1, 99_000)] },
    { planHash: 'sha256:other', finishedAt: '2026-12-02T00:00:00Z', rates: [rates('b', 1, 7_000)] },
  ];
  const [a, b, c] = calibrate(plan, 'sha256:mine', recs, () => 30_000);
  // The newest rehearsal of this plan; a 50% sample's copy time doubles, catch-up loses the stable window.
  assert.deepEqual([a.source, a.copyMs, a.catchUpMs, a.validationMs], ['rehearsal', 20_000, 10_000, 6_000]);
  assert.equal(a.rehearsal?.finishedAt, '2026-12-01T00:00:00Z');
  // Another plan's b (1 GB) measured; this b is 2 GB.
  assert.deepEqual([b.source, b.copyMs, b.validationMs], ['rehearsal-by-name', 14_000, 6_000]);
  assert.equal(c.source, 'defaults');
  assert.equal(c.copyMs, Math.round(((4 * 1024) / FORECAST_DEFAULTS.copyMbPerSecond) * 1000));
  assert.deepEqual(c.defaulted, ['copy', 'catchUp', 'validation']);
});

test('the sim settings reproduce the calibration, divided by the speedup', () => {
  const [a] = calibrate(
    plan,
    'x',
    [{ planHash: 'x', finishedAt: '2026-12-01T00:00:00Z', rates: [rates('a', 1, 10_000)] }],
    () => 0,
  );
  const sim = simFor(a, 5, 100, 10);
  assert.equal(fullDumpMs(sim, 1), 200);
  assert.equal(lagAt(sim, 399), 5 + (15 * 1) / 400);
  assert.equal(lagAt(sim, 400), 5, 'at the threshold as catch-up ends');
  assert.equal(lagAt(sim, 402), 0);
  assert.equal(sim.steps.validateData, '60ms');
});
