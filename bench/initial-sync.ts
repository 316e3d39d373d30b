// Issue 8, point 10, P3: from start to ready-for-cutover. The same data (ROWS rows over four
// tables of different widths, two of them with secondary indexes) is migrated, alternately in one
// process and onto the same target cluster, each time from its own copy of the source database:
//   hand   pg_dump --schema-only | psql into a fresh database, CREATE PUBLICATION ... FOR TABLE on
//          the source, CREATE SUBSCRIPTION on the target; ready when every table in
//          pg_subscription_rel is 'r' and the slot's lag is under 1 MB. Polled every 100 ms: it
//          stands for what PostgreSQL itself takes.
//   dbmig  LocalPlatform in the workflow's order: provisionTarget → reserveCapacity →
//          createMigrationJob → verifyMigrationJob → startMigrationJob, then, as waitForFullDump
//          does, copyInitialData (the snapshot copy: --method snapshot, the default) and
//          getReplicationStatus polled as activities/replication-waits.ts polls it (until CDC, then
//          waitForReplicationReady until lag <= the plan's lagThresholdSeconds, every POLL_MS).
//          The workflow's stableWindow on top of that, and Temporal's own scheduling, are not counted.
// Runs go hand, dbmig, dbmig, hand, ... (ABBA), so drift on a shared machine hits both alike. No
// writes run during the copy (--trickle adds some): the comparison is about the copy and the
// machinery around it. The copy is short at 1M rows (a few seconds), so fixed costs weigh a lot:
// use 10 rounds or more for a stable ratio. Prints tables; asserts nothing.
//   npm run bench:sync -- [ROUNDS=2] [--rows 1000000] [--poll-ms 250] [--trickle 0]
//                         [--method snapshot|native] [--streams 4] [--shape mixed|dominant]
//                         [--paths hand,dbmig] [--in-place]
// --shape dominant (P6): one table of 92% of the rows with three secondary indexes, two small ones.
// --paths dbmig --in-place (P6's growth at 4x the data): dbmig alone, reading the source data
// itself instead of a copy of it per run, so 20 GB need the disk of one source and one target.
//
// Columns (seconds): SCHEMA the target database and its schema; SETUP reserve/create/verify/start
// (dbmig) or publication and subscription (hand); COPY from then until every table of the
// subscription is 'r', as a 100 ms observer on the target sees it (the same observer for both; a
// snapshot copy's tables are 'r' from the start, so its COPY is copyInitialData's own time);
// DETECT from there until the path reports ready (the observer's time, or the path's own if it saw
// it first); TOTAL start → ready. Progress lines on stderr add each dbmig call's seconds.
import { rm } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { POLL_MS as WORKFLOW_POLL_MS } from '../activities';
import { LocalPlatform } from '../activities/platforms/local';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import type { DatabaseTask } from '../activities/steps';
import { table } from '../cli/format';
import { resourceNames } from '../common/naming';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { planFor } from '../test/fixtures/fleet';
import { copySchema, createDatabase, publishAndSubscribe, slotLagBytes, subscriptionTables } from './hand';
import { dropDatabase, median, params, sleep, type Env } from './load';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rows: { type: 'string', default: '1000000' },
    // As the workflow's waits poll (activities/replication-waits.ts POLL_MS).
    'poll-ms': { type: 'string', default: String(WORKFLOW_POLL_MS.fullDump) },
    trickle: { type: 'string', default: '0' },
    method: { type: 'string', default: 'snapshot' },
    streams: { type: 'string', default: '4' },
    shape: { type: 'string', default: 'mixed' },
    paths: { type: 'string', default: 'hand,dbmig' },
    'in-place': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(positionals[0] ?? 2);
const ROWS = Number(values.rows);
const POLL_MS = Number(values['poll-ms']);
const TRICKLE = Number(values.trickle);
const METHOD = values.method as 'snapshot' | 'native';
const STREAMS = Number(values.streams);
if (!['snapshot', 'native'].includes(METHOD)) throw new Error(`--method: snapshot or native, not ${METHOD}`);
const PATHS = values.paths!.split(',') as Path[];
if (!PATHS.length || PATHS.some((p) => p !== 'hand' && p !== 'dbmig'))
  throw new Error(`--paths: hand, dbmig or both, not ${values.paths}`);
