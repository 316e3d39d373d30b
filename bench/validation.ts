// Issue 19, P7: the live validation while ~500 writes/s run on the source. The chunked comparison
// at a consistent point (activities/engines/postgres/validate-live.ts, what validateData 'live'
// runs) against the whole-table digest it replaced (compareTables 'live', validate.ts: source,
// target, source again, up to 5 rounds, "drift" when the table keeps changing), alternately in one
// process (ABBA: odd rounds run the baseline first), at 1x and then 2x the data. Both read the same
// tables of one real publication and subscription (PostgreSQL clusters of the local platform).
//   npx tsx bench/validation.ts [ROUNDS=5] [--rows 1000000] [--rate 500]
// Data: `items` (ROWS rows at 1x, twice that at 2x; a primary key and three secondary indexes),
// `accounts` (2,000 rows, primary key), `events` (10,000 rows, no primary key). The write load
// (bench/load.ts): 4 connections, inserts, updates and deletes on items, updates on accounts.
// Reported per run: seconds, the verdict (exact: every table "match" at a point; the baseline's
// "drift" is a table it could not decide), and this process's peak RSS above its RSS at the
// start of the run (the worker's memory: the comparison streams aggregates, it loads no table).
// Prints tables; asserts nothing. Failed runs are listed, never dropped.
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalClusters, type ClusterInfo } from '../activities/platforms/local/clusters';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { ensureOwnedObjects } from '../activities/engines/postgres/owned';
import { compareTables } from '../activities/engines/postgres/validate';
import { compareLive } from '../activities/engines/postgres/validate-live';
import type { ValidationResult } from '../activities/steps';
import { table } from '../cli/format';
import { publishAndSubscribe, slotLagBytes, subscriptionTables } from './hand';
import { addAccountsTable, median, sleep, WriteLoad } from './load';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rows: { type: 'string', default: '1000000' }, rate: { type: 'string', default: '500' } },
});
const ROUNDS = Number(positionals[0] ?? 5);
const ROWS = Number(values.rows);
const RATE = Number(values.rate);
const STATE = resolve('.local-platform', 'bench-validation');
const DB = 'validation';
const JOB = 'bench_validation';
const TABLES = ['public.accounts', 'public.events', 'public.items'];
const on = (c: ClusterInfo): ConnectionParams => ({ ...c, database: DB });

interface Run {
  size: string;
  round: number;
  path: 'chunked' | 'whole-table';
  seconds?: number;
  verdict?: string;
  exact?: boolean;
  rssMb?: number;
  writesPerSec?: number;
  error?: string;
}

async function fill(c: ClusterInfo, from: number, to: number): Promise<void> {
  await withClient(on(c), (s) =>
    s.query(
      `insert into items (id, sku, qty, price)
       select g, 'sku-' || g, g % 97, (g % 1000) / 10.0 from generate_series($1::int, $2::int) g`,
      [from, to],
    ),
  );
}

async function setUp(src: ClusterInfo, tgt: ClusterInfo): Promise<void> {
  const schema = `create table items (id bigserial primary key, sku text not null, qty integer not null,
                    price numeric(12,2) not null, updated_at timestamptz not null default now());
                  create index on items (sku); create index on items (qty); create index on items (updated_at);
                  create table events (kind text not null, n integer not null);
                  alter table events replica identity full`;
  for (const c of [src, tgt]) await withClient({ ...c, database: 'postgres' }, (s) => s.query(`create database ${DB}`));
  await withClient(on(src), async (s) => {
    await s.query(schema);
    await addAccountsTable(s);
    await s.query(`insert into events select 'e' || (g % 10), g from generate_series(1, 10000) g`);
    await ensureOwnedObjects(s, JOB);
  });
  await fill(src, 1, ROWS);
  await withClient(on(src), (s) => s.query(`select setval('items_id_seq', $1)`, [ROWS * 2 + 1]));
  await withClient(on(tgt), async (t) => {
    await t.query(schema);
    await addAccountsTable(t);
    await t.query('truncate accounts');
    await ensureOwnedObjects(t);
  });
  await publishAndSubscribe(on(src), on(tgt), [...TABLES, 'dbmig.fence', 'dbmig.heartbeat'], 'bench_validation');
  await withClient(on(tgt), async (t) => {
    for (;;) {
      const s = await subscriptionTables(t, 'bench_validation');
      if (s.total === TABLES.length + 2 && s.ready === s.total) return;
      await sleep(200);
    }
  });
}

/** Until the subscription has confirmed what the source wrote (the baseline gets no head start). */
async function caughtUp(src: ClusterInfo): Promise<void> {
  await withClient(on(src), async (s) => {
    while (((await slotLagBytes(s, 'bench_validation')) ?? 0) > 1_000_000) await sleep(200);
  });
}

