// The cutover's safety promises end to end (issue 8, point 11): real source and target clusters,
// the real workflows on a real Temporal dev server, a real `dbmig worker` process where a worker
// dies. Every scenario checks what happened to the clusters, not only the states it reached:
//   - a cancel during VERIFYING_TARGET keeps the target and leaves the source closed;
//   - a finished migration id is never run again, however it is started, and nothing is dropped;
//   - DDL while a human decides is reported within seconds, and the cutover waits for a fix;
//   - a worker killed inside the cutover is succeeded by another without a second overlapping block;
//   - a rollback after the cutover carries the target's writes back to the source.
// The source (PostgreSQL 16) is migrated by a non-superuser migration user beside a non-superuser
// application role, PUBLIC's CONNECT revoked, as a real source is (helpers/migration-user.ts); one
// scenario (the second start of a finished id) migrates as the superuser. What a step did twice is
// read from what it made (objects on both clusters, the job record's blocks, rows), not only from
// the history's scheduled events, which a Temporal retry does not add to.
// One harness (source cluster, target cluster, dev server, in-process worker) for the file, one
// source database and migration id per scenario. Three lanes run at once (the DDL scenario, the
// crash scenario, the other three one after another) so the file takes about 90 s on 2 cores. They
// share the target instance, so no scenario holds a transaction id there for long: creating the
// reverse replication slot in a cutover waits for every such transaction on the whole instance.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import {
  approveCutover,
  cancelDatabase,
  finalizeDatabase,
  RefusedError,
  rollbackDatabase,
  startMigration,
} from '../client/client';
import { databaseStatusQuery, rollbackUpdate, statusQuery } from '../common/messages';
import { childWorkflowId, resourceNames } from '../common/naming';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan, type PlanInput } from '../common/plan';
import type { MigrationState } from '../common/states';
import type { DatabaseSummary } from '../common/status';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import { readSourceAccess } from '../activities/engines/postgres/close-source';
import type { JobRecord } from '../activities/engines/postgres/job-record';
import { readMark } from '../activities/engines/postgres/target-mark';
import { MigrationError } from '../common/failures';
import { type DatabaseTask } from '../activities/steps';
import { MultiDatabaseMigration } from '../workflows';
import { compareRowForRow, planFor, type SourceDb } from './fixtures/fleet';
import { killWorkers, spawnWorker, workerAt } from './helpers/worker-process';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';
import { as, createMigrationUser, createRole, handOver, type MigrationUser, type Role } from './helpers/migration-user';

const db = (name: string): SourceDb => ({ name, rows: 2_000, priority: 'medium', sizeGb: 5 });
const HOLD = db('held_verify');
const RERUN = db('rerun');
const DDL = db('ddl_wait');
const CRASH = db('crash_cut');
const ROLLBACK = db('rolled_back');

/** A non-superuser application role on both clusters: superusers skip CONNECT checks, applications do not. */
let APP: Role;
const APP_USER = 'safety_app';
const APP_GRANTS =
  `grant select, insert, update, delete on all tables in schema public to ${APP_USER}; ` +
  `grant usage on all sequences in schema public to ${APP_USER}`;
/** PostgreSQL's refusal of a role whose CONNECT was revoked: how a closed database answers an application. */
const REFUSED = /permission denied for database/;
/**
 * Every scenario but RERUN migrates as MIGRATOR, a non-superuser made as an operator makes one
 * (helpers/migration-user.ts), on a PostgreSQL 16 source (the first that lets it create the reverse
 * subscription); OWNER owns the databases, PUBLIC's CONNECT is revoked.
 */
let MIGRATOR: MigrationUser;
const OWNER = 'safety_owner';
const SOURCE_VERSION = 16;

let h: Harness;
let target: ClusterInfo;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const onSource = (name: string): ConnectionParams => ({ ...h.source, database: name });
const onTarget = (name: string): ConnectionParams => ({ ...target, database: name });
const asApp = (p: ConnectionParams): ConnectionParams => as(p, APP);

