// `dbmig forecast` runs the plan's own workflows on the simulated platform under the time-skipping
// test server, calibrated from a rehearsal's record of this plan (and the named defaults for a
// database it did not measure): every phase comes back at the calibrated length, in the plan's order.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { forecast } from '../cli/forecast';
import { forecastReport } from '../cli/forecast-report';
import { planHash, recordRehearsal } from '../cli/rehearsal-record';
import { loadPlan } from '../client/plan-file';
import { msUntilWindow, type CutoverWindow } from '../common/cutover-window';
import { FORECAST_DEFAULTS } from '../common/forecast-calibration';

const dir = mkdtempSync(join(tmpdir(), 'dbmig-forecast-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const db = (name: string, sizeGb: number) => ({
  name,
  engine: 'postgresql',
  sizeGb,
  source: { host: 'h', port: 5432, user: 'u', database: name, passwordRef: 'env:P' },
  target: { kind: 'cloudsql', instance: `t-${name}` },
});

test('a forecast: phases at their calibrated length, approvals after the expected wait, concurrency kept', async () => {
  const file = join(dir, 'plan.json');
  writeFileSync(
    file,
    JSON.stringify({
      migrationId: 'fleet',
      platform: 'local',
      concurrency: 2,
      approval: { policy: 'manual' },
      defaults: { stableWindow: '10s' },
      databases: [db('small', 1), db('large', 4), db('unmeasured', 1)],
    }),
  );
  const { plan } = loadPlan(file);
  const rates = (name: string, sizeGb: number, copyMs: number) => ({
    name,
    sizeGb,
    rows: 1000,
    copyBytes: 1_000_000,
    sourceBytes: 1_000_000,
    copyMs,
    catchUpMs: 40_000, // 30 s of catch-up, then the 10 s stable window
    validationMs: 30_000,
  });
  recordRehearsal(
    {
      planHash: planHash(plan),
      passed: true,
      finishedAt: '2026-12-01T00:00:00.000Z',
      databases: [],
      rates: [rates('small', 1, 40_000), rates('large', 4, 120_000)],
    },
    dir,
  );
  const start = new Date('2026-12-24T08:00:00Z');
  const f = await forecast(file, {
    approvalWaitMs: 60_000,
    start,
    maxRealMs: 60_000,
    rehearsalsDir: dir,
    log: () => {},
  });
  console.log(forecastReport(f));

  const within = (what: string, got: number | undefined, want: number) =>
    assert.ok(got !== undefined && Math.abs(got - want) <= 0.25 * want, `${what}: ${got} ms, calibrated ${want} ms`);
  const len = (s?: { startMs: number; endMs: number }) => (s ? s.endMs - s.startMs : undefined);
  const expected = {
    small: { copy: 40_000, source: 'rehearsal' },
    large: { copy: 120_000, source: 'rehearsal' },
    unmeasured: { copy: (1024 / FORECAST_DEFAULTS.copyMbPerSecond) * 1000, source: 'defaults' },
  };
  for (const d of f.databases) {
    const e = expected[d.database as keyof typeof expected];
    assert.equal(d.state, 'COMPLETED');
    assert.equal(d.calibration.source, e.source);
    within(`${d.database} copy`, len(d.phases.copy), e.copy);
    const catchUp = e.source === 'defaults' ? FORECAST_DEFAULTS.catchUpMs + 10_000 : 40_000;
    within(`${d.database} catch-up`, len(d.phases.catchUp), catchUp);
    within(`${d.database} validation`, len(d.phases.validation), e.source === 'defaults' ? 30_000 : 30_000);
    within(`${d.database} approval wait`, len(d.phases.approvalWait), 60_000);
    // In the runbook's order.
    const order = (['copy', 'catchUp', 'validation', 'approvalWait', 'window', 'cutover'] as const).map(
      (p) => d.phases[p]!,
    );
    for (let i = 1; i < order.length; i++) assert.ok(order[i].startMs >= order[i - 1].endMs - 1, `${d.database} order`);
  }
  // Concurrency 2: the third database starts once one of the first two has finished.
  assert.equal(f.fleet.peakConcurrency, 2);
  const [first, second] = f.databases.map((d) => d.endMs).sort((a, b) => a - b);
  const third = f.databases.find((d) => d.phases.copy!.startMs >= Math.min(first, second) - 1);
  assert.ok(third, 'one database waited for a slot');
  assert.equal(f.fleet.finishAt, new Date(start.getTime() + f.fleet.durationMs).toISOString());
  assert.ok(f.fleet.capacityHours > 0);
  assert.match(forecastReport(f), /calibrated from|CALIBRATED FROM/);
});