async function measure(load: WriteLoad, fn: () => Promise<ValidationResult>): Promise<Omit<Run, 'size' | 'round'>> {
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const writes0 = load.attempts.filter((a) => a.ok).length;
  const started = Date.now();
  try {
    const r = await fn();
    const seconds = (Date.now() - started) / 1000;
    const verdicts = r.tables.map((t) => t.verdict);
    const count = (v: string) => verdicts.filter((x) => x === v).length;
    return {
      path: 'chunked',
      seconds,
      exact: r.ok && count('match') === verdicts.length,
      verdict:
        `${r.ok ? 'ok' : 'NOT ok'}: ${count('match')} match, ` +
        `${count('drift')} drift, ${count('mismatch')} mismatch`,
      rssMb: (peak - rss0) / 1e6,
      writesPerSec: (load.attempts.filter((a) => a.ok).length - writes0) / seconds,
    };
  } catch (err) {
    return { path: 'chunked', error: (err as Error).message };
  } finally {
    clearInterval(sampler);
  }
}

async function main(): Promise<void> {
  await rm(STATE, { recursive: true, force: true });
  const clusters = new LocalClusters(STATE);
  const [src, tgt] = await Promise.all([clusters.ensure('source'), clusters.ensure('target')]);
  const runs: Run[] = [];
  let load: WriteLoad | undefined;
  try {
    await setUp(src, tgt);
    load = new WriteLoad(on(src), { connections: 4, ratePerSec: RATE, keyRange: ROWS });
    for (const size of ['1x', '2x'] as const) {
      if (size === '2x') {
        await fill(src, ROWS + 1, ROWS * 2);
        await caughtUp(src);
      }
      for (let round = 1; round <= ROUNDS; round++) {
        const chunked = () => measure(load!, () => compareLive({ source: on(src), target: on(tgt), job: JOB }, TABLES));
        const whole = async () => {
          const r = await measure(load!, () =>
            withClient(on(src), (s) => withClient(on(tgt), (t) => compareTables(s, t, TABLES, 'live'))),
          );
          return { ...r, path: 'whole-table' as const };
        };
        const order = round % 2 ? [whole, chunked] : [chunked, whole];
        for (const f of order) {
          await caughtUp(src);
          const r = await f();
          runs.push({ size, round, ...r });
          console.error(`${size} round ${round} ${r.path}: ${r.error ?? `${r.seconds?.toFixed(1)} s, ${r.verdict}`}`);
        }
      }
    }
  } finally {
    await load?.stop();
    await withClient(on(tgt), (t) => t.query('drop subscription if exists bench_validation')).catch(() => undefined);
    for (const c of ['source', 'target']) await clusters.destroy(c).catch(() => undefined);
    await rm(STATE, { recursive: true, force: true });
  }
  report(runs);
}

function report(runs: Run[]): void {
  console.log(
    table(
      ['SIZE', 'ROUND', 'PATH', 'SECONDS', 'WRITES/S', 'RSS+MB', 'EXACT', 'VERDICT'],
      runs.map((r) => [
        r.size,
        String(r.round),
        r.path,
        r.seconds?.toFixed(1) ?? '-',
        r.writesPerSec?.toFixed(0) ?? '-',
        r.rssMb?.toFixed(1) ?? '-',
        r.error ? 'FAILED' : r.exact ? 'yes' : 'no',
        r.error ?? r.verdict ?? '',
      ]),
    ),
  );
  const rows: string[][] = [];
  for (const size of ['1x', '2x']) {
    const ratios: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const [w, c] = (['whole-table', 'chunked'] as const).map((p) =>
        runs.find((r) => r.size === size && r.round === round && r.path === p && r.seconds !== undefined),
      );
      if (w && c) ratios.push(w.seconds! / c.seconds!);
    }
    const of = (p: string) => runs.filter((r) => r.size === size && r.path === p);
    for (const p of ['chunked', 'whole-table'])
      rows.push([
        size,
        p,
        median(of(p).flatMap((r) => (r.seconds === undefined ? [] : [r.seconds]))).toFixed(1),
        `${of(p).filter((r) => r.exact).length}/${of(p).length}`,
        median(of(p).flatMap((r) => (r.rssMb === undefined ? [] : [r.rssMb]))).toFixed(1),
        String(of(p).filter((r) => r.error).length),
        p === 'chunked' ? `${median(ratios).toFixed(2)}x (${ratios.length} rounds)` : '',
      ]);
  }
  console.log(
    '\n' +
      table(
        ['SIZE', 'PATH', 'MEDIAN_S', 'EXACT', 'MEDIAN_RSS+MB', 'FAILED', 'SPEEDUP (median of per-round ratios)'],
        rows,
      ),
  );
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
