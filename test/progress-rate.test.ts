// The pure half of progress and ETA: rates over a recent window (not since the start), ETAs only
// while something moves, the copy's per-table totals (estimates, then extrapolated, exact when
// done), the catch-up's ETA only while the lag falls, the validation's share never 100% before its
// last chunk, and the lines `dbmig status` prints of them (an older worker's heartbeat included).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateWindow, etaSeconds, catchUpEta } from '../common/progress-rate';
import { catchUpOf, describeCatchUp } from '../common/catch-up';
import { copyNotStarted, describeCopy, type CopyProgress } from '../common/copy-progress';
import { describeValidation } from '../common/validation-progress';
import { accountCopy, tableProgress } from '../activities/engines/postgres/copy-accounting';
import type { CopyRange } from '../activities/engines/postgres/copy-state';
import { validationProgressOf } from '../activities/engines/postgres/validate-progress';
import type { TableProgress } from '../activities/engines/postgres/validate-live';
import { databaseDetail, onlyDatabase } from '../cli/progress-detail';
import { statusTable } from '../cli/format';
import { newDatabaseSummary, type FleetStatus } from '../common/status';

test('a rate is measured over the recent window, not since the start', () => {
  const w = new RateWindow(10_000);
  assert.equal(w.perSecond(), null, 'nothing measured');
  w.add(0, 0);
  w.add(500, 50);
  assert.equal(w.perSecond(), null, 'half a second says nothing');
  // 100/s for 60 s, then 10/s for 20 s: the window sees only the slow part.
  for (let t = 1; t <= 60; t++) w.add(t * 1000, t * 100);
  assert.equal(w.perSecond(), 100);
  for (let t = 61; t <= 80; t++) w.add(t * 1000, 6000 + (t - 60) * 10);
  assert.equal(w.perSecond(), 10);
  // Stalled for a whole window: 0, so no ETA.
  for (let t = 81; t <= 95; t++) w.add(t * 1000, 6200);
  assert.equal(w.perSecond(), 0);
  assert.equal(etaSeconds(1000, w.perSecond()), null);
  w.add(90_000, 0); // a clock step back is ignored
  assert.equal(w.perSecond(), 0);
});

test('an ETA needs a known remainder and a positive rate', () => {
  assert.equal(etaSeconds(1000, 100), 10);
  assert.equal(etaSeconds(null, 100), null);
  assert.equal(etaSeconds(1000, null), null);
  assert.equal(etaSeconds(1000, -5), null);
  assert.equal(etaSeconds(-3, 1), 0);
});

test('the catch-up has an ETA only while the lag falls', () => {
  const rising = new RateWindow();
  rising.add(0, 100);
  rising.add(5000, 200);
  assert.deepEqual(catchUpEta(200, rising), { fallingPerSecond: null, etaSeconds: null });
  const windows = { bytes: new RateWindow(), seconds: new RateWindow() };
  catchUpOf({ lagBytes: 10_000_000, lagSeconds: 3 }, windows, 0);
  const c = catchUpOf({ lagBytes: 6_000_000, lagSeconds: 2 }, windows, 2000)!;
  assert.deepEqual(c, { basis: 'bytes', lag: 6_000_000, target: 0, fallingPerSecond: 2_000_000, etaSeconds: 3 });
  assert.equal(describeCatchUp(c), 'lag 6 MB, falling 2 MB/s, ETA 3.0s');
  // At rest, bytes stay unconfirmed (dbmig's own heartbeat): caught up once the heartbeat is within the threshold.
  const rest = catchUpOf({ lagBytes: 208, lagSeconds: 0.4 }, windows, 4000, 5)!;
  assert.deepEqual({ target: rest.target, etaSeconds: rest.etaSeconds }, { target: 208, etaSeconds: 0 });
  assert.equal(describeCatchUp(rest), 'caught up (lag 208 B)');
  assert.equal(catchUpOf({ lagBytes: 208, lagSeconds: 7 }, windows, 6000, 5)!.target, 0, 'behind by the heartbeat');
  // Seconds where bytes are not measured (gcp): caught up at the plan's threshold.
  const s = { bytes: new RateWindow(), seconds: new RateWindow() };
  catchUpOf({ lagBytes: null, lagSeconds: 65 }, s, 0, 5);
  const bySeconds = catchUpOf({ lagBytes: null, lagSeconds: 35 }, s, 10_000, 5)!;
  assert.equal(bySeconds.etaSeconds, 10, '30 s above the threshold, falling 3 s per second');
  assert.equal(describeCatchUp({ ...bySeconds, lag: 4 }), 'caught up (lag 4.0 s)');
  assert.equal(describeCatchUp({ ...bySeconds, fallingPerSecond: null, etaSeconds: null }), 'lag 35.0 s, not falling');
  assert.equal(catchUpOf({ lagBytes: null, lagSeconds: null }, s, 20_000), undefined);
});

