// The gcp cutover (activities/platforms/gcp/cutover/index.ts) against real PostgreSQL clusters: a source
// and a "target" fed by native logical replication standing in for DMS (commit-order apply, like
// pglogical). promote() stops the subscription, as DMS stops reading the source at promotion;
// freshLag() answers from a stub. Each scenario reports the write-block window it measured. A worker
// "dies" by having its source sessions terminated and its DMS calls never answered; no write the
// application committed may be missing from the target, whatever dies when.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import pg from 'pg';
import { LocalClusters, type ClusterInfo } from '../activities/platforms/local/clusters';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { ensureOwnedObjects } from '../activities/engines/postgres/owned';
import { gcpCutover, type GcpCutoverDeps, type LagReading } from '../activities/platforms/gcp/cutover';
import { carriedTables, fenceJob, prepareSourceFence, sourceClosed } from '../activities/platforms/gcp/cutover/fence';
import { readCloseRecord } from '../activities/platforms/gcp/cutover/source-close-record';
import type { DatabaseTask } from '../activities/steps';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { createSourceDatabase } from './fixtures/fleet';
import { eventually } from './helpers/harness';
import { MigrationError } from '../common/failures';

const stateDir = resolve('.local-platform', 'test-gcp-cutover');
const clusters = new LocalClusters(stateDir);
const PASSWORD_ENV = 'DBMIG_GCPCUT_SOURCE_PASSWORD';
const APP = { user: 'gcpcut_app', password: 'gcpcut-app-password' };
const TIMEOUT = '10s';
const TIMEOUT_MS = 10_000;
/** gcp.promoteTimeout: cutover.timeout keeps this, and a margin each to close and to reopen, for the promote. */
const PROMOTE = '2s';
let source: ClusterInfo;
let target: ClusterInfo;

const isType = (err: unknown, type: string) => err instanceof MigrationError && err.type === type;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const onSource = (db: string): ConnectionParams => ({ ...source, database: db });
const onTarget = (db: string): ConnectionParams => ({ ...target, database: db });

before(async () => {
  await rm(stateDir, { recursive: true, force: true });
  [source, target] = await Promise.all([clusters.ensure('gcpcut-source'), clusters.ensure('gcpcut-target')]);
  process.env[PASSWORD_ENV] = source.password;
  await withClient(onSource('postgres'), (c) =>
    c.query(`create role ${APP.user} login password ${pg.escapeLiteral(APP.password)}`),
  );
});

after(async () => {
  for (const c of ['gcpcut-source', 'gcpcut-target']) await clusters.destroy(c).catch(() => undefined);
  await rm(stateDir, { recursive: true, force: true });
});

function taskFor(
  name: string,
  access: 'direct' | 'dms-only' = 'direct',
  engine = 'postgresql',
  promoteTimeout = PROMOTE,
): DatabaseTask {
  const plan = validatePlan({
    platform: 'gcp',
    gcp: {
      project: 'dbmig-cutover',
      region: 'us-central1',
      zone: 'us-central1-a',
      network: 'projects/dbmig-cutover/global/networks/migration-network',
      promoteTimeout,
    },
    cutover: { timeout: TIMEOUT, maxLagSeconds: 1 },
    databases: [
      {
        name,
        engine,
        priority: 'medium',
        sizeGb: 1,
        source: {
          // dms-only: an address nobody reaches (RFC 5737), and no password: any SQL would fail.
          host: access === 'direct' ? source.host : '203.0.113.50',
          port: access === 'direct' ? source.port : 5432,
          database: name,
          user: source.user,
          passwordRef: access === 'direct' ? `env:${PASSWORD_ENV}` : 'env:DBMIG_GCPCUT_UNSET_PASSWORD',
          access,
        },
        target: { kind: 'cloudsql', instance: 'gcpcut-target', passwordRef: 'env:DBMIG_GCPCUT_TARGET_PASSWORD' },
      },
    ],
  });
  const database = plan.databases[0];
  return {
    migrationId: `gcpcut-${name}`,
    platform: 'gcp',
    database,
    settings: effectiveSettings(plan, database),
    gcp: plan.gcp,
  };
}

/**
 * A source database with dbmig.fence prepared (as createMigrationJob will), and a target copy fed by
 * a subscription that started after it (as the DMS job starts after the fence table exists).
 */