const IN_PLACE = values['in-place']!;
// The hand path's clean-up drops its source database; in place, that would be the data itself.
if (IN_PLACE && PATHS.includes('hand')) throw new Error('--in-place: with --paths dbmig only');
const HAND_POLL_MS = 100;
const OBSERVER_MS = 100;
const HAND_READY_LAG_BYTES = 1024 * 1024;
/** Declared size: workerCount(1 GB) = 1, so reserveCapacity leaves max_sync_workers_per_subscription at 4. */
const SIZE_GB = 1;
const STATE_DIR = '/tmp/bench-p3';
const TEMPLATE = `p3_template_${values.shape}`;

/** Four tables of different row widths; orders and docs carry secondary indexes. */
type TableSpec = { name: string; share: number; ddl: string[]; fill: (n: number) => string };

/** The mixed shape (P3): four tables of different row widths; orders and docs carry secondary indexes. */
const MIXED: TableSpec[] = [
  {
    name: 'narrow',
    share: 0.5,
    ddl: ['create table narrow (id bigint primary key, a integer not null, b integer not null)'],
    fill: (n) => `insert into narrow select g, g % 1000, g % 7 from generate_series(1, ${n}) g`,
  },
  {
    name: 'orders',
    share: 0.3,
    ddl: [
      `create table orders (id bigserial primary key, customer_id integer not null, status text not null,
         amount numeric(12,2) not null, created_at timestamptz not null)`,
      'create index orders_customer on orders (customer_id)',
      'create index orders_status_created on orders (status, created_at)',
    ],
    fill: (n) =>
      `insert into orders (customer_id, status, amount, created_at)
       select g % 50000, (array['new', 'paid', 'shipped', 'returned'])[1 + g % 4], (g % 100000) / 100.0,
              timestamptz '2024-01-01' + g * interval '1 second'
         from generate_series(1, ${n}) g`,
  },
  {
    name: 'wide',
    share: 0.12,
    ddl: ['create table wide (id bigint primary key, name text not null, payload text not null, attrs jsonb not null)'],
    fill: (n) =>
      `insert into wide select g, 'name-' || g, repeat(md5(g::text), 6),
              jsonb_build_object('k', g, 'tags', jsonb_build_array('a', 'b', g % 10))
         from generate_series(1, ${n}) g`,
  },
  {
    name: 'docs',
    share: 0.08,
    ddl: [
      'create table docs (id uuid primary key default gen_random_uuid(), title text not null, body text not null)',
      'create index docs_title on docs (title)',
    ],
    fill: (n) =>
      `insert into docs (title, body) select 'doc ' || g, repeat(md5(g::text) || ' ', 30)
         from generate_series(1, ${n}) g`,
  },
];
/** The P6 shape: one dominant table with three secondary indexes, plus two small tables. */
const DOMINANT: TableSpec[] = [
  {
    name: 'events',
    share: 0.92,
    ddl: [
      `create table events (id bigserial primary key, account integer not null, kind text not null,
         amount numeric(12,2) not null, at timestamptz not null, note text not null)`,
      'create index events_account on events (account)',
      'create index events_kind_at on events (kind, at)',
      'create index events_at on events (at)',
    ],
    fill: (n) =>
      `insert into events (account, kind, amount, at, note)
       select g % 200000, (array['debit', 'credit', 'hold', 'release'])[1 + g % 4], (g % 100000) / 100.0,
              timestamptz '2024-01-01' + g * interval '1 second', md5(g::text)
         from generate_series(1, ${n}) g`,
  },
  {
    name: 'accounts',
    share: 0.05,
    ddl: ['create table accounts (id bigint primary key, name text not null, opened date not null)'],
    fill: (n) =>
      `insert into accounts select g, 'acct ' || g, date '2020-01-01' + (g % 1500) from generate_series(1, ${n}) g`,
  },
  {
    name: 'rates',
    share: 0.03,
    ddl: ['create table rates (code text primary key, rate numeric(10,6) not null)'],
    fill: (n) => `insert into rates select 'c' || g, g / 1000.0 from generate_series(1, ${n}) g`,
  },
];
if (!['mixed', 'dominant'].includes(values.shape!)) throw new Error(`--shape: mixed or dominant, not ${values.shape}`);
const TABLES = values.shape === 'dominant' ? DOMINANT : MIXED;
const APP_TABLES = TABLES.map((t) => `public.${t.name}`);