const NIGHTLY: CutoverWindow = {
  days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
  start: '02:00',
  end: '04:00',
  timeZone: 'UTC',
};

test("a windowed plan: each cutover waits for the window's next opening, holding its slot meanwhile", async () => {
  const file = join(dir, 'windowed.json');
  writeFileSync(
    file,
    JSON.stringify({
      migrationId: 'windowed',
      platform: 'local',
      concurrency: 1,
      approval: { policy: 'auto' },
      defaults: { stableWindow: '10s' },
      // Nightly, 02:00-04:00 UTC: a fleet starting at 08:00 waits until 02:00 the next day.
      cutoverWindow: NIGHTLY,
      databases: [db('first', 1), db('second', 1)],
    }),
  );
  const start = new Date('2026-12-24T08:00:00Z');
  const f = await forecast(file, { start, maxRealMs: 45_000, rehearsalsDir: dir, log: () => {} });
  console.log(forecastReport(f));
  const at = (ms: number) => start.getTime() + ms;
  const [first, second] = ['first', 'second'].map((n) => f.databases.find((d) => d.database === n)!);
  // The forecast runs thousands of times faster than the calendar, and each real millisecond of
  // its own scheduling counts that many times over (docs/operations.md, the forecast's limits):
  // minutes on a quiet machine, more on a busy one. Its offset before the first copy (this plan
  // gives the steps before it no time) measures that here; the slack follows it.
  const slack = Math.max(20 * 60_000, first.phases.copy!.startMs);
  const iso = (ms: number) => new Date(ms).toISOString();
  for (const d of [first, second]) {
    // Each waits from its readiness to the window's next opening (at once if open), in the window
    // phase (auto: no approval wait), and cuts over then.
    const ready = at(d.phases.window!.startMs);
    const opens = ready + msUntilWindow(new Date(ready), NIGHTLY);
    const cut = at(d.phases.cutover!.startMs);
    assert.ok(
      cut >= opens - 60_000 && cut - opens <= slack,
      `${d.database}: ready ${iso(ready)}, the window opens ${iso(opens)}, cut over ${iso(cut)}`,
    );
    assert.ok(d.phases.approvalWait!.endMs - d.phases.approvalWait!.startMs < 60_000, 'auto: no approval wait');
    assert.ok(Math.abs(d.phases.window!.endMs - d.phases.cutover!.startMs) <= 1, 'the window wait ends at the cutover');
  }
  // The first, ready on the 24th, waits for 02:00 on the 25th.
  assert.ok(at(first.phases.window!.startMs) < Date.parse('2026-12-25T02:00:00Z'));
  const firstCut = at(first.phases.cutover!.startMs);
  assert.ok(firstCut >= Date.parse('2026-12-25T01:59:00Z') && firstCut - Date.parse('2026-12-25T02:00:00Z') <= slack);
  // Concurrency 1: the second starts once the first has cut over, so the first held the only slot
  // through its wait for the window. (Not once the first is done: its slot is free at COMPLETED,
  // and its steps after that, on its own run, may end after the second has started.)
  assert.ok(second.startMs >= first.phases.cutover!.endMs - 1, 'the first held the only slot while it waited');
  assert.equal(f.window, 'sun,mon,tue,wed,thu,fri,sat 02:00-04:00 UTC');
  assert.match(forecastReport(f), /each cutover waits for the window sun,mon,tue,wed,thu,fri,sat 02:00-04:00 UTC/);
});