const range = (table: string, pages: number, done?: { rows: number; bytes: number }): CopyRange => ({
  table,
  firstBlock: null,
  endBlock: null,
  pages,
  rows: done?.rows ?? null,
  bytes: done?.bytes ?? null,
  done: !!done,
});

test("a table's totals: the estimate, then extrapolated from its done ranges, exact once done", () => {
  const none = tableProgress('t', [range('t', 100), range('t', 100)], 0, { rows: 5000 });
  assert.deepEqual(
    [none.fraction, none.rowsTotal, none.bytesTotal, none.bytesCopied],
    [0, 5000, 200 * 8192, 0],
    'before any range: pg_class and the heap size',
  );
  const half = tableProgress('t', [range('t', 100, { rows: 3000, bytes: 600_000 }), range('t', 100)], 250_000, {
    rows: 5000,
  });
  assert.deepEqual(
    [half.fraction, half.rowsCopied, half.rowsTotal, half.bytesCopied, half.bytesTotal],
    [0.5, 3000, 6000, 850_000, 1_200_000],
    'half the pages done: twice what they held',
  );
  const all = tableProgress(
    't',
    [range('t', 100, { rows: 3000, bytes: 600_000 }), range('t', 100, { rows: 2900, bytes: 590_000 })],
    0,
    { rows: 5000 },
  );
  assert.deepEqual([all.fraction, all.rowsCopied, all.rowsTotal, all.bytesTotal], [1, 5900, 5900, 1_190_000]);
  const unknown = tableProgress('u', [range('u', 0)], 0, { rows: null });
  assert.deepEqual([unknown.rowsTotal, unknown.fraction], [null, 0], 'never analyzed: unknown, not zero');
});

test('the copy: database totals, the largest tables listed first, rate and ETA over the window', () => {
  const p: CopyProgress = copyNotStarted('copy');
  const ranges = [range('big', 100), range('big', 100), range('small', 10)];
  const inFlight = new Map<string, number>();
  const estimates = new Map([
    ['big', { rows: 20_000 }],
    ['small', { rows: 500 }],
  ]);
  const windows = { bytes: new RateWindow(), rows: new RateWindow() };
  accountCopy(p, ranges, inFlight, estimates, windows, 0);
  assert.deepEqual([p.fraction, p.rowsTotal, p.tablesDone, p.bytesPerSecond, p.etaSeconds], [0, 20_500, 0, null, null]);
  assert.deepEqual(
    p.tables!.map((t) => t.table),
    ['big', 'small'],
  );
  Object.assign(ranges[2], { done: true, rows: 500, bytes: 80_000 });
  Object.assign(ranges[0], { done: true, rows: 10_000, bytes: 800_000 });
  inFlight.set('big', 400_000);
  accountCopy(p, ranges, inFlight, estimates, windows, 4000);
  // 1.28 MB moved in 4 s; 1.68 MB planned (big: 800 kB per 100 pages), 400 kB to go.
  assert.deepEqual(
    [p.rangesDone, p.bytesCopied, p.bytesTotal, p.bytesPerSecond, p.etaSeconds, p.tablesDone],
    [2, 1_280_000, 1_680_000, 320_000, 1, 1],
  );
  assert.equal(p.rowsTotal, 20_500);
  assert.equal(p.rowsPerSecond, 2625);
  assert.match(
    describeCopy(p),
    /^copy, 52% \(2\/3 ranges, 1\/2 tables, 10500 of ~20500 rows, 1 MB of ~2 MB\), 320 kB\/s, 2625 rows\/s, ETA 1\.0s$/,
  );
  Object.assign(ranges[1], { done: true, rows: 9_900, bytes: 790_000 });
  inFlight.set('big', 0);
  accountCopy(p, ranges, inFlight, estimates, windows, 6000);
  assert.deepEqual(
    [p.fraction, p.rowsCopied, p.rowsTotal, p.bytesCopied, p.bytesTotal, p.etaSeconds, p.tablesDone],
    [1, 20_400, 20_400, 1_670_000, 1_670_000, 0, 2],
    'done: exact totals, 100%',
  );
  assert.ok(p.tables!.every((t) => t.fraction === 1 && t.rowsCopied === t.rowsTotal));
});