type Path = 'hand' | 'dbmig';

interface Sample {
  path: Path;
  round: number;
  rows: number;
  schema: number;
  setup: number;
  copy?: number;
  detect?: number;
  total: number;
  /** Seconds from start until each table (dbmig's own included) was first seen copying, and 'r'. */
  tablesStarted: Record<string, number>;
  tablesReady: Record<string, number>;
  /** dbmig: each platform call after provisionTarget and its seconds, in order. */
  calls?: string;
  error?: string;
}

/** The source data, once: every run copies this database (CREATE DATABASE ... TEMPLATE). */
async function createTemplate(env: Env): Promise<number> {
  await withClient(params(env.source, 'postgres'), (c) => c.query(`create database ${TEMPLATE}`));
  let total = 0;
  await withClient(params(env.source, TEMPLATE), async (c) => {
    for (const [i, t] of TABLES.entries()) {
      const n = i === TABLES.length - 1 ? ROWS - total : Math.floor(ROWS * t.share);
      total += n;
      await c.query(t.ddl[0]);
      await c.query(t.fill(n));
      for (const ddl of t.ddl.slice(1)) await c.query(ddl);
    }
    // Frozen, hinted and analysed once, so no copy's first read writes or vacuums anything.
    await c.query('vacuum (freeze, analyze)');
  });
  return total;
}

/** The source database's size on disk, and its largest table's with its indexes: what "5 GB" means. */
async function dataSize(env: Env): Promise<string> {
  return withClient(params(env.source, TEMPLATE), async (c) => {
    const { rows } = await c.query<{ db: string; top: string; name: string }>(
      `select pg_size_pretty(pg_database_size(current_database())) as db,
              pg_size_pretty(pg_total_relation_size($1::regclass)) as top, $1 as name`,
      [TABLES[0].name],
    );
    return `${rows[0].db} on disk, ${rows[0].name} ${rows[0].top} with its indexes`;
  });
}

/** A run's own copy of the source data; FILE_COPY copies the files instead of WAL-logging every block. */
async function copySource(env: Env, name: string): Promise<void> {
  if (IN_PLACE) return;
  await withClient(params(env.source, 'postgres'), (c) =>
    c.query(`create database ${pg.escapeIdentifier(name)} template ${TEMPLATE} strategy file_copy`),
  );
}

/** Each run starts with nothing dirty on either cluster from the previous one. */
async function checkpoints(env: Env): Promise<void> {
  for (const c of [env.source, env.target]) await withClient(params(c, 'postgres'), (x) => x.query('checkpoint'));
}

async function rowsOn(target: ConnectionParams): Promise<number> {
  return withClient(target, async (c) => {
    let n = 0;
    for (const t of APP_TABLES) n += Number((await c.query<{ n: string }>(`select count(*) as n from ${t}`)).rows[0].n);
    return n;
  });
}

/**
 * Watches a subscription's tables on the target every OBSERVER_MS from outside either path: when
 * each table was first 'r', and when all were. Both paths get the same observer, so COPY is
 * measured alike and DETECT shows what a path adds after PostgreSQL has finished.
 */
class Observer {
  readonly tablesReady: Record<string, number> = {};
  readonly tablesStarted: Record<string, number> = {};
  allReadyAt?: number;
  private stopped = false;
  private error?: Error;
  private readonly loop: Promise<void>;