async function replicated(name: string, task = taskFor(name)): Promise<DatabaseTask> {
  await createSourceDatabase(source, { name, rows: 200, priority: 'medium', sizeGb: 1 });
  await withClient(onSource(name), (c) =>
    c.query(`grant select, insert, update, delete on items to ${APP.user}; grant usage on items_id_seq to ${APP.user}`),
  );
  await prepareSourceFence(task);
  await prepareSourceFence(task); // idempotent
  // The tables there when the job starts, as DMS's replication set holds them: a table made later is
  // not replicated, and its changes do not reach (or break) the apply, as with pglogical.
  await withClient(onSource(name), async (c) => {
    const tables = [...(await carriedTables(c)), 'dbmig.fence'];
    await c.query(`create publication dms for table ${tables.join(', ')}`);
  });
  await withClient(onTarget('postgres'), async (c) => {
    await c.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
    await c.query(`create database ${pg.escapeIdentifier(name)}`);
  });
  await withClient(onTarget(name), async (c) => {
    await c.query(`create table items (id bigserial primary key, sku text not null, qty integer not null,
                     price numeric(12,2) not null, updated_at timestamptz not null default now())`);
    await ensureOwnedObjects(c);
    const conn =
      `host=${source.host} port=${source.port} user=${source.user} password=${source.password}` + ` dbname=${name}`;
    await c.query(`create subscription ${name} connection ${pg.escapeLiteral(conn)} publication dms`);
  });
  const until = Date.now() + 60_000;
  await withClient(onTarget(name), async (c) => {
    for (;;) {
      const { rows } = await c.query<{ ready: boolean }>(
        `select not exists (select 1 from pg_subscription_rel where srsubstate <> 'r')
                and exists (select 1 from dbmig.fence) as ready`,
      );
      if (rows[0].ready) return;
      assert.ok(Date.now() < until, `${name}: initial copy not done after 60 s`);
      await sleep(100);
    }
  });
  return task;
}

/**
 * DMS, as far as the cutover sees it: a job that promotes by stopping the subscription. Each
 * deps() is one attempt of a worker; kill() ends that attempt as a dying worker would: its source
 * sessions are terminated and its DMS calls are never answered again.
 */
class FakeDms {
  state = 'RUNNING';
  phase = 'CDC';
  promotes = 0;
  waits = 0;
  lagCalls = 0;
  jobReads = 0;
  promotedAt?: number;
  /** The promote operation DMS lists for the job. */
  op: 'none' | 'pending' | 'succeeded' | 'failed' = 'none';
  /**
   * accept: answered at once. fail: refused before DMS accepted it. die: accepted, then the worker
   * dies. limbo: the request is in flight (an operation pending, the job still in CDC) and the
   * worker dies; settle() answers it later. slow: accepted only after slowMs.
   */
  promoteBehaviour: 'accept' | 'fail' | 'die' | 'limbo' | 'slow' = 'accept';
  slowMs = 0;
  samples?: (since: Date, call: number) => LagReading | undefined;
  private attempt = { dead: false };

  constructor(private readonly db: string) {}

  /** DMS accepts the promote: it stops reading the source. */
  async accept(): Promise<void> {
    await withClient(onTarget(this.db), (c) => c.query(`alter subscription ${this.db} disable`));
    this.phase = 'PROMOTE_IN_PROGRESS';
    this.op = 'succeeded';
    this.promotedAt = Date.now();
  }

  /** Answers a promote left in limbo. */
  async settle(answer: 'accept' | 'refuse'): Promise<void> {
    if (answer === 'accept') await this.accept();
    else this.op = 'failed';
  }