before(async () => {
  h = await createHarness('cutover-safety', {
    databases: [HOLD, RERUN, DDL, CRASH, ROLLBACK],
    sourceVersion: SOURCE_VERSION,
  });
  target = await h.platform.clusters.ensure('fleet-target', { version: SOURCE_VERSION });
  APP = await createRole(h.source, APP_USER);
  await createRole(target, APP_USER, '', APP.password);
  MIGRATOR = await createMigrationUser(h.source, 'safety_migrator', 'DBMIG_SAFETY_MIGRATOR_PASSWORD');
  for (const d of [HOLD, RERUN, DDL, CRASH, ROLLBACK])
    await handOver(h.source, d.name, { owner: OWNER, apps: [APP.user], migrator: MIGRATOR.user });
});

after(async () => {
  killWorkers();
  await h?.close();
});

/**
 * A one-database plan on the harness's source, as MIGRATOR (`superuser`: as the cluster's
 * superuser); rows: 0 since the database already exists.
 */
const planOf = (d: SourceDb, extra: Partial<PlanInput> = {}, superuser = false): PlanInput =>
  superuser
    ? planFor(h.source, [{ ...d, rows: 0 }], `env:${SOURCE_PASSWORD_ENV}`, extra)
    : planFor({ ...h.source, user: MIGRATOR.user }, [{ ...d, rows: 0 }], `env:${MIGRATOR.env}`, extra);

/** The task the workflow hands its activities, for calling the platform directly. */
function taskOf(migrationId: string, plan: PlanInput): DatabaseTask {
  const parsed = validatePlan(plan);
  const database = parsed.databases[0];
  return { migrationId, platform: 'local', database, settings: effectiveSettings(parsed, database) };
}