  constructor(
    target: ConnectionParams,
    sub: string,
    private readonly start: number,
  ) {
    this.loop = withClient(target, async (t) => {
      while (!this.stopped && this.allReadyAt === undefined) {
        const { rows } = await t.query<{ rel: string; state: string }>(
          `select r.srrelid::regclass::text as rel, r.srsubstate as state
             from pg_subscription s join pg_subscription_rel r on r.srsubid = s.oid where s.subname = $1`,
          [sub],
        );
        const now = Date.now();
        for (const r of rows) {
          // 'd': a table-sync worker copies it; anything past 'i' means one has started on it.
          if (r.state !== 'i') this.tablesStarted[r.rel] ??= (now - start) / 1000;
          if (r.state === 'r') this.tablesReady[r.rel] ??= (now - start) / 1000;
        }
        if (rows.length && rows.every((r) => r.state === 'r')) this.allReadyAt = now;
        else await sleep(OBSERVER_MS);
      }
    }).catch((err: Error) => {
      this.error = err;
    });
  }

  /**
   * Stops watching. `seenAt`: when the path itself saw every table ready; it may poll before the
   * observer does, and then its time counts for the tables the observer had not seen ready yet.
   */
  async stop(seenAt?: number): Promise<void> {
    this.stopped = true;
    await this.loop;
    if (this.error) throw this.error;
    if (seenAt === undefined || (this.allReadyAt !== undefined && this.allReadyAt <= seenAt)) return;
    this.allReadyAt = seenAt;
    for (const t of Object.keys(this.tablesStarted)) this.tablesReady[t] ??= (seenAt - this.start) / 1000;
  }
}

const secs = (ms: number) => ms / 1000;

/**
 * --trickle N: N one-row updates a second on the source while a run copies, as an application's
 * background writes would be. 0 (the default) leaves the source idle, which spares the hand path
 * something dbmig's own heartbeat (one row written on the source per status read) does not.
 */