  /** The current attempt's worker dies: its sessions on the source end, its calls hang. */
  async kill(): Promise<void> {
    this.attempt.dead = true;
    await withClient(onSource('postgres'), (c) =>
      c.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where datname = $1 and usename = $2 and backend_type = 'client backend' and pid <> pg_backend_pid()`,
        [this.db, source.user],
      ),
    );
  }

  deps(extra: Partial<GcpCutoverDeps> = {}): GcpCutoverDeps {
    const attempt = (this.attempt = { dead: false });
    const alive =
      <A extends unknown[], T>(fn: (...a: A) => Promise<T>) =>
      (...a: A): Promise<T> =>
        attempt.dead ? new Promise<T>(() => undefined) : fn(...a);
    return {
      jobState: alive(async () => {
        this.jobReads++;
        return { state: this.state, phase: this.phase };
      }),
      freshLag: alive(async (since: Date) => {
        this.lagCalls++;
        if (this.samples) return this.samples(since, this.lagCalls);
        // A sample appears 200 ms after `since`, reading zero.
        const at = new Date(since.getTime() + 200);
        return at.getTime() <= Date.now() ? { seconds: 0, sampledAt: at } : undefined;
      }),
      promote: alive(async () => {
        this.promotes++;
        if (this.op === 'pending')
          throw new Error('400 FAILED_PRECONDITION: a promote of this job is already in progress');
        if (this.promoteBehaviour === 'fail') {
          this.op = 'failed';
          throw new Error('503 Service Unavailable (before DMS accepted it)');
        }
        if (this.promoteBehaviour === 'limbo') {
          await this.kill();
          this.op = 'pending'; // after the death: a resumed attempt's sessions are not the dead one's
          return new Promise<void>(() => undefined);
        }
        if (this.promoteBehaviour === 'die') {
          // Dead first, so the attempt sees nothing of what follows; then DMS accepts.
          await this.kill();
          await this.accept();
          return new Promise<void>(() => undefined);
        }
        if (this.promoteBehaviour === 'slow') {
          this.op = 'pending';
          await sleep(this.slowMs);
        }
        await this.accept();
      }),
      promoteOperation: alive(async () => this.op),
      waitPromoted: alive(async () => {
        this.waits++;
        this.state = 'COMPLETED';
        this.phase = '';
      }),
      target: onTarget(this.db),
      lagPollMs: 50,
      jobPollMs: 50,
      ...extra,
    };
  }
}

/** Application writers (a non-superuser role) inserting one row per transaction; reconnect until refused. */
class Writers {
  committed: number[] = [];
  errors: string[] = [];
  /** When each error happened. */
  errorTimes: number[] = [];
  /** When each commit was acknowledged, to measure the longest stall. */
  private times: number[] = [];
  private stop = false;
  private runs: Promise<void>[] = [];

  constructor(
    private readonly db: string,
    n: number,
  ) {
    for (let i = 0; i < n; i++) this.runs.push(this.run(i));
  }

  private async run(i: number): Promise<void> {
    while (!this.stop) {
      const c = new pg.Client({ ...onSource(this.db), ...APP, connectionTimeoutMillis: 5_000 });
      c.on('error', () => undefined);
      try {
        await c.connect();
      } catch (err) {
        this.errors.push(`connect: ${(err as Error).message}`);
        this.errorTimes.push(Date.now());
        await c.end().catch(() => undefined);
        await sleep(20); // refused (the source is closed): the application tries again, as pools do
        continue;
      }
      try {
        while (!this.stop) {
          const { rows } = await c.query<{ id: string }>(
            `insert into items (sku, qty, price) values ($1, 1, 1) returning id`,
            [`w${i}`],
          );
          this.committed.push(Number(rows[0].id));
          this.times.push(Date.now());
        }
      } catch (err) {
        this.errors.push((err as Error).message);
        this.errorTimes.push(Date.now());
      } finally {
        await c.end().catch(() => undefined);
      }
    }
  }

  /** The longest time without any acknowledged commit, within [from, to]. */
  longestStall(from: number, to: number): number {
    const ts = [from, ...this.times.filter((t) => t >= from && t <= to).sort((a, b) => a - b), to];
    return Math.max(...ts.slice(1).map((t, i) => t - ts[i]));
  }

  /** Refusals and commits since `t`: each writer has tried again since then. */
  triesSince(t: number): number {
    return this.errorTimes.filter((x) => x >= t).length + this.times.filter((x) => x >= t).length;
  }

  /** Commits acknowledged since `t`. */
  commitsSince(t: number): number {
    return this.times.filter((x) => x >= t).length;
  }

  async done(): Promise<void> {
    this.stop = true;
    await Promise.all(this.runs);
  }
}

async function appInsert(db: string): Promise<number> {
  const c = new pg.Client({ ...onSource(db), ...APP, connectionTimeoutMillis: 5_000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    const started = Date.now();
    await c.query(`set statement_timeout = 3000`);
    await c.query(`insert into items (sku, qty, price) values ('probe', 1, 1)`);
    return Date.now() - started;
  } finally {
    await c.end().catch(() => undefined);
  }
}

const fenceSessions = (db: string) =>
  withClient(
    onSource('postgres'),
    async (c) =>
      (await c.query(`select pid from pg_stat_activity where datname = $1 and application_name = 'dbmig fence'`, [db]))
        .rows.length,
  );

const onTargetIds = (db: string, ids: number[]) =>
  withClient(onTarget(db), async (c) => {
    const { rows } = await c.query<{ n: string }>(`select count(*) as n from items where id = any($1::bigint[])`, [
      ids,
    ]);
    return Number(rows[0].n);
  });

/** A session on `p` inside a transaction: what holds a lock on the target's dbmig.fence. */
async function openTransaction(p: ConnectionParams): Promise<pg.Client> {
  const c = new pg.Client(p);
  c.on('error', () => undefined);
  await c.connect();
  await c.query('begin');
  return c;
}

const isClosed = (db: string) => withClient(onSource(db), (c) => sourceClosed(c));
const closeRecord = (task: DatabaseTask) =>
  withClient(onSource(task.database.source.database), (c) => readCloseRecord(c, fenceJob(task)));

function report(t: TestContext, what: string, steps: string[]): void {
  t.diagnostic(`${what}; steps: ${steps.join(' | ')}`);
}

test('writers run through the cutover: the target has every committed row, the source refuses writes', async (t) => {
  const db = 'gc_writers';
  const task = await replicated(db);
  const dms = new FakeDms(db);
  const writers = new Writers(db, 4);
  await eventually('50 rows committed before the cutover', async () => writers.committed.length > 50, 60_000, 20);
  const steps: string[] = [];
  const started = Date.now();
  const result = await gcpCutover(task, dms.deps(), (s) => steps.push(s));
  const ended = Date.now();
  await writers.done();
  assert.equal(dms.promotes, 1);
  assert.equal(dms.waits, 1);
  assert.ok(writers.committed.length > 50, `writers committed ${writers.committed.length} rows`);
  assert.equal(await onTargetIds(db, writers.committed), writers.committed.length, 'every committed row on the target');
  assert.ok(await isClosed(db), 'the source is closed');
  assert.ok(
    writers.errors.some((e) => /permission denied for database/.test(e)),
    `writers were refused: ${writers.errors.join('; ')}`,
  );
  // The superuser (CONNECT does not apply to it) gets a read-only session by default.
  const ro = await new Promise<string>((done) => {
    const c = new pg.Client(onSource(db));
    c.on('error', () => undefined);
    void c
      .connect()
      .then(() => c.query(`insert into items (sku, qty, price) values ('late', 1, 1)`))
      .then(
        () => done('wrote'),
        (e: Error) => done(e.message),
      )
      .finally(() => void c.end().catch(() => undefined));
  });
  assert.match(ro, /read-only transaction/);
  assert.equal(await fenceSessions(db), 0);
  const dbmigLeft = await withClient(
    onTarget(db),
    async (c) => (await c.query(`select to_regclass('dbmig.fence') as r`)).rows[0].r,
  );
  assert.equal(dbmigLeft, null, 'dbmig.fence removed from the promoted target');
  t.diagnostic(
    `write-block window ${result.writeBlockMs} ms (cutover ${ended - started} ms; longest stall seen by writers ` +
      `${writers.longestStall(started, ended)} ms); ${writers.committed.length} rows committed, all on the target`,
  );
  report(t, 'writers', steps);
});

test('a promote DMS refuses: the source, closed for it, is reopened; writers continue; replication runs', async (t) => {
  const db = 'gc_promote_fails';
  const task = await replicated(db);
  const dms = new FakeDms(db);
  dms.promoteBehaviour = 'fail';
  const writers = new Writers(db, 2);
  await eventually('writers committing', async () => writers.committed.length > 0, 60_000, 20);
  const started = Date.now();
  const err = await gcpCutover(task, dms.deps(), () => undefined).then(
    () => undefined,
    (e: unknown) => e,
  );
  const failedAt = Date.now();
  assert.ok(err instanceof Error && /503/.test(err.message), String(err));
  assert.match((err as Error).message, /DMS did not promote: the source was closed for the promote and reopened/);
  // Writers go on once the source is open again: ten more commits, however long a loaded machine takes.
  const before = writers.committed.length;
  for (const until = Date.now() + 60_000; writers.committed.length <= before + 10; await sleep(50))
    assert.ok(Date.now() < until, `writers stopped after the refused promote: ${writers.committed.length - before}`);
  await writers.done();
  assert.equal(dms.promotes, 1);
  assert.equal(await isClosed(db), false);
  assert.equal(await fenceSessions(db), 0);
  assert.equal(await closeRecord(task), undefined, 'the close record is gone with the close');
  const took = await appInsert(db);
  assert.ok(took < 4_000, `an insert took ${took} ms, as if held to the deadline`);
  const sub = await withClient(
    onTarget(db),
    async (c) => (await c.query(`select subenabled from pg_subscription where subname = $1`, [db])).rows[0],
  );
  assert.equal(sub.subenabled, true, 'replication runs on');
  await eventually('every committed row on the target', async () =>
    (await onTargetIds(db, writers.committed)) === writers.committed.length ? true : undefined,
  );
  t.diagnostic(`block ended with the refused promote after ${failedAt - started} ms: ${(err as Error).message}`);
});

test('the target never shows the token: the block ends by the deadline, nothing is promoted', async (t) => {
  const db = 'gc_stalled';
  const task = await replicated(db);
  const dms = new FakeDms(db);
  // Holds the target's dbmig.fence (EXCLUSIVE: the apply worker's UPDATE waits, the cutover's SELECT passes).
  const stall = await openTransaction(onTarget(db));
  let blockedAt = 0;
  const onProgress = (s: string) => {
    if (s.startsWith('blocking writes')) {
      blockedAt = Date.now();
      void stall.query('lock table dbmig.fence in exclusive mode');
    }
  };
  const writers = new Writers(db, 2);
  const err = await gcpCutover(task, dms.deps(), onProgress).then(
    () => undefined,
    (e: unknown) => e,
  );
  const window = Date.now() - blockedAt;
  await stall.query('rollback');
  await stall.end();
  assert.ok(isType(err, 'CutoverTimedOut'), String(err));
  assert.ok(window < TIMEOUT_MS + 1_000, `the block lasted ${window} ms, the deadline is ${TIMEOUT}`);
  const before = writers.committed.length;
  // A commit after the cutover gave up is the event; writers left blocked time out.
  await eventually('writes came back', async () => writers.committed.length > before, 60_000, 20);
  await writers.done();
  assert.equal(dms.promotes, 0);
  assert.equal(await isClosed(db), false);
  assert.equal(await fenceSessions(db), 0);
  t.diagnostic(`write-block window ${window} ms (deadline ${TIMEOUT}): ${(err as Error).message}`);
});

test("a deploy's table during CDC, then a large object: each refused before the block, then cut over", async (t) => {
  const db = 'gc_late_set';
  const task = await replicated(db);
  const dms = new FakeDms(db);
  // A deploy during CDC: DMS copied the schema when the job started and replicates no DDL.
  await withClient(onSource(db), async (c) => {
    await c.query(`create table late_orders (id bigint primary key, note text)`);
    await c.query(`insert into late_orders select g, 'late' from generate_series(1, 50) g`);
  });
  const attempt = async () => {
    const steps: string[] = [];
    const err = await gcpCutover(task, dms.deps(), (s) => steps.push(s)).then(
      () => undefined,
      (e: unknown) => e,
    );
    return { err, steps };
  };
  const table = await attempt();
  assert.ok(isType(table.err, 'MigratedSetChanged'), String(table.err));
  assert.match((table.err as Error).message, /public\.late_orders \(table, created on the source after DMS job/);
  assert.match((table.err as Error).message, /nothing was blocked/);
  assert.ok(!table.steps.some((s) => s.startsWith('blocking writes')), table.steps.join(' | '));
  t.diagnostic((table.err as Error).message);

  await withClient(onSource(db), (c) => c.query(`drop table late_orders`));
  const oid = await withClient(
    onSource(db),
    async (c) => (await c.query<{ o: string }>(`select lo_from_bytea(0, 'x') as o`)).rows[0].o,
  );
  const lob = await attempt();
  assert.ok(isType(lob.err, 'MigratedSetChanged'), String(lob.err));
  assert.match((lob.err as Error).message, new RegExp(`large object ${oid} \\(on the source, not on the target\\)`));
  assert.equal(dms.promotes, 0);
  assert.equal(await isClosed(db), false, 'the source takes writes');
  assert.ok((await appInsert(db)) >= 0);

  await withClient(onSource(db), (c) => c.query(`select lo_unlink($1)`, [oid]));
  const writers = new Writers(db, 2);
  const result = await (async () => {
    try {
      await eventually('rows committed before the cutover', async () => writers.committed.length > 10, 60_000, 20);
      return await gcpCutover(task, dms.deps(), () => undefined);
    } finally {
      await writers.done();
    }
  })();
  assert.equal(dms.promotes, 1);
  assert.deepEqual(await lostWrites(db, writers), []);
  t.diagnostic(`once the set was whole again: cut over, block ${result.writeBlockMs} ms`);
});

test('a table made while the block drains: the block ends, nothing is promoted or closed', async (t) => {
  const db = 'gc_late_blocked';
  const task = await replicated(db);
  const dms = new FakeDms(db);
  // The drain's token waits on the target's dbmig.fence until the table exists on the source.
  const stall = await openTransaction(onTarget(db));
  let made: Promise<void> = Promise.resolve();
  const onProgress = (s: string) => {
    if (!s.startsWith('blocking writes')) return;
    made = (async () => {
      await stall.query('lock table dbmig.fence in exclusive mode');
      await withClient(onSource(db), (c) => c.query(`create table made_while_blocked (id int primary key)`));
      await stall.query('rollback');
    })();
  };
  const writers = new Writers(db, 2);
  try {
    const err = await gcpCutover(task, dms.deps(), onProgress).then(
      () => undefined,
      (e: unknown) => e,
    );
    await made;
    assert.ok(isType(err, 'MigratedSetChanged'), String(err));
    assert.match((err as Error).message, /public\.made_while_blocked .*writes were restored after a \d+ ms block/);
    const before = writers.committed.length;
    await eventually('writes came back', async () => writers.committed.length > before, 60_000, 20);
    t.diagnostic((err as Error).message);
  } finally {
    await writers.done();
    await stall.end().catch(() => undefined);
  }
  assert.equal(dms.promotes, 0);
  assert.equal(await isClosed(db), false);
  assert.equal(await fenceSessions(db), 0);
});

/** Every id the writers committed that the target does not have: what the cutover lost. */
async function lostWrites(db: string, writers: Writers): Promise<number[]> {
  const found = await withClient(onTarget(db), async (c) => {
    const { rows } = await c.query<{ id: string }>(`select id from items where id = any($1::bigint[])`, [
      writers.committed,
    ]);
    return new Set(rows.map((r) => Number(r.id)));
  });
  return writers.committed.filter((id) => !found.has(id));
}

test('the worker dies right after DMS accepted the promote: no write is lost, a retry finishes', async (t) => {
  const db = 'gc_retry';
  const task = await replicated(db);
  const dms = new FakeDms(db);
  dms.promoteBehaviour = 'die';
  const writers = new Writers(db, 2);
  await eventually('writers committing', async () => writers.committed.length > 0, 60_000, 20);
  const steps: string[] = [];
  void gcpCutover(task, dms.deps(), (s) => steps.push(s)).catch(() => undefined);
  await eventually('DMS accepted the promote', async () => dms.promotedAt, 60_000, 20);
  const diedAt = Date.now();
  // Each writer tries again at least 5 times after the death: a source left open would take those
  // writes, which DMS no longer reads.
  await eventually('writers tried again after the death', async () => writers.triesSince(diedAt) >= 10, 60_000, 20);
  const retrySteps: string[] = [];
  const result = await gcpCutover(task, dms.deps(), (s) => retrySteps.push(s));
  await writers.done();
  assert.equal(dms.promotes, 1, 'no second promote');
  assert.equal(result.writeBlockMs, 0);
  assert.ok(await isClosed(db), 'the source is closed');
  assert.ok(!retrySteps.some((s) => s.startsWith('blocking writes')), 'the retry did not block again');
  const lost = await lostWrites(db, writers);
  assert.deepEqual(lost, [], `${lost.length} committed writes are on the source only (DMS no longer read it)`);
  assert.equal(writers.commitsSince(diedAt), 0, 'no write committed after DMS stopped reading');
  t.diagnostic(
    `${writers.committed.length} rows committed, all on the target; ${writers.triesSince(diedAt)} tries after the ` +
      'death were refused',
  );
  report(t, 'retry', retrySteps);
});

test('a promote slower than the deadline: the source stays closed until DMS answers, nothing is lost', async (t) => {
  const db = 'gc_slow_promote';
  const task = await replicated(db);
  const dms = new FakeDms(db);
  dms.promoteBehaviour = 'slow';
  dms.slowMs = TIMEOUT_MS + 2_000; // DMS answers after the fence's deadline
  const writers = new Writers(db, 2);
  await eventually('writers committing', async () => writers.committed.length > 0, 60_000, 20);
  const steps: string[] = [];
  const result = await gcpCutover(task, dms.deps(), (s) => steps.push(s));
  await writers.done();
  assert.equal(dms.promotes, 1);
  assert.ok(await isClosed(db));
  assert.ok(steps.some((s) => s.startsWith('WARNING: DMS has not answered the promote by the deadline')));
  const lost = await lostWrites(db, writers);
  assert.deepEqual(lost, [], `${lost.length} committed writes are on the source only`);
  assert.equal(writers.commitsSince(dms.promotedAt! - dms.slowMs), 0, 'no write committed while the promote ran');
  t.diagnostic(`write block ${result.writeBlockMs} ms with a promote answered after ${dms.slowMs} ms; none lost`);
});

test("a resumed attempt waits for the dead one's promote until DMS answers; nothing reopens before", async (t) => {
  const db = 'gc_limbo';
  const task = await replicated(db);
  const dms = new FakeDms(db);
  dms.promoteBehaviour = 'limbo';
  const writers = new Writers(db, 2);
  await eventually('writers committing', async () => writers.committed.length > 0, 60_000, 20);
  void gcpCutover(task, dms.deps(), () => undefined).catch(() => undefined);
  await eventually('the promote is in flight', async () => dms.op === 'pending', 60_000, 20);
  const diedAt = Date.now();
  const steps: string[] = [];
  const resumed = gcpCutover(task, dms.deps(), (s) => steps.push(s));
  resumed.catch(() => undefined); // awaited below; a failure must not surface as unhandled meanwhile
  const readsAt = dms.jobReads;
  // The resumed attempt reads DMS (20 more reads) and meanwhile never reopens nor promotes again.
  await eventually('the resumed attempt reads DMS', async () => dms.jobReads >= readsAt + 20, 60_000, 20);
  assert.ok(await isClosed(db), 'the source stays closed while the promote is in flight');
  assert.equal(dms.promotes, 1, 'the resumed attempt sent no promote of its own');
  await dms.settle('accept');
  const result = await resumed;
  await writers.done();
  assert.equal(result.writeBlockMs, 0);
  assert.equal(dms.promotes, 1);
  assert.ok(await isClosed(db));
  assert.ok(
    steps.some((s) => s.includes("reading DMS until the promote's outcome is known")),
    steps.join(' | '),
  );
  const lost = await lostWrites(db, writers);
  assert.deepEqual(lost, [], `${lost.length} committed writes are on the source only`);
  assert.equal(writers.commitsSince(diedAt), 0, 'no write committed after the close');
  t.diagnostic(`resumed attempt read the job ${dms.jobReads - readsAt} times before DMS answered; none lost`);
});

test("a resumed attempt that learns DMS refused the dead one's promote reopens, then cuts over", async (t) => {
  const db = 'gc_limbo_refused';
  const task = await replicated(db);
  const dms = new FakeDms(db);
  dms.promoteBehaviour = 'limbo';
  const writers = new Writers(db, 2);
  await eventually('writers committing', async () => writers.committed.length > 0, 60_000, 20);
  void gcpCutover(task, dms.deps(), () => undefined).catch(() => undefined);
  await eventually('the promote is in flight', async () => dms.op === 'pending', 60_000, 20);
  dms.promoteBehaviour = 'accept';
  const steps: string[] = [];
  const resumed = gcpCutover(task, dms.deps(), (s) => steps.push(s));
  resumed.catch(() => undefined); // awaited below; a failure must not surface as unhandled meanwhile
  await eventually('the resumed attempt waits', async () =>
    steps.some((s) => s.includes("reading DMS until the promote's outcome is known")),
  );
  assert.ok(await isClosed(db));
  await dms.settle('refuse');
  const result = await resumed;
  await writers.done();
  assert.ok(
    steps.some((s) => s.startsWith('DMS did not promote')),
    steps.join(' | '),
  );
  assert.equal(dms.promotes, 2, "the refused promote, then the resumed attempt's own");
  assert.ok(result.writeBlockMs > 0);
  assert.deepEqual(await lostWrites(db, writers), []);
  t.diagnostic(`reopened and cut over again: block ${result.writeBlockMs} ms; ${writers.committed.length} rows`);
});

test('a promote the deadline cannot cover is refused before anything is blocked', async (t) => {
  // cutover.timeout 10s keeps 2.5s each to close and reopen and 1s to drain: a 6s promote does not fit.
  // The plan refuses it; a task of a plan validated before that rule reaches the cutover, which refuses it.
  const db = 'gc_promote_too_slow';
  assert.throws(() => taskFor(db, 'direct', 'postgresql', '6s'), /gcp\.promoteTimeout.*must be shorter than/);
  const planned = taskFor(db);
  const task = await replicated(db, { ...planned, gcp: { ...planned.gcp!, promoteTimeout: '6s' } });
  const dms = new FakeDms(db);
  const steps: string[] = [];
  const err = await gcpCutover(task, dms.deps(), (s) => steps.push(s)).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isType(err, 'InvalidPlan'), String(err));
  assert.match((err as Error).message, /gcp\.promoteTimeout 6\.0s/);
  assert.deepEqual(steps, [], 'nothing was blocked, nothing was even checked');
  assert.equal(dms.promotes, 0);
  assert.equal(dms.lagCalls, 0);
  assert.equal(await isClosed(db), false);
  t.diagnostic((err as Error).message);
});

test('dms-only: no SQL to the source; promotes only after a fresh sample at most maxLag', async (t) => {
  const task = taskFor('gc_dms_only', 'dms-only');
  const dms = new FakeDms('unused');
  const calls: string[] = [];
  dms.samples = (since, n) => {
    if (n === 1) return { seconds: 0, sampledAt: new Date(since.getTime() - 60_000) }; // stale: before the approval
    if (n < 4) return undefined;
    if (n < 6) return { seconds: 7, sampledAt: new Date() }; // fresh but over the max
    return { seconds: 0.5, sampledAt: new Date() };
  };
  const deps = dms.deps({ target: undefined });
  deps.promote = async () => {
    calls.push(`promote after ${dms.lagCalls} lag reads`);
    dms.phase = 'PROMOTE_IN_PROGRESS';
  };
  const cutoverStart = Date.now();
  const result = await gcpCutover(task, deps, () => undefined);
  assert.deepEqual(calls, ['promote after 6 lag reads']);
  assert.equal(dms.waits, 1);
  assert.equal(result.writeBlockMs, 0);
  t.diagnostic(`dms-only promoted after ${Date.now() - cutoverStart} ms and ${dms.lagCalls} lag reads`);

  const never = new FakeDms('unused');
  never.samples = () => ({ seconds: 9, sampledAt: new Date() });
  const err = await gcpCutover(task, never.deps({ target: undefined, freshSampleWaitMs: 400 }), () => undefined).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isType(err, 'CutoverNotReady'), String(err));
  assert.equal(never.promotes, 0);
});

test('refused before anything is blocked: no SQL access to the target', async () => {
  const db = 'gc_no_target';
  const task = await replicated(db);
  const dms = new FakeDms(db);
  const err = await gcpCutover(task, dms.deps({ target: undefined }), () => undefined).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isType(err, 'PlatformUnavailable'), String(err));
  assert.equal(dms.promotes, 0);
  assert.equal(await isClosed(db), false);
});