/** An application session as APP; it obeys the database's defaults (read-only on a closed database). */
async function appSession(p: ConnectionParams): Promise<pg.Client> {
  const c = new pg.Client({ ...asApp(p), connectionTimeoutMillis: 5_000 });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** One write as the application, with how long it took; rejects as PostgreSQL refuses it. */
async function appWrite(p: ConnectionParams, sku: string): Promise<number> {
  const c = await appSession(p);
  try {
    const started = Date.now();
    await c.query(`insert into items (sku, qty, price) values ($1, 1, 1)`, [sku]);
    return Date.now() - started;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** The application's tables compared row for row; dbmig's own bookkeeping tables are not the application's data. */
async function assertSameRows(source: ConnectionParams, tgt: ConnectionParams, when: string): Promise<number> {
  const tables = await compareRowForRow(source, tgt, ['dbmig']);
  assert.ok(tables.length > 0, `${when}: no table compared`);
  for (const x of tables)
    assert.ok(x.equal, `${when}: ${x.table} differs: source ${x.sourceRows} rows, target ${x.targetRows}`);
  return tables.reduce((n, x) => n + x.sourceRows, 0);
}

const count = (p: ConnectionParams, where = 'true', table = 'items') =>
  withClient(p, async (c) => Number((await c.query(`select count(*) as n from ${table} where ${where}`)).rows[0].n));

/** The database's own default_transaction_read_only ('on' once the cutover closed it); dbmig's sessions override it. */
const readOnlyDefault = async (p: ConnectionParams) => (await withClient(p, readSourceAccess)).readOnly;

/** Whether the target database exists, and its dbmig mark (who owns it, whether it took over). */
const targetMark = (name: string) => withClient({ ...target, database: 'postgres' }, (c) => readMark(c, name));

/** Every replication object that concerns database `name`, on both clusters, in either direction. */
async function replicationObjects(name: string): Promise<string[]> {
  const out: string[] = [];
  for (const [side, cluster] of [
    ['source', h.source],
    ['target', target],
  ] as const) {
    await withClient({ ...cluster, database: name }, async (c) => {
      const q = async (label: string, sql: string) =>
        out.push(...(await c.query<{ n: string }>(sql)).rows.map((r) => `${side} ${label} ${r.n}`));
      await q('publication', 'select pubname as n from pg_publication');
      await q(
        'subscription',
        `select subname as n from pg_subscription
          where subdbid = (select oid from pg_database where datname = current_database())`,
      );
      await q('slot', 'select slot_name as n from pg_replication_slots where database = current_database()');
    });
  }
  return out.sort();
}

const fenceSessions = (name: string) =>
  withClient({ ...h.source, database: 'postgres' }, async (c) =>
    (
      await c.query<{ pid: number }>(
        `select pid from pg_stat_activity where datname = $1 and application_name = 'dbmig fence'`,
        [name],
      )
    ).rows.map((r) => r.pid),
  );

async function jobRecord(migrationId: string, name: string): Promise<JobRecord> {
  const file = join(h.stateDir, 'jobs', `${resourceNames(migrationId, name).job}.json`);
  return existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as JobRecord) : {};
}

/**
 * A session on `p` holding `lock` in an open transaction until the returned release is called. Not
 * ACCESS EXCLUSIVE: that one takes a transaction id, which every logical slot created meanwhile waits for.
 */
async function holdLock(p: ConnectionParams, lock: string): Promise<() => Promise<void>> {
  const c = new pg.Client(p);
  c.on('error', () => undefined);
  await c.connect();
  await c.query('begin');
  await c.query(lock);
  return async () => {
    await c.query('rollback').catch(() => undefined);
    await c.end().catch(() => undefined);
  };
}

/** The advisory lock key that holds the final validation in the VERIFYING_TARGET scenario. */
const HOLD_KEY = 4242;

/**
 * Holds HOLD_KEY in a session of `p`'s database until the returned release is called. A
 * session-level advisory lock takes no transaction id: a lock that did (LOCK ... ACCESS EXCLUSIVE is
 * WAL-logged, so it takes one) would hold back every logical slot created on the instance meanwhile.
 */
async function holdAdvisory(p: ConnectionParams): Promise<() => Promise<void>> {
  const c = new pg.Client(p);
  c.on('error', () => undefined);
  await c.connect();
  await c.query('select pg_advisory_lock($1)', [HOLD_KEY]);
  return () => c.end().catch(() => undefined);
}

/** Sessions of `p`'s database waiting for HOLD_KEY. */
/** Other sessions whose statement reads zz_hold, running or waiting. */
const runningOnHold = (p: ConnectionParams) =>
  withClient(p, async (c) =>
    Number(
      (
        await c.query(
          `select count(*) as n from pg_stat_activity
            where pid <> pg_backend_pid() and state <> 'idle' and query like '%zz_hold%'`,
        )
      ).rows[0].n,
    ),
  );

const waitingForHold = (p: ConnectionParams) =>
  withClient(p, async (c) =>
    Number(
      (
        await c.query(
          `select count(*) as n from pg_locks where locktype = 'advisory' and objid = $1 and not granted
              and database = (select oid from pg_database where datname = current_database())`,
          [HOLD_KEY],
        )
      ).rows[0].n,
    ),
  );

const reach = (id: string, name: string, states: MigrationState | MigrationState[], timeoutMs = 150_000) =>
  h.reach(id, name, states, timeoutMs);

/** Activity types the child scheduled, from its history. */
async function scheduled(migrationId: string, name: string): Promise<string[]> {
  const history = await h.env.client.workflow.getHandle(childWorkflowId(migrationId, name)).fetchHistory();
  return (history.events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
}

/**
 * An application writing to the source as APP, one insert at a time, timing every attempt: a write
 * the fence holds back takes as long as the block; once the source is closed, attempts fail fast.
 */
class Probe {
  readonly attempts: { start: number; end: number; ok: boolean }[] = [];
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(private readonly p: ConnectionParams) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let c: pg.Client | undefined;
    while (!this.stopped) {
      const start = Date.now();
      try {
        c ??= await appSession(this.p);
        await c.query(`insert into items (sku, qty, price) values ('probe', 1, 1)`);
        this.attempts.push({ start, end: Date.now(), ok: true });
      } catch {
        this.attempts.push({ start, end: Date.now(), ok: false });
        await c?.end().catch(() => undefined);
        c = undefined;
        await sleep(100);
      }
      await sleep(20);
    }
    await c?.end().catch(() => undefined);
  }

  longestMs(): number {
    return Math.max(0, ...this.attempts.map((a) => a.end - a.start));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

/** Samples the source's fence sessions for one database: how many ever existed at once. */
class FenceWatch {
  most = 0;
  samples = 0;
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(private readonly name: string) {
    this.loop = (async () => {
      while (!this.stopped) {
        this.most = Math.max(this.most, (await fenceSessions(this.name)).length);
        this.samples++;
        await sleep(25);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

describe('cutover safety on real clusters', { concurrency: true }, () => {
  test('DDL during AWAITING_APPROVAL is reported within 10 s and the cutover refuses to start', async (t) => {
    const id = 'safety-ddl';
    const name = DDL.name;
    // Finalized at once after the cutover: the scenario is about what happens before it.
    await h.startFleet(id, planOf(DDL, { cutover: { reverseReplicationFor: '0s' } }));
    await reach(id, name, 'AWAITING_APPROVAL');
    const child = h.env.client.workflow.getHandle(childWorkflowId(id, name));
    await eventually('the replication watcher running and heartbeating', async () =>
      (await child.describe()).raw.pendingActivities?.some(
        (a) => a.activityType?.name === 'watchReplication' && a.heartbeatDetails?.payloads?.length,
      ),
    );

    // A rename is not carried (additive DDL is: ddl-during-cdc.test.ts): the renamed column's row
    // cannot be applied on the target.
    await withClient(onSource(name), async (c) => {
      await c.query('alter table items rename column updated_at to changed_at');
      await c.query(`insert into items (sku, qty, price) values ('ddl-row', 1, 1)`);
    });
    const wrote = Date.now();
    const broken = await eventually(
      'the break in getStatus',
      async () => {
        const s = await h.statusOf(id, name);
        return s.replication ? s : undefined;
      },
      // How soon is the poll interval plus the machine's speed: reported, and given a minute.
      60_000,
      100,
    );
    const detectedMs = Date.now() - wrote;
    t.diagnostic(`the break showed in getStatus ${detectedMs} ms after the write: ${broken.replication}`);
    // The target's own words (its log), naming the column it lacks.
    assert.match(broken.replication!, /missing replicated column.*"changed_at"/);
    assert.equal(broken.state, 'AWAITING_APPROVAL');
    const own = await child.query(databaseStatusQuery);
    assert.match(own.replication ?? '', /missing replicated column.*"changed_at"/, 'the child summary has it too');
    const meta = await child.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.match(meta.currentDetails ?? '', /\*\*replication broken\*\*:.*"changed_at"/, 'and its current details');

    // An approval is taken, but the cutover waits for healthy replication: nothing is blocked.
    await approveCutover(h.env.client, id, name, 'dba-on-call', 'approved while replication is broken');
    const waiting = await eventually('the approval recorded with a waiting next action', async () => {
      const s = await child.query(databaseStatusQuery);
      return s.approvedBy && /waits until replication is healthy/.test(s.nextAction ?? '') ? s : undefined;
    });
    t.diagnostic(`next action: ${waiting.nextAction}`);
    // A refused rollback is answered in a workflow task after the approval's: a cutover the approval
    // started would be scheduled in the history by then (checked below), not just after 4 s of looking.
    await assert.rejects(
      child.executeUpdate(rollbackUpdate, { args: [{ database: name, by: 'test' }] }),
      (err: Error) => /it is AWAITING_APPROVAL: only a COMPLETED database/.test(String((err.cause as Error)?.message)),
    );
    assert.equal((await h.statusOf(id, name)).state, 'AWAITING_APPROVAL');
    assert.deepEqual(await fenceSessions(name), [], 'no fence session on the source');
    assert.ok(!(await scheduled(id, name)).includes('cutover'), 'no cutover was scheduled');
    assert.deepEqual(await jobRecord(id, name), {}, 'no cutover step was recorded');
    // A block would hold the write up to cutover.timeout (30 s by default); an unblocked one is far quicker.
    const took = await appWrite(onSource(name), 'app-while-broken');
    assert.ok(took < 15_000, `an application write on the source took ${took} ms`);

    // The fix: the same DDL on the target. Apply resumes, the break clears, the cutover runs.
    await withClient(onTarget(name), (c) => c.query('alter table items rename column updated_at to changed_at'));
    const fixed = Date.now();
    await eventually('the break cleared', async () => !(await h.statusOf(id, name)).replication, 150_000, 500);
    t.diagnostic(`the break cleared ${((Date.now() - fixed) / 1000).toFixed(1)} s after the fix on the target`);
    const done = await reach(id, name, ['COMPLETED', 'FINALIZED']);
    assert.equal(done.approvedBy, 'dba-on-call');
    const rows = await assertSameRows(onSource(name), onTarget(name), 'after the cutover');
    assert.equal(await count(onTarget(name), `sku = 'ddl-row'`), 1);
    assert.equal(await count(onTarget(name), `sku = 'app-while-broken'`), 1);
    t.diagnostic(`${done.state}: ${rows} rows equal, write block ${done.writeBlockMs} ms`);
  });

  test('a worker SIGKILLed inside the cutover is succeeded by another, without a second block', async (t) => {
    const id = 'safety-crash';
    const name = CRASH.name;
    // Its own task queue: only the spawned `dbmig worker` processes run this migration.
    const queue = `${h.taskQueue}-crash`;
    // A deadline the kill comes well before, on a loaded machine too: what ends the block is the kill.
    const plan = planOf(CRASH, { cutover: { timeout: '30s' } });
    const handle = await h.env.client.workflow.start(MultiDatabaseMigration, {
      taskQueue: queue,
      workflowId: id,
      args: [{ plan }],
    });
    const first = spawnWorker({ ...workerAt(h), taskQueue: queue });
    await eventually(
      `${name} awaiting approval`,
      // Until the spawned worker is up, a query has nobody to answer it.
      async () => (await handle.query(statusQuery).catch(() => undefined))?.databases[0].state === 'AWAITING_APPROVAL',
      180_000,
      250,
    );

    // The target's apply of dbmig.fence stalls, so the cutover sits in its drain under the block.
    const releaseStall = await holdLock(onTarget(name), 'lock table dbmig.fence in exclusive mode');
    const probe = new Probe(onSource(name));
    const watch = new FenceWatch(name);
    try {
      await approveCutover(h.env.client, id, name, 'dba-on-call');
      await eventually(
        'the cutover blocking writes and draining',
        async () =>
          (await handle.query(statusQuery).catch(() => undefined))?.databases[0].state === 'CUTTING_OVER' &&
          (await jobRecord(id, name)).phase === 'blocked' &&
          (await fenceSessions(name)).length === 1,
        60_000,
        25,
      );
      const exited = new Promise((r) => first.child.once('exit', r));
      first.child.kill('SIGKILL');
      const killedAt = Date.now();
      await exited;

      // Before the point of no return the block dies with its session: writes come back at once.
      const back = await eventually(
        'an application write after the kill',
        async () => probe.attempts.find((a) => a.ok && a.end > killedAt),
        10_000,
        20,
      );
      const backMs = back.end - killedAt;
      t.diagnostic(`writes came back ${backMs} ms after SIGKILL`);
      assert.ok(backMs < 15_000, `the killed worker's block outlived it by ${backMs} ms, as if held to the deadline`);
      assert.deepEqual(await fenceSessions(name), [], "the killed worker's fence session is gone");
      assert.equal((await jobRecord(id, name)).phase, 'blocked', 'the record shows the block it never finished');
      await releaseStall();

      const second = spawnWorker({ ...workerAt(h), taskQueue: queue });
      const report = await handle.result().catch((err: Error) => {
        throw new Error(`${err.message}; worker stderr: ${second.stderr()}`);
      });
      const s = report.databases[0];
      assert.equal(s.state, 'COMPLETED', s.lastError);
      await probe.stop();
      await watch.stop();

      const longest = probe.longestMs();
      t.diagnostic(
        `longest application write ${longest} ms over ${probe.attempts.length} attempts; ` +
          `the completing cutover's block ${s.writeBlockMs} ms; at most ${watch.most} fence session(s) ` +
          `in ${watch.samples} samples`,
      );
      // cutover.timeout (30 s) + the cutover's heartbeat timeout (10 s, workflows/activity-options.ts).
      assert.ok(longest <= 40_000, `an application write waited ${longest} ms`);
      assert.equal(watch.most, 1, 'never two fence sessions at once');
      const rec = await jobRecord(id, name);
      assert.equal(rec.blocks, 2, 'the killed block and the one that completed, nothing more');
      assert.ok(rec.result, 'the record holds the result');
      // A step that ran twice shows in what it made, which the history's one scheduled event cannot
      // show (a retry adds no ActivityTaskScheduled): reverse replication once, forward gone, and the
      // slot that watches the closed source for writes (reverse-watch.ts) once.
      const names = resourceNames(id, name);
      assert.deepEqual(await replicationObjects(name), [
        `source slot ${names.slot}_srcw`,
        `source subscription ${names.subscription}_rev`,
        `target publication ${names.publication}_rev`,
        `target slot ${names.slot}_rev`,
      ]);
      const marks = await withClient({ ...target, database: 'postgres' }, async (c) => (await readMark(c, name)).mark);
      assert.deepEqual(marks, { migrationId: id, database: name, state: 'cutover' }, 'one target, marked once');

      // One cutover step, whose attempt on the new worker finished what the killed one began.
      const history = await h.env.client.workflow.getHandle(childWorkflowId(id, name)).fetchHistory();
      const cutoverIds = new Set<string>();
      let attempt = 0;
      for (const e of history.events ?? []) {
        if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'cutover') cutoverIds.add(String(e.eventId));
        const started = e.activityTaskStartedEventAttributes;
        if (started && cutoverIds.has(String(started.scheduledEventId))) attempt = started.attempt ?? 0;
      }
      assert.equal(cutoverIds.size, 1, 'one cutover step');
      assert.ok(attempt >= 2, `the cutover completed as attempt ${attempt}`);

      // The source is closed for good and the target has every write the source committed.
      await assert.rejects(appWrite(onSource(name), 'after-cutover'), REFUSED);
      const rows = await assertSameRows(onSource(name), onTarget(name), 'after the cutover');
      t.diagnostic(`${rows} rows equal; ${probe.attempts.filter((a) => a.ok).length} probe writes committed`);
    } finally {
      await probe.stop();
      await watch.stop();
      await releaseStall();
    }
  });

  describe('one after another', { concurrency: 1 }, () => {
    test('a cancel during VERIFYING_TARGET keeps the target', async (t) => {
      const id = 'safety-verify';
      const name = HOLD.name;
      await h.startFleet(id, planOf(HOLD));
      await reach(id, name, 'AWAITING_APPROVAL');
      // zz_hold, one row, made after the copy and carried as a deploy's table is (published, then the
      // subscription refreshed): the cutover refuses a table it does not carry (migrated-set.ts). On
      // the target, its row's cast to text (which the final validation's checksum takes) waits for
      // HOLD_KEY; nothing else reads its rows, so only the final validation waits, for as long as the
      // test holds the key. A function's wait on an advisory lock takes no transaction id. Made by the
      // application's owner, as any table of the application: the migration user reads it.
      const names = resourceNames(id, name);
      await withClient(onSource(name), (c) =>
        c.query(`set role ${OWNER}; create table zz_hold (id int primary key); insert into zz_hold values (1);
                 reset role; alter publication ${names.publication} add table zz_hold`),
      );
      await withClient(onTarget(name), async (c) => {
        await c.query(`create table zz_hold (id int primary key);
          create function zz_wait(r zz_hold) returns text language plpgsql
            as $$ begin perform pg_advisory_xact_lock_shared(${HOLD_KEY}); return textin(record_out(r)); end $$;
          create cast (zz_hold as text) with function zz_wait(zz_hold)`);
        await c.query(`alter subscription ${names.subscription} refresh publication`);
      });
      await eventually(
        'zz_hold copied to the target',
        async () => (await count(onTarget(name), 'true', 'zz_hold')) === 1,
      );
      const release = await holdAdvisory(onTarget(name));
      try {
        await approveCutover(h.env.client, id, name, 'dba-on-call');
        await reach(id, name, 'VERIFYING_TARGET', 120_000);
        await eventually('the final validation waiting', async () => (await waitingForHold(onTarget(name))) > 0);
        const cancelled = await cancelDatabase(h.env.client, id, name);
        // The fleet's view holds the child's last report: its last transition (CUTTING_OVER), or
        // VERIFYING_TARGET when a reported field (replication health) changed during that step.
        // Either is past the point of no return, which is what the rest of the test holds to.
        assert.ok(['CUTTING_OVER', 'VERIFYING_TARGET'].includes(cancelled.state), cancelled.state);
        const s = await reach(id, name, 'NEEDS_ATTENTION', 60_000);
        t.diagnostic(`NEEDS_ATTENTION: ${s.lastError}; next: ${s.nextAction}`);
        assert.match(s.nextAction ?? '', /has taken over from the source, which stays closed to writes/);
      } finally {
        await release();
      }
      // The abandoned validation finishes now that the lock is gone: once it no longer waits and its
      // query has ended, whatever it would do has been done.
      await eventually('the abandoned validation ended', async () =>
        (await waitingForHold(onTarget(name))) === 0 && (await runningOnHold(onTarget(name))) === 0 ? true : undefined,
      );

      const mark = await targetMark(name);
      assert.deepEqual(mark.mark, { migrationId: id, database: name, state: 'cutover' }, 'the target is kept');
      const rows = await assertSameRows(onSource(name), onTarget(name), 'after the cancel');
      assert.equal(rows, HOLD.rows + 1, 'every row is on the target (zz_hold has one)');
      await assert.rejects(appWrite(onSource(name), 'after-cancel'), REFUSED, 'the source is still closed');
      assert.equal(await readOnlyDefault(onSource(name)), 'on');
      const objects = await replicationObjects(name);
      t.diagnostic(`replication left: ${objects.join(', ')}`);
      assert.ok(
        objects.some((o) => o.startsWith('source subscription')),
        'reverse replication is still there: nothing was dropped',
      );
      assert.ok(
        !(await scheduled(id, name)).some((x) => /^(deleteTarget|rollbackCutover|deleteMigrationJob)$/.test(x)),
      );
    });

    test('a finished migration id cannot be started again and nothing is dropped', async (t) => {
      const id = 'safety-rerun';
      const name = RERUN.name;
      // The one scenario that migrates as the cluster's superuser, as the first releases all did.
      const plan = planOf(
        RERUN,
        { approval: { policy: 'auto', timeout: '1h' }, cutover: { reverseReplicationFor: '0s' } },
        true,
      );
      const handle = await h.startFleet(id, plan);
      await handle.result();
      const childHandle = h.env.client.workflow.getHandle(childWorkflowId(id, name));
      const done = (await childHandle.result()) as DatabaseSummary;
      assert.equal(done.state, 'FINALIZED', done.lastError);
      const childRun = (await childHandle.describe()).runId;
      const before = {
        rows: await count(onTarget(name)),
        objects: await replicationObjects(name),
        mark: await targetMark(name),
      };
      assert.equal(before.rows, RERUN.rows);
      assert.deepEqual(before.objects, [], 'finalized: no replication left');

      await assert.rejects(startMigration(h.env.client, plan, { id, taskQueue: h.taskQueue }), (err: Error) => {
        assert.ok(err instanceof RefusedError, String(err));
        assert.match(err.message, /has already run \(COMPLETED\).*never run again.*start a plan with a new --id/s);
        t.diagnostic(`startMigration: ${err.message}`);
        return true;
      });

      // As the Temporal UI or CLI could: the same id again, allowed by the reuse policy.
      const again = await h.env.client.workflow.start(MultiDatabaseMigration, {
        taskQueue: h.taskQueue,
        workflowId: id,
        args: [{ plan }],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      });
      const report = await again.result();
      const s = report.databases[0];
      t.diagnostic(`started again: ${s.state}: ${s.lastError}`);
      assert.equal(s.state, 'NEEDS_ATTENTION');
      assert.match(s.lastError ?? '', /not started again/);
      assert.equal((await childHandle.describe()).runId, childRun, 'the database workflow did not run again');

      // The platform itself refuses to provision into, and keeps, a target that took over.
      const task = taskOf(id, plan);
      await assert.rejects(h.platform.provisionTarget(task), (err: Error) => {
        assert.ok(err instanceof MigrationError, String(err));
        assert.equal(err.type, 'AlreadyExistsMismatch');
        assert.match(err.message, /has already taken over/);
        return true;
      });
      await h.platform.deleteTarget(task);

      assert.equal(await count(onTarget(name)), before.rows, 'the target kept its rows');
      assert.deepEqual(await targetMark(name), before.mark, 'the target is there, marked as before');
      assert.deepEqual(await replicationObjects(name), before.objects, 'no publication, slot or subscription appeared');
      await assertSameRows(onSource(name), onTarget(name), 'after the second start');
    });

    test('a rollback after the cutover brings the target writes back to the source', async (t) => {
      const id = 'safety-rollback';
      const name = ROLLBACK.name;
      await h.startFleet(id, planOf(ROLLBACK, { approval: { policy: 'auto', timeout: '1h' } }));
      const completed = await reach(id, name, 'COMPLETED');
      assert.ok(completed.rollbackUntil, 'reverse replication keeps a rollback possible');

      // The application moves to the target (its grants there are the operator's, as on any new server).
      await withClient(onTarget(name), (c) => c.query(APP_GRANTS));
      const app = await appSession(onTarget(name));
      await app.query(
        `insert into items (sku, qty, price) select 'on-target-' || g, g, 2 from generate_series(1, 25) g`,
      );
      await app.query(`update items set qty = 4242 where id = 1`);
      await app.query(`delete from items where id = 2`);
      const maxOnTarget = Number((await app.query('select max(id) as m from items')).rows[0].m);
      await app.end();

      const rolled = await rollbackDatabase(h.env.client, id, name, 'sre', 'checking the rollback path');
      assert.equal(rolled.state, 'ROLLED_BACK', rolled.lastError);
      t.diagnostic(`ROLLED_BACK, rollback write block ${rolled.writeBlockMs} ms; next: ${rolled.nextAction}`);

      await assertSameRows(onSource(name), onTarget(name), 'after the rollback');
      assert.equal(await count(onSource(name), `sku like 'on-target-%'`), 25);
      assert.equal(await count(onSource(name), `id = 1 and qty = 4242`), 1);
      assert.equal(await count(onSource(name), `id = 2`), 0);
      // The source takes the application again, its sequence past what the target used.
      const c = await appSession(onSource(name));
      const { rows } = await c.query<{ id: string }>(
        `insert into items (sku, qty, price) values ('back-on-source', 1, 1) returning id`,
      );
      await c.end();
      assert.ok(Number(rows[0].id) > maxOnTarget, `id ${rows[0].id} after the target's ${maxOnTarget}`);
      await assert.rejects(appWrite(onTarget(name), 'on-target-after-rollback'), REFUSED, 'the target is closed');
      assert.equal((await h.statusOf(id, name)).state, 'ROLLED_BACK');

      await assert.rejects(finalizeDatabase(h.env.client, id, name, 'sre'), (err: Error) => {
        assert.ok(err instanceof RefusedError, String(err));
        assert.match(err.message, /cannot be finalized: (its run has ended|it is already) ROLLED_BACK/);
        t.diagnostic(`finalize: ${err.message}`);
        return true;
      });
    });
  });
});
