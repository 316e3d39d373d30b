import assert from 'node:assert/strict';
import { test } from 'node:test';
import { calibrate, FORECAST_DEFAULTS, marginalMsPerByte, simFor } from '../common/forecast-calibration';
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
  assert.deepEqual(c.defaulted, ['copy', 'catchUp', 'validation', 'cutover']);
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

/** A rehearsal's record of one database with its workflow's history (cli/rehearsal-steps.ts). */
const measured = (name: string, copyBytes: number, sourceBytes: number, copyMs: number, validateMs: number) => ({
  name,
  sizeGb: 1,
  copyBytes,
  sourceBytes,
  copyMs: 1, // the polls' reading: the history's span wins
  history: {
    totalMs: 0,
    steps: {
      provisionTarget: { calls: 1, ms: 2_500 },
      createMigrationJob: { calls: 1, ms: 120 },
      waitForFullDump: { calls: 1, ms: copyMs },
      waitForReplicationReady: { calls: 1, ms: 3_400 },
      validateData: { calls: 2, ms: 2 * validateMs },
      cutover: { calls: 1, ms: 450 },
      deleteMigrationJob: { calls: 2, ms: 300 },
      getReplicationStatus: { calls: 9, ms: 900 },
      notify: { calls: 3, ms: 60 },
    },
  },
});

test('a history-timed rehearsal: every platform step at its time, a sample grown by the marginal cost per byte', () => {
  const MB = 1_048_576;
  // A 50% sample of three databases: copies take 1 s + 0.1 s per MB copied (validation 0.2 s + 0.02 s per MB).
  const recs = [
    {
      planHash: 'h',
      finishedAt: '2026-12-01T00:00:00Z',
      rates: [10, 20, 40].map((mb, i) =>
        measured(['a', 'b', 'c'][i], mb * MB, 2 * mb * MB, 1_000 + 100 * mb, 200 + 20 * mb),
      ),
    },
  ];
  const [, b] = calibrate(plan, 'h', recs, () => 3_000);
  // The sample copied 20 MB in 3 s; the 20 MB it left cost 0.1 s each: 5 s, not 3 s × 2.
  assert.equal(b.copyMs, 5_000);
  assert.equal(b.validationMs, 1_000, 'one validation: 0.6 s for the sample, plus 0.02 s per MB left');
  assert.equal(b.catchUpMs, 400, 'catch-up is waitForReplicationReady less the stable window');
  assert.equal(b.cutoverMs, 450);
  // Each platform step per call; the polls, the validation and the cutover are modelled apart, notify is no step.
  assert.deepEqual(b.stepsMs, { provisionTarget: 2_500, createMigrationJob: 120, deleteMigrationJob: 150 });
  assert.deepEqual(b.defaulted, []);
  const sim = simFor(b, 5, 10, 10);
  assert.equal(sim.steps.provisionTarget, '250ms');
  assert.equal(sim.steps.cutover, '45ms');
  assert.equal(fullDumpMs(sim, 1), 500);
});

test('the marginal cost per byte: a least-squares slope over three or more databases, none without growth', () => {
  const r = (copyBytes: number, copyMs: number) => ({ ...measured('x', copyBytes, copyBytes, copyMs, 0) });
  const copy = (x: { history?: { steps: Record<string, { ms: number }> } }) => x.history?.steps.waitForFullDump.ms;
  assert.equal(marginalMsPerByte([r(100, 1_100), r(200, 1_200), r(400, 1_400)], copy), 1);
  assert.equal(marginalMsPerByte([r(100, 1_100), r(200, 1_200)], copy), undefined, 'two points fit anything');
  assert.equal(marginalMsPerByte([r(100, 1_400), r(200, 1_200), r(400, 1_100)], copy), undefined, 'shrinking');
  assert.equal(marginalMsPerByte([r(100, 1_100), r(100, 1_200), r(100, 1_400)], copy), undefined, 'one size');
});

test('a rehearsal of one database: its time per byte, as before', () => {
  const one = [{ planHash: 'h', finishedAt: '2026-12-01T00:00:00Z', rates: [measured('a', 100, 300, 1_000, 100)] }];
  const [a] = calibrate(plan, 'h', one, () => 0);
  assert.deepEqual([a.copyMs, a.validationMs], [3_000, 300]);
});