test("an older worker's copy heartbeat still reads", () => {
  const old = {
    phase: 'copy',
    rangesDone: 3,
    ranges: 8,
    fraction: 0.4,
    rowsCopied: 1200,
    bytesCopied: 5_000_000,
    bytesPerSecond: 1_000_000,
    etaSeconds: 8,
    restarts: 0,
  } as const;
  assert.equal(describeCopy(old), 'copy, 40% (3/8 ranges, 1200 rows, 5 MB), 1 MB/s, ETA 8.0s');
});

const tp = (table: string, done: boolean, sourceRows: number, chunks: number): TableProgress => ({
  table,
  keyless: false,
  done,
  after: null,
  chunks,
  sourceRows,
  targetRows: sourceRows,
  sourceSum: '0',
  targetSum: '0',
  differing: [],
  moreDiffering: 0,
});

test('the validation: rows of the estimate, never 100% before its last chunk, then exact', () => {
  const estimates = new Map([
    ['a', { rows: 40_000 }],
    ['b', { rows: 1000 }],
  ]);
  const w = new RateWindow();
  const start = validationProgressOf({ tables: ['a', 'b'], round: 1, progress: [] }, estimates, w, 0);
  assert.deepEqual([start.phase, start.fraction, start.rowsTotal, start.etaSeconds], ['compare', 0, 41_000, null]);
  const mid = validationProgressOf(
    { tables: ['a', 'b'], round: 1, progress: [tp('a', false, 20_000, 1)] },
    estimates,
    w,
    2000,
  );
  assert.deepEqual(
    [mid.fraction.toFixed(3), mid.rowsPerSecond, mid.etaSeconds, mid.chunksDone],
    ['0.488', 10_000, 2, 1],
  );
  assert.equal(
    describeValidation(mid),
    'compare, 48% (0/2 tables, 1 chunks, 20000 of ~41000 rows), 10000 rows/s, ETA 2.0s',
  );
  // More rows than estimated: still short of 100% until the last chunk is folded.
  const over = validationProgressOf(
    { tables: ['a', 'b'], round: 1, progress: [tp('a', true, 45_000, 3), tp('b', false, 2000, 1)] },
    estimates,
    w,
    3000,
  );
  assert.ok(over.fraction < 1, `${over.fraction}`);
  const done = validationProgressOf(
    { tables: ['a', 'b'], round: 1, progress: [tp('a', true, 45_000, 3), tp('b', true, 2100, 1)] },
    estimates,
    w,
    4000,
  );
  assert.deepEqual(
    [done.phase, done.fraction, done.rowsDone, done.rowsTotal, done.etaSeconds],
    ['done', 1, 47_100, 47_100, 0],
  );
});

test('status: one line per step in progress; --database adds the copy table by table', () => {
  const d = {
    ...newDatabaseSummary('m', { name: 'shop', priority: 'high' }, '2026-12-07T00:00:00Z'),
    state: 'FULL_DUMP' as const,
    copy: 'copy, 50% (...)',
    catchUp: 'lag 6 MB, falling 2 MB/s, ETA 3.0s',
    validating: 'compare, 48% (...)',
    progress: {
      copy: {
        phase: 'copy' as const,
        rangesDone: 1,
        ranges: 2,
        fraction: 0.5,
        rowsCopied: 10,
        bytesCopied: 2_000_000,
        bytesPerSecond: null,
        etaSeconds: null,
        restarts: 0,
        tables: [
          {
            table: 'public.orders',
            rangesDone: 1,
            ranges: 2,
            fraction: 0.5,
            rowsCopied: 10,
            rowsTotal: 20,
            bytesCopied: 2_000_000,
            bytesTotal: 4_000_000,
          },
        ],
        moreTables: 3,
      },
    },
  };
  const status: FleetStatus = {
    migrationId: 'm',
    platform: 'local',
    paused: false,
    concurrency: 1,
    databases: [d],
  } as unknown as FleetStatus;
  const text = statusTable(status);
  assert.match(text, /shop \(FULL_DUMP\), copy: copy, 50%/);
  assert.match(text, /shop \(FULL_DUMP\), catch-up: lag 6 MB/);
  assert.match(text, /shop \(FULL_DUMP\), validating: compare, 48%/);
  const detail = databaseDetail(onlyDatabase(status, 'shop'));
  assert.match(detail, /public\.orders\s+50%\s+1\/2\s+10 of ~20\s+2 MB of ~4 MB/);
  assert.match(detail, /and 3 smaller table/);
  assert.throws(() => onlyDatabase(status, 'nope'), /no database "nope" \(it has: shop\)/);
});