class Trickle {
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(src: ConnectionParams, perSec: number) {
    this.loop =
      perSec <= 0
        ? Promise.resolve()
        : withClient(src, async (c) => {
            while (!this.stopped) {
              await c.query('update narrow set b = b + 1 where id = $1', [1 + Math.floor(Math.random() * 1000)]);
              await sleep(1000 / perSec);
            }
          }).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

async function handRun(env: Env, round: number): Promise<Sample> {
  const name = `is_${env.tag}_h${round}`;
  const sub = `hand_${name}`;
  const src = params(env.source, name);
  const tgt = params(env.target, name);
  await copySource(env, name);
  await checkpoints(env);
  const trickle = new Trickle(src, TRICKLE);
  try {
    const start = Date.now();
    await createDatabase(tgt, name);
    await copySchema(src, tgt);
    const schema = Date.now();
    await publishAndSubscribe(src, tgt, APP_TABLES, sub);
    const setup = Date.now();
    const observer = new Observer(tgt, sub, start);
    let copied = 0;
    await withClient(tgt, async (t) => {
      for (;;) {
        const s = await subscriptionTables(t, sub);
        if (s.total > 0 && s.ready === s.total) break;
        await sleep(HAND_POLL_MS);
      }
      copied = Date.now();
    });
    await withClient(src, async (s) => {
      for (;;) {
        const lag = await slotLagBytes(s, sub);
        if (lag !== undefined && lag <= HAND_READY_LAG_BYTES) break;
        await sleep(HAND_POLL_MS);
      }
    });
    const ready = Date.now();
    await observer.stop(copied);
    const seen = observer.allReadyAt!;
    return {
      path: 'hand',
      round,
      rows: await rowsOn(tgt),
      schema: secs(schema - start),
      setup: secs(setup - schema),
      copy: secs(seen - setup),
      detect: secs(ready - seen),
      total: secs(ready - start),
      tablesStarted: observer.tablesStarted,
      tablesReady: observer.tablesReady,
    };
  } finally {
    await trickle.stop();
    await dropDatabase(env.target, name);
    await dropDatabase(env.source, name);
  }
}

async function dbmigRun(env: Env, round: number): Promise<Sample> {
  const { platform } = env;
  const name = IN_PLACE ? TEMPLATE : `is_${env.tag}_d${round}`;
  const migrationId = `p3-${env.tag}-${round}`;
  await copySource(env, name);
  const plan = validatePlan(
    planFor(env.source, [{ name, rows: ROWS, priority: 'high', sizeGb: SIZE_GB }], 'env:DBMIG_BENCH_PASSWORD', {
      migrationId,
      copy: { method: METHOD, streams: STREAMS },
    }),
  );
  const task: DatabaseTask = {
    migrationId,
    platform: 'local',
    database: plan.databases[0],
    settings: effectiveSettings(plan, plan.databases[0]),
  };
  await checkpoints(env);
  const trickle = new Trickle(params(env.source, name), TRICKLE);
  try {
    const start = Date.now();
    await platform.provisionTarget(task);
    const schema = Date.now();
    const parts: string[] = [];
    const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      const t = Date.now();
      const out = await fn();
      parts.push(`${what} ${secs(Date.now() - t).toFixed(2)}`);
      return out;
    };
    await timed('reserveCapacity', () => platform.reserveCapacity(task));
    await timed('createMigrationJob', () => platform.createMigrationJob(task));
    const problems = await timed('verifyMigrationJob', () => platform.verifyMigrationJob(task));
    if (problems.length) throw new Error(`verifyMigrationJob: ${problems.join('; ')}`);
    await timed('startMigrationJob', () => platform.startMigrationJob(task));
    const setup = Date.now();
    const observer = new Observer(params(env.target, name), resourceNames(migrationId, name).subscription, start);
    // waitForFullDump runs the platform's own copy first (activities/replication-waits.ts).
    await timed('copyInitialData', async () => platform.copyInitialData?.(task, () => undefined));
    // waitForFullDump, then waitForReplicationReady (activities/replication-waits.ts), without Temporal around them.
    const status = () => timed('getReplicationStatus', () => platform.getReplicationStatus(task));
    while ((await status()).phase !== 'CDC') await sleep(POLL_MS);
    const cdcAt = Date.now();
    const { lagThresholdSeconds } = task.settings;
    for (;;) {
      const s = await status();
      if (s.phase === 'CDC' && s.lagSeconds !== null && s.lagSeconds <= lagThresholdSeconds) break;
      await sleep(POLL_MS);
    }
    const ready = Date.now();
    await observer.stop(cdcAt);
    const seen = observer.allReadyAt;
    return {
      path: 'dbmig',
      round,
      rows: await rowsOn(params(env.target, name)),
      schema: secs(schema - start),
      setup: secs(setup - schema),
      copy: seen === undefined ? undefined : secs(seen - setup),
      detect: seen === undefined ? undefined : secs(ready - seen),
      total: secs(ready - start),
      tablesStarted: observer.tablesStarted,
      tablesReady: observer.tablesReady,
      calls: parts.join(', '),
    };
  } finally {
    await trickle.stop();
    await platform.deleteMigrationJob(task).catch(() => undefined);
    await platform.releaseCapacity(task).catch(() => undefined);
    await platform.deleteTarget(task).catch(() => undefined);
    await dropDatabase(env.target, name);
    if (!IN_PLACE) await dropDatabase(env.source, name);
  }
}

const f = (n: number | undefined, digits = 2) => (n === undefined ? '-' : n.toFixed(digits));

/** Per table, seconds from start: first seen copying → first seen ready, in the order they became ready. */
function tablesLine(s: Sample): string {
  return Object.entries(s.tablesReady)
    .sort((a, b) => a[1] - b[1])
    .map(([t, at]) => `${t.replace(/^public\./, '')} ${f(s.tablesStarted[t], 1)}-${at.toFixed(1)}`)
    .join(', ');
}

async function main(): Promise<void> {
  await rm(STATE_DIR, { recursive: true, force: true });
  const platform = new LocalPlatform(STATE_DIR);
  const env: Env = {
    platform,
    source: await platform.clusters.ensure('source'),
    target: await platform.clusters.ensure('fleet-target'),
    tag: Date.now().toString(36),
  };
  process.env.DBMIG_BENCH_PASSWORD = env.source.password;
  const samples: Sample[] = [];
  let total = 0;
  let size = '';
  try {
    const built = Date.now();
    total = await createTemplate(env);
    size = await dataSize(env);
    console.error(`source data: ${total} rows, ${size} in ${((Date.now() - built) / 1000).toFixed(1)} s`);
    for (let round = 0; round < ROUNDS; round++) {
      // hand, dbmig, dbmig, hand, ...: neither path always runs second, on a machine the other just warmed.
      const order = (round % 2 ? ['dbmig', 'hand'] : ['hand', 'dbmig']) as Path[];
      for (const path of order.filter((p) => PATHS.includes(p))) {
        const s = await (path === 'hand' ? handRun(env, round) : dbmigRun(env, round)).catch((err: Error): Sample => ({
          path,
          round,
          rows: 0,
          schema: NaN,
          setup: NaN,
          total: NaN,
          tablesStarted: {},
          tablesReady: {},
          error: err.message.slice(0, 200),
        }));
        samples.push(s);
        console.error(
          `[${new Date().toISOString()}] round ${round} ${path}: ${f(s.total)} s, ${s.rows} rows; ` +
            `tables (s): ${tablesLine(s)}` +
            (s.calls ? `; calls (s): ${s.calls}` : '') +
            (s.error ? `; ERROR ${s.error}` : ''),
        );
      }
    }
  } finally {
    await platform.clusters.destroy('source');
    await platform.clusters.destroy('fleet-target');
    await rm(STATE_DIR, { recursive: true, force: true });
  }

  const ok = samples.filter((s) => !s.error);
  const handOf = (round: number) => ok.find((s) => s.path === 'hand' && s.round === round);
  console.log(
    `start to ready-for-cutover: ${total} rows in ${TABLES.length} tables (${size}), ` +
      `${ROUNDS} rounds of ${PATHS.length > 1 ? 'hand and dbmig (ABBA order; ' : `${PATHS[0]} alone (`}` +
      `${IN_PLACE ? 'in place; ' : ''}dbmig copy ${METHOD}` +
      `${METHOD === 'snapshot' ? `, ${STREAMS} streams` : ''}), ` +
      `dbmig polled every ${POLL_MS} ms (as the workflow), hand every ${HAND_POLL_MS} ms; seconds`,
  );
  console.log(
    table(
      [
        'ROUND',
        'PATH',
        'ROWS',
        'SCHEMA',
        'SETUP',
        'COPY',
        'DETECT',
        'TOTAL',
        'DBMIG/HAND',
        'TABLES_COPYING_FROM-READY_AT',
      ],
      samples.map((s) => {
        const hand = handOf(s.round);
        return [
          String(s.round),
          s.path,
          String(s.rows),
          f(s.schema),
          f(s.setup),
          f(s.copy),
          f(s.detect),
          s.error ? `ERROR ${s.error}` : f(s.total),
          s.path === 'dbmig' && hand && !s.error ? f(s.total / hand.total) : '',
          tablesLine(s),
        ];
      }),
    ),
  );
  console.log();
  const rows: string[][] = [];
  const medians: Partial<Record<Path, number>> = {};
  for (const path of ['hand', 'dbmig'] as Path[]) {
    const xs = ok.filter((s) => s.path === path);
    if (!xs.length) continue;
    const m = (k: 'schema' | 'setup' | 'copy' | 'detect' | 'total') =>
      median(xs.map((s) => s[k]).filter((v): v is number => v !== undefined));
    medians[path] = m('total');
    rows.push([path, String(xs.length), f(m('schema')), f(m('setup')), f(m('copy')), f(m('detect')), f(m('total'))]);
  }
  console.log(table(['PATH', 'RUNS', 'SCHEMA', 'SETUP', 'COPY', 'DETECT', 'TOTAL'], rows) + '  (medians)');
  const perRound = ok.filter((s) => s.path === 'dbmig' && handOf(s.round)).map((s) => s.total / handOf(s.round)!.total);
  if (medians.hand && medians.dbmig)
    console.log(
      `ratio dbmig/hand: ${f(median(perRound))} (median of the per-round ratios ` +
        `${perRound.map((r) => f(r)).join(', ')}; of the median totals ${f(medians.dbmig / medians.hand)}); ` +
        'target <= 1.10',
    );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
