// The local cutover protocol against real clusters (one source, one target for the whole file,
// a source database per scenario), calling the platform directly: no Temporal. Each scenario
// reports its measured write-block window as a test diagnostic. The source runs 16 and is migrated
// by a non-superuser migration user beside a non-superuser application role (one scenario as the
// superuser); workers are killed at instants inside the cutover (activities/fault-pause.ts).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import pg from 'pg';
import { LocalPlatform } from '../activities/platforms/local';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import { readSourceAccess } from '../activities/engines/postgres/close-source';
import { endOtherSessions } from '../activities/engines/postgres/fence';
import type { JobRecord } from '../activities/engines/postgres/job-record';
import type { DatabaseTask } from '../activities/steps';
import { resourceNames } from '../common/naming';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan, type PlanInput } from '../common/plan';
import { compareRowForRow, createSourceDatabase, planFor } from './fixtures/fleet';
import { count, isMigrationError } from './helpers/cutover-asserts';
import { cutoverProcess } from './helpers/cutover-process';
import { eventually } from './helpers/harness';
import { as, createMigrationUser, createRole, handOver, type MigrationUser, type Role } from './helpers/migration-user';

const PASSWORD_ENV = 'DBMIG_CUTOVER_SOURCE_PASSWORD';
const TARGET = 'cutover-target';
/**
 * The source runs 16: the first release that lets a non-superuser create the reverse subscription
 * (pg_create_subscription). Every scenario but one migrates as MIGRATOR, a non-superuser made the way
 * an operator makes one (helpers/migration-user.ts), with the application roles beside it.
 */
const SOURCE_VERSION = 16;
const MIGRATOR_ENV = 'DBMIG_CUTOVER_MIGRATOR_PASSWORD';
/** The role that owns every source database and its tables; the migration user is a member. */
const OWNER = 'shop_owner';
/** A non-superuser application role: superusers skip CONNECT checks, applications do not. */
let APP: Role;
/** A migration user that may read no sequence. */
const NO_SEQUENCES = { user: 'short_sighted', env: 'DBMIG_CUTOVER_NO_SEQ_PASSWORD' };
let MIGRATOR: MigrationUser;
const stateDir = resolve('.local-platform', 'test-cutover-local');
const platform = new LocalPlatform(stateDir);
let source: ClusterInfo;
let target: ClusterInfo;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const onSource = (db: string): ConnectionParams => ({ ...source, database: db });
const onTarget = (db: string): ConnectionParams => ({ ...target, database: db });

before(async () => {
  await rm(stateDir, { recursive: true, force: true });
  [source, target] = await Promise.all([
    platform.clusters.ensure('source', { version: SOURCE_VERSION }),
    platform.clusters.ensure(TARGET, { version: SOURCE_VERSION }),
  ]);
  process.env[PASSWORD_ENV] = source.password;
  MIGRATOR = await createMigrationUser(source, 'shop_migrator', MIGRATOR_ENV);
  APP = await createRole(source, 'shop_app');
  process.env[NO_SEQUENCES.env] = (await createRole(source, NO_SEQUENCES.user)).password;
});

after(async () => {
  for (const c of ['source', TARGET]) await platform.clusters.destroy(c);
  await rm(stateDir, { recursive: true, force: true });
});

/** An application session as APP; `readWrite` overrides the database's read-only default, as the bypass did. */
async function appSession(db: string, readWrite = false): Promise<pg.Client> {
  const c = new pg.Client({ ...as(onSource(db), APP), connectionTimeoutMillis: 5_000 });
  c.on('error', () => undefined);
  await c.connect();
  if (readWrite) await c.query('set default_transaction_read_only = off');
  return c;
}

/**
 * A source database in CDC with a migration job, ready to cut over, owned by OWNER with PUBLIC's
 * CONNECT revoked. `setup` runs (as the cluster's superuser) before the database is handed over
 * and its schema copied; `superuser`: migrate as the cluster's superuser instead of MIGRATOR.
 */
async function ready(
  name: string,
  opts: {
    cutover?: PlanInput['cutover'];
    setup?: (c: pg.Client) => Promise<unknown>;
    superuser?: boolean;
    /** Another non-superuser migration user than MIGRATOR. */
    migrator?: { user: string; env: string };
  } = {},
): Promise<DatabaseTask> {
  await createSourceDatabase(source, { name, rows: 300, priority: 'medium', sizeGb: 1 });
  if (opts.setup) await withClient(onSource(name), opts.setup);
  const migrator = opts.migrator ?? MIGRATOR;
  await handOver(source, name, { owner: OWNER, apps: [APP.user], migrator: migrator.user });
  const [user, ref] = opts.superuser ? [source.user, PASSWORD_ENV] : [migrator.user, migrator.env];
  const plan = validatePlan(
    planFor({ ...source, user }, [{ name, rows: 0, priority: 'medium', sizeGb: 1 }], `env:${ref}`, {
      ...(opts.cutover ? { cutover: opts.cutover } : {}),
    }),
  );
  const database = { ...plan.databases[0], target: { ...plan.databases[0].target, instance: TARGET } };
  const task: DatabaseTask = {
    migrationId: `cut-${name}`,
    platform: 'local',
    database,
    settings: effectiveSettings(plan, database),
  };
  await platform.provisionTarget(task);
  await platform.createMigrationJob(task);
  await platform.startMigrationJob(task);
  await platform.copyInitialData?.(task, () => undefined); // as waitForFullDump does
  const until = Date.now() + 60_000;
  for (;;) {
    const s = await platform.getReplicationStatus(task);
    if (s.phase === 'CDC' && s.lagSeconds !== null && s.lagSeconds < 1) return task;
    assert.ok(Date.now() < until, `${name} not in CDC after 60 s: ${JSON.stringify(s)}`);
    await sleep(100);
  }
}

/** The database's own default_transaction_read_only ('on' once closed), or null when it sets none. */
const readOnlyDefault = async (db: string) => (await withClient(onSource(db), readSourceAccess)).readOnly;

const jobRecord = async (task: DatabaseTask): Promise<JobRecord> =>
  JSON.parse(
    await readFile(join(stateDir, 'jobs', `${resourceNames(task.migrationId, task.database.name).job}.json`), 'utf8'),
  ) as JobRecord;

/** No job record yet (ENOENT) reads as undefined; anything else still fails. */
const noRecord = (err: NodeJS.ErrnoException): undefined => {
  if (err.code !== 'ENOENT') throw err;
};

const fenceSessions = (db: string) =>
  withClient(onSource('postgres'), async (c) =>
    (
      await c.query<{ pid: number }>(
        `select pid from pg_stat_activity where datname = $1 and application_name = 'dbmig fence'`,
        [db],
      )
    ).rows.map((r) => r.pid),
  );

/**
 * Holds a lock on a dbmig table of the target: the apply worker waits on it, so what replication
 * carries for that table stops arriving. EXCLUSIVE blocks the apply worker's UPDATE and lets the
 * cutover's SELECT through. Returns the release.
 */
async function stallApply(db: string, table: 'dbmig.fence' | 'dbmig.heartbeat'): Promise<() => Promise<void>> {
  const c = new pg.Client(onTarget(db));
  c.on('error', () => undefined);
  await c.connect();
  await c.query('begin');
  await c.query(`lock table ${table} in exclusive mode`);
  return async () => {
    await c.query('rollback');
    await c.end();
  };
}

/** The first progress step that starts with `prefix`, once. */
function onStep(prefix: string, fn: () => void): (step: string) => void {
  let fired = false;
  return (step) => {
    if (!fired && step.startsWith(prefix)) {
      fired = true;
      fn();
    }
  };
}

/** Checks a MigrationError's type and message; shows the message in the test's output. */

test('a session that overrides the read-only default cannot write during the cutover', async (t: TestContext) => {
  const db = 'override';
  const task = await ready(db);
  // A writer that reconnects and overrides the default every time, as a misbehaving application.
  let stop = false;
  let loopWrites = 0;
  const loop = (async () => {
    while (!stop) {
      const c = await appSession(db, true).catch(() => undefined);
      while (c && !stop) {
        const ok = await c.query(`insert into items (sku, qty, price) values ('loop', 1, 1)`).then(
          () => true,
          () => false,
        );
        if (!ok) break;
        loopWrites++;
      }
      await c?.end().catch(() => undefined);
      await sleep(5);
    }
  })();
  const session = await appSession(db, true);
  let duringBlock: Promise<string> | undefined;
  const result = await platform.cutover(
    task,
    onStep('draining to fence', () => {
      duringBlock = session.query(`insert into items (sku, qty, price) values ('during-block', 1, 1)`).then(
        () => 'committed',
        (err: Error) => err.message,
      );
    }),
  );
  stop = true;
  await loop;
  assert.ok(duringBlock, 'the cutover reported its drain');
  assert.match(await duringBlock, /terminat/, 'the blocked write was ended with its session');
  assert.equal(await count(onSource(db), `sku = 'during-block'`), 0, 'the blocked write never landed on the source');
  assert.equal(await count(onTarget(db), `sku = 'during-block'`), 0);
  assert.equal(await count(onTarget(db)), await count(onSource(db)), 'the target has as many rows as the source');
  for (const table of await compareRowForRow(onSource(db), onTarget(db)))
    assert.ok(table.equal, `${table.table}: source ${table.sourceRows} rows, target ${table.targetRows}`);
  assert.ok(loopWrites > 0, 'the looping writer wrote before the cutover');
  await assert.rejects(appSession(db, true), /permission denied for database/, 'applications can no longer connect');
  t.diagnostic(`write block ${result.writeBlockMs} ms; looping writer committed ${loopWrites} rows before it`);
});

test('superuser sessions, which a non-superuser cannot end, are refused by name or left and named', async (t) => {
  // Only a superuser ends a superuser's backend: one connected after the close used to fail every
  // attempt of the switch on pg_terminate_backend's error. Now the caller decides: the default
  // refuses by name (before a close commits, and where no watch covers their writes); the local
  // switch lets them stay, says so, and the closed source's watch sees their writes.
  const db = 'super_session';
  await createSourceDatabase(source, { name: db, rows: 10, priority: 'medium', sizeGb: 1 });
  await handOver(source, db, { owner: OWNER, apps: [APP.user], migrator: MIGRATOR.user });
  const dba = new pg.Client({ ...onSource(db), application_name: 'dba-console' });
  dba.on('error', () => undefined);
  await dba.connect();
  try {
    const app = await appSession(db);
    await withClient(as(onSource(db), MIGRATOR), async (h) => {
      const me = (await h.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
      await assert.rejects(
        endOtherSessions(h, [me], Date.now() + 10_000),
        isMigrationError(
          'PermissionDenied',
          /superuser session\(s\) connected \(pid \d+ \(postgres, dba-console\)\)/,
          t,
        ),
      );
      await assert.rejects(app.query('select 1'), 'the application session was ended all the same');
      // The refusal does not wait for the backends it signalled (pg_terminate_backend only
      // signals): the application's may still be listed, exiting, when the second call looks.
      const appPid = (app as unknown as { processID: number }).processID;
      await eventually(
        `the application's backend (pid ${appPid}) to exit`,
        async () => (await h.query('select 1 from pg_stat_activity where pid = $1', [appPid])).rowCount === 0,
        10_000,
        10,
      );
      const left: string[] = [];
      const ended = await endOtherSessions(h, [me], Date.now() + 10_000, (who) => left.push(...who));
      assert.deepEqual(ended, [], 'nothing else was connected');
      assert.equal(left.length, 1);
      assert.match(left[0], /\(postgres, dba-console\)$/);
    });
    assert.equal((await dba.query('select 1 as one')).rows[0].one, 1, 'the superuser session is still connected');
    await app.end().catch(() => undefined);
  } finally {
    await dba.end().catch(() => undefined);
  }
});

test('an unreadable sequence or a prepared transaction stops the cutover before any block', async (t) => {
  const db = 'prepared';
  const task = await ready(db);
  // CONNECT from the owner, as an operator would; no grant on the sequence.
  await withClient(onSource(db), (c) =>
    c.query(`set role ${OWNER}; grant connect on database ${db} to ${NO_SEQUENCES.user}; reset role`),
  );
  const shortSighted: DatabaseTask = {
    ...task,
    database: {
      ...task.database,
      source: { ...task.database.source, user: NO_SEQUENCES.user, passwordRef: `env:${NO_SEQUENCES.env}` },
    },
  };
  await assert.rejects(
    platform.cutover(shortSighted, () => undefined),
    isMigrationError(
      'SequenceUnreadable',
      /short_sighted cannot read 1 sequence\(s\).*public\.items_id_seq.*GRANT SELECT/,
      t,
    ),
  );
  await withClient(onSource(db), async (c) => {
    await c.query('begin');
    await c.query(`insert into items (sku, qty, price) values ('prepared', 1, 1)`);
    await c.query(`prepare transaction 'shop-2pc-17'`);
  });
  // Left prepared by a failed assertion, it would hold back every later test's replication slot.
  t.after(() =>
    withClient(onSource(db), async (c) => {
      const left = await c.query(`select 1 from pg_prepared_xacts where gid = 'shop-2pc-17'`);
      if (left.rowCount) await c.query(`rollback prepared 'shop-2pc-17'`);
    }),
  );
  await assert.rejects(
    platform.cutover(task, () => undefined),
    isMigrationError('PreparedTransactions', /shop-2pc-17/, t),
  );
  // Nothing was blocked: no fence session, no block on the record, and a write goes through (a
  // block would hold it to the 30 s default deadline, past the statement timeout, which fails it).
  assert.deepEqual(await fenceSessions(db), [], 'no fence session');
  // (The record is written when the cutover takes its block: a refusal before it leaves none.)
  assert.equal((await jobRecord(task).catch(noRecord))?.blocks ?? 0, 0, 'no block was taken');
  const app = await appSession(db);
  await app.query('set statement_timeout = 20000');
  await app.query(`insert into items (sku, qty, price) values ('after-refusal', 1, 1)`);
  assert.equal((await app.query('show default_transaction_read_only')).rows[0].default_transaction_read_only, 'off');
  await app.end();
  // Once resolved, the cutover goes through and carries the prepared row.
  await withClient(onSource(db), (c) => c.query(`commit prepared 'shop-2pc-17'`));
  await platform.cutover(task, () => undefined);
  assert.equal(await count(onTarget(db), `sku in ('prepared', 'after-refusal')`), 2);
});

test('a drain that cannot finish gives the writes back at the deadline and fails with CutoverTimedOut', async (t) => {
  const db = 'stalled';
  // The one scenario that migrates as the cluster's superuser, as the first releases all did.
  const task = await ready(db, { cutover: { timeout: '2s' }, superuser: true });
  const release = await stallApply(db, 'dbmig.fence');
  const app = await appSession(db);
  let blockedAt = 0;
  let write: Promise<number> | undefined;
  await assert.rejects(
    platform.cutover(task, (step) => {
      if (step.startsWith('blocking writes')) blockedAt = Date.now();
      if (step.startsWith('draining to fence') && !write)
        write = app.query(`insert into items (sku, qty, price) values ('waited', 1, 1)`).then(() => Date.now());
    }),
    isMigrationError(
      'CutoverTimedOut',
      /did not apply fence .* within 2\.0s: .*writes were restored after a \d+ ms block; replication runs/,
      t,
    ),
  );
  const window = (await write!) - blockedAt;
  t.diagnostic(`write block ${window} ms with cutover.timeout 2s`);
  // The block lasts until the deadline (not less: the drain really waited) and ends with it: past it
  // only by what a loaded machine adds, far less than a deadline read wrongly (20 s for 2 s) adds.
  assert.ok(window >= 1_500 && window < 2_000 + 10_000, `the write waited ${window} ms, not the 2 s deadline`);
  assert.deepEqual(await fenceSessions(db), [], 'no fence session is left');
  await release();
  const result = await platform.cutover(task, () => undefined);
  assert.equal((await jobRecord(task)).blocks, 2, 'the retry took one block of its own');
  assert.equal(await count(onTarget(db), `sku = 'waited'`), 1);
  t.diagnostic(`retry: write block ${result.writeBlockMs} ms`);
  await app.end();
});

test('a fence session killed mid-drain releases writes at once; the retry completes with one block', async (t) => {
  const db = 'killed';
  // A deadline far off: what ends the block must be the kill.
  const task = await ready(db, { cutover: { timeout: '60s' } });
  const release = await stallApply(db, 'dbmig.fence');
  const app = await appSession(db);
  let killedAt = 0;
  let write: Promise<number> | undefined;
  await assert.rejects(
    platform.cutover(
      task,
      onStep('draining to fence', () => {
        write = app.query(`insert into items (sku, qty, price) values ('after-kill', 1, 1)`).then(() => Date.now());
        // Killed once the write waits behind the block (the event), not after 300 ms.
        void lockWaiting(db, 'after-kill')
          .then(() => fenceSessions(db))
          .then((pids) =>
            withClient(onSource('postgres'), (c) => {
              killedAt = Date.now();
              return c.query('select pg_terminate_backend(pid) from unnest($1::int[]) pid', [pids]);
            }),
          );
      }),
    ),
    isMigrationError('CutoverInterrupted', /fence session \(pid \d+\) ended before the target applied fence/, t),
  );
  const released = (await write!) - killedAt;
  t.diagnostic(`writes came back ${released} ms after the fence session was killed`);
  assert.ok(released < 30_000, `the blocked write waited ${released} ms after the kill, as for the 60 s deadline`);
  await release();
  assert.deepEqual(await fenceSessions(db), [], 'the killed block left nothing');
  // The retry's drain is held until the block has been counted: a fence that arrived first would
  // end the block before anyone looked.
  let fencesDuringRetry: number[] = [];
  const releaseRetry = await stallApply(db, 'dbmig.fence');
  const result = await platform.cutover(
    task,
    onStep('draining to fence', () => {
      void fenceSessions(db)
        .then((pids) => (fencesDuringRetry = pids))
        .finally(() => releaseRetry());
    }),
  );
  assert.equal(fencesDuringRetry.length, 1, 'exactly one block while the retry drained');
  assert.equal((await jobRecord(task)).blocks, 2);
  assert.equal(await count(onTarget(db)), await count(onSource(db)));
  assert.equal(await count(onTarget(db), `sku = 'after-kill'`), 1);
  t.diagnostic(`retry: write block ${result.writeBlockMs} ms`);
  await app.end();
});

test('a worker that hangs mid-drain: PostgreSQL ends the block at the deadline; a retry completes', async (t) => {
  const db = 'hung';
  const task = await ready(db, { cutover: { timeout: '3s' } });
  const release = await stallApply(db, 'dbmig.fence');
  // The cutover runs in a worker process of its own, which is frozen (SIGSTOP) once it drains:
  // nothing of the worker can end the block any more, only the server's own timeouts.
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `const { LocalPlatform } = require('./activities/platforms/local');
       new LocalPlatform(process.env.CHILD_STATE).cutover(JSON.parse(process.env.CHILD_TASK), (s) => console.log(s));`,
    ],
    {
      env: { ...process.env, CHILD_STATE: stateDir, CHILD_TASK: JSON.stringify(task) },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let blockedAt = 0;
  await new Promise<void>((ok, fail) => {
    child.once('exit', (code) => fail(new Error(`the worker exited (${code}) before it drained`)));
    child.stdout.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (line.startsWith('blocking writes')) blockedAt = Date.now();
        if (line.startsWith('draining to fence')) {
          child.kill('SIGSTOP');
          ok();
        }
      }
    });
  });
  const [fencePid] = await fenceSessions(db);
  assert.ok(fencePid, 'the frozen worker holds a fence session');
  const app = await appSession(db);
  // Should the server not end the block, killing the worker does (and the window and log show it).
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  await app.query(`insert into items (sku, qty, price) values ('while-hung', 1, 1)`);
  clearTimeout(guard);
  const window = Date.now() - blockedAt;
  t.diagnostic(`write block ${window} ms with cutover.timeout 3s and a frozen worker`);
  assert.ok(window >= 2_500 && window < 3_000 + 30_000, `the block lasted ${window} ms, not the 3 s deadline`);
  assert.deepEqual(await fenceSessions(db), [], 'the server ended the fence session');
  // The server's own word that its timeout ended the block (not the worker, not the guard's kill).
  const log = await readFile(join(dirname(source.dataDir), 'postgres.log'), 'utf8');
  assert.match(
    log,
    new RegExp(`\\[${fencePid}\\] FATAL:  terminating connection due to (idle-in-transaction|transaction) timeout`),
  );
  child.kill('SIGKILL');
  await release();
  // The record says a block was taken and never reached the point of no return: the retry
  // gates and blocks anew, once.
  assert.equal((await jobRecord(task)).phase, 'blocked');
  const result = await platform.cutover(task, () => undefined);
  assert.equal((await jobRecord(task)).blocks, 2);
  assert.equal(await count(onTarget(db), `sku = 'while-hung'`), 1);
  assert.equal(await count(onTarget(db)), await count(onSource(db)));
  t.diagnostic(`retry: write block ${result.writeBlockMs} ms`);
  await app.end();
});

test('sequences keep is_called, identity columns continue, populated materialized views arrive populated', async () => {
  const db = 'carry';
  const task = await ready(db, {
    setup: async (c) => {
      await c.query(`create sequence counter_seq; select setval('counter_seq', 42, false)`);
      await c.query(
        `create sequence restarted_seq; select nextval('restarted_seq'); alter sequence restarted_seq restart with 100`,
      );
      await c.query(`create table ledger (id bigint generated always as identity primary key, note text)`);
      await c.query(`insert into ledger (note) select 'n' || g from generate_series(1, 5) g`);
      await c.query(`create materialized view item_totals as select count(*) as n, sum(qty) as qty from items`);
      await c.query(`create materialized view totals_twice as select n * 2 as n2 from item_totals`);
      await c.query(`create materialized view never_filled as select sku from items with no data`);
    },
  });
  await withClient(onSource(db), async (c) => {
    // After the schema copy, as the application's owner: a new sequence, and rows through the identity and the serial.
    await c.query(`set role ${OWNER}`);
    await c.query(`create sequence late_seq start 7; select nextval('late_seq')`);
    await c.query(`insert into ledger (note) values ('six'), ('seven')`);
    await c.query(`insert into items (sku, qty, price) values ('one-more', 3, 1)`);
    await c.query('refresh materialized view item_totals; refresh materialized view totals_twice');
  });
  const result = await platform.cutover(task, () => undefined);
  const carried = Object.fromEntries((result.sequences ?? []).map((s) => [s.name, [s.lastValue, s.isCalled]]));
  assert.deepEqual(carried['public.counter_seq'], ['42', false]);
  assert.deepEqual(carried['public.restarted_seq'], ['100', false]);
  assert.deepEqual(carried['public.ledger_id_seq'], ['7', true]);
  assert.deepEqual(carried['public.late_seq'], ['7', true]);
  assert.deepEqual(result.materializedViews, ['public.item_totals', 'public.totals_twice']);
  await withClient(onTarget(db), async (c) => {
    const next = async (seq: string) => (await c.query(`select nextval('${seq}')::int as v`)).rows[0].v;
    assert.equal(await next('counter_seq'), 42);
    assert.equal(await next('restarted_seq'), 100);
    assert.equal(await next('late_seq'), 8);
    assert.equal((await c.query(`insert into ledger (note) values ('eight') returning id::int`)).rows[0].id, 8);
    const maxId = (await c.query('select max(id)::int as m from items')).rows[0].m;
    assert.equal(
      (await c.query(`insert into items (sku, qty, price) values ('t', 1, 1) returning id::int`)).rows[0].id,
      maxId + 1,
    );
    const views = await c.query(`select matviewname, ispopulated from pg_matviews order by 1`);
    assert.deepEqual(
      views.rows.map((r) => [r.matviewname, r.ispopulated]),
      [
        ['item_totals', true],
        ['never_filled', false],
        ['totals_twice', true],
      ],
    );
  });
  const totals = (p: ConnectionParams) =>
    withClient(p, async (c) => (await c.query('select n::int, qty::int from item_totals')).rows[0]);
  assert.deepEqual(await totals(onTarget(db)), await totals(onSource(db)));
});

test('lag is the age of the newest applied heartbeat: it grows while apply stalls or stops, never 0', async (t) => {
  const db = 'lag';
  const task = await ready(db);
  // An idle source reads as caught up, not as one poll interval behind: the lag is no more than the
  // status read that measured it took (its own heartbeat arrived while it waited), where a lag read
  // from the previous read's heartbeat would add the pause between reads. One sample of a few
  // suffices: on a busy machine a heartbeat may take longer than a status read waits for it.
  const idle = await caughtUp(task, 60_000);
  t.diagnostic(`idle lag ${idle.lagSeconds} s, measured by a status read of ${idle.tookMs} ms`);

  // Apply stalls (a lock on the target): the subscription is enabled, and the lag grows.
  const release = await stallApply(db, 'dbmig.heartbeat');
  const first = await platform.getReplicationStatus(task);
  await sleep(1_000);
  const second = await platform.getReplicationStatus(task);
  assert.equal(second.phase, 'CDC');
  assert.ok(
    first.lagSeconds! > 0 && second.lagSeconds! >= first.lagSeconds! + 0.9,
    `${first.lagSeconds} -> ${second.lagSeconds}`,
  );
  // The gate measures too: no cutover while the target is behind, and nothing was blocked.
  await assert.rejects(
    platform.cutover(task, () => undefined),
    isMigrationError('CutoverNotReady', /lag is over cutover\.maxLagSeconds \(1 s\).*nothing was blocked/, t),
  );
  // The applied position (what apply-slow's rate is made of: the slot's confirmed_flush_lsn) stands
  // still while apply stalls, and moves on once it applies again.
  assert.ok(first.appliedBytes! > 0, `applied ${first.appliedBytes}`);
  assert.equal(second.appliedBytes, first.appliedBytes, 'nothing confirmed applied while apply stalls');
  await release();
  const applying = await caughtUp(task, 60_000);
  assert.ok(applying.appliedBytes! > second.appliedBytes!, `${second.appliedBytes} -> ${applying.appliedBytes}`);

  // Stopped replication: lag keeps growing from the last heartbeat applied.
  await platform.stopMigrationJob(task);
  const stopped = await platform.getReplicationStatus(task);
  await sleep(1_000);
  const later = await platform.getReplicationStatus(task);
  assert.equal(later.phase, 'STOPPED');
  assert.ok(
    stopped.lagSeconds! > 0 && later.lagSeconds! >= stopped.lagSeconds! + 0.9,
    `${stopped.lagSeconds} -> ${later.lagSeconds}`,
  );
  await platform.startMigrationJob(task);
  await platform.copyInitialData?.(task, () => undefined); // as waitForFullDump does
  await caughtUp(task, 60_000);
});

/** Resolves once a session on `db` running a statement that mentions `marker` waits for a lock. */
async function lockWaiting(db: string, marker: string): Promise<void> {
  const waiting = () =>
    withClient(onSource('postgres'), async (c) => {
      const { rows } = await c.query(
        `select 1 from pg_stat_activity where datname = $1 and wait_event_type = 'Lock' and query like $2`,
        [db, `%${marker}%`],
      );
      return rows.length > 0;
    });
  for (const until = Date.now() + 60_000; !(await waiting()); await sleep(20))
    assert.ok(Date.now() < until, `no statement with ${marker} waited for a lock within 60 s`);
}

/**
 * The first status read (one every PAUSE_MS, for up to `ms`) whose lag and sample age are within the
 * time the read itself took: the heartbeat it wrote arrived before it returned.
 */
async function caughtUp(task: DatabaseTask, ms: number) {
  const PAUSE_MS = 300;
  const until = Date.now() + ms;
  for (;;) {
    await sleep(PAUSE_MS);
    const started = Date.now();
    const s = await platform.getReplicationStatus(task);
    const tookMs = Date.now() - started;
    // 50 ms for the two clocks' rounding (the source's µs, this process's ms); far under PAUSE_MS.
    const within = (seconds: number | null | undefined) => seconds != null && seconds * 1000 <= tookMs + 50;
    if (within(s.lagSeconds) && within(s.sampleAgeSeconds)) return { ...s, tookMs };
    assert.ok(
      Date.now() < until,
      `lag ${s.lagSeconds} s, sample age ${s.sampleAgeSeconds} s after a ${tookMs} ms read`,
    );
  }
}

/** Inserts into `table` as APP, one at a time, timing each; a failure ends the session and retries. */
class TimedWriter {
  readonly waits: { start: number; ms: number }[] = [];
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(db: string, table: string) {
    this.loop = (async () => {
      let c: pg.Client | undefined;
      while (!this.stopped) {
        const start = Date.now();
        try {
          c ??= await appSession(db);
          await c.query(`insert into ${table} default values`);
          this.waits.push({ start, ms: Date.now() - start });
        } catch {
          await c?.end().catch(() => undefined);
          c = undefined;
        }
        await sleep(10);
      }
      await c?.end().catch(() => undefined);
    })();
  }

  /** The longest a write that started in [from, to] waited. */
  longest(from: number, to: number): number {
    return Math.max(0, ...this.waits.filter((w) => w.start >= from && w.start <= to).map((w) => w.ms));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

test('an open write on a published table: the cutover gives up at its lock wait, not stalling writers', async (t) => {
  const db = 'conflict';
  const task = await ready(db, {
    setup: (c) =>
      c.query(`create table notes (id bigserial primary key, at timestamptz default clock_timestamp());
               alter table items alter column sku set default 'held', alter column qty set default 1,
                                 alter column price set default 1`),
  });
  // The application's transaction: an uncommitted write holds ROW EXCLUSIVE on items.
  const holder = await appSession(db);
  await holder.query('begin');
  await holder.query(`insert into items (sku, qty, price) values ('held-open', 1, 1)`);
  // Writers of both published tables: one of the held table (it queues behind the cutover's SHARE
  // request), one of another table (locked or not, depending on the LOCK's order).
  const writers = { items: new TimedWriter(db, 'items'), notes: new TimedWriter(db, 'notes') };
  // Should the cutover wait on the lock for good, the holder commits after GUARD_MS and the writers'
  // waits show it: far over the lock wait (2 s) the cutover allows itself.
  const GUARD_MS = 40_000;
  const guard = setTimeout(() => void holder.query('commit').catch(() => undefined), GUARD_MS);
  t.after(async () => {
    clearTimeout(guard);
    await Promise.all(Object.values(writers).map((w) => w.stop()));
    await holder.end().catch(() => undefined);
  });
  const started = Date.now();
  await assert.rejects(
    platform.cutover(task, () => undefined),
    isMigrationError(
      'CutoverNotReady',
      new RegExp(
        'could not lock the published tables within \\d+ ms, so nothing was blocked: ' +
          'pid \\d+ \\(shop_app, .*\\) holds RowExclusiveLock on items',
      ),
      t,
    ),
  );
  const ended = Date.now();
  clearTimeout(guard);
  await sleep(300); // a write that started just before the end is timed too
  await Promise.all(Object.values(writers).map((w) => w.stop()));
  const waited = { items: writers.items.longest(started, ended), notes: writers.notes.longest(started, ended) };
  t.diagnostic(
    `the cutover gave up after ${ended - started} ms; longest write meanwhile: items ${waited.items} ms ` +
      `(${writers.items.waits.length} writes), notes ${waited.notes} ms (${writers.notes.waits.length} writes)`,
  );
  // Bounded by the lock wait, not by the holder: a cutover that waited for the lock would hold every
  // writer for GUARD_MS. 15 s leaves a loaded machine room and is far under it.
  assert.ok(ended - started < 15_000, `the cutover waited ${ended - started} ms on the lock`);
  for (const [table, ms] of Object.entries(waited))
    assert.ok(ms < 15_000, `a write to ${table} waited ${ms} ms behind the cutover's queued lock`);
  assert.ok(writers.items.waits.length > 0 && writers.notes.waits.length > 0, 'both writers wrote');
  assert.deepEqual(await fenceSessions(db), [], 'no fence session is left');
  assert.equal((await jobRecord(task).catch(noRecord))?.blocks ?? 0, 0, 'no block was taken');
  // The application commits; the retry goes through and carries its row.
  await holder.query('commit');
  await platform.cutover(task, () => undefined);
  assert.equal(await count(onTarget(db), `sku = 'held-open'`), 1);
  for (const table of await compareRowForRow(onSource(db), onTarget(db)))
    assert.ok(table.equal, `${table.table}: source ${table.sourceRows} rows, target ${table.targetRows}`);
});

/** Every replication object of database `db` on both clusters, as "side kind name". */
async function replicationObjects(db: string): Promise<string[]> {
  const out: string[] = [];
  for (const [side, p] of [
    ['source', onSource(db)],
    ['target', onTarget(db)],
  ] as const)
    await withClient(p, async (c) => {
      const q = async (kind: string, sql: string) =>
        out.push(...(await c.query<{ n: string }>(sql)).rows.map((r) => `${side} ${kind} ${r.n}`));
      await q('publication', 'select pubname as n from pg_publication');
      await q(
        'subscription',
        `select subname as n from pg_subscription
          where subdbid = (select oid from pg_database where datname = current_database())`,
      );
      await q('slot', 'select slot_name as n from pg_replication_slots where database = current_database()');
    });
  return out.sort();
}

test('a worker SIGKILLed between the close COMMIT and its record, then in the switch, resumes forward', async (t) => {
  const db = 'killed_windows';
  const task = await ready(db, {
    // A key-less table (replica identity FULL): a row applied twice would show as two.
    setup: (c) => c.query('create table lines (n bigint not null); alter table lines replica identity full'),
  });
  // The application writes an item and a line per transaction, and remembers what committed.
  const committed: number[] = [];
  let stop = false;
  const app = (async () => {
    for (let n = 1; !stop; n++) {
      const c = await appSession(db).catch(() => undefined);
      if (!c) {
        await sleep(50);
        continue;
      }
      const ok = await c
        .query(
          `begin; insert into items (sku, qty, price) values ('w-${n}', 1, 1); insert into lines values (${n}); commit`,
        )
        .then(
          () => true,
          () => false,
        );
      if (ok) committed.push(n);
      await c.end().catch(() => undefined);
      await sleep(5);
    }
  })();
  try {
    await eventually('the application writing', async () => committed.length >= 5);

    const first = await cutoverProcess(stateDir, task, 'cutover/close-committed');
    await first.paused();
    await first.kill();
    // The close committed and is not recorded: the source is closed, the record says 'closing'.
    const afterClose = await jobRecord(task);
    assert.equal(afterClose.phase, 'closing', 'killed between the COMMIT and its record');
    assert.equal(afterClose.blocks, 1);
    await assert.rejects(appSession(db, true), /permission denied for database/, 'the source is closed');
    assert.deepEqual(await fenceSessions(db), [], 'the block went with the commit');

    const second = await cutoverProcess(stateDir, task, 'cutover/switching');
    await second.paused();
    await second.kill();
    const inSwitch = await jobRecord(task);
    assert.equal(inSwitch.phase, 'closed', 'the retry read the close token and resumed forward');
    assert.ok(
      inSwitch.subscriptionDisabled && !inSwitch.reverse,
      'killed inside the switch, before reverse replication',
    );

    const result = await platform.cutover(task, () => undefined);
    stop = true;
    await app;
    const rec = await jobRecord(task);
    assert.equal(rec.blocks, 1, 'one write block in all: no retry blocked or closed again');
    assert.ok(rec.result && rec.reverse, 'the record holds the result and reverse replication');
    const names = resourceNames(task.migrationId, task.database.name);
    assert.deepEqual(
      await replicationObjects(db),
      [
        `source slot ${names.slot}_srcw`,
        `source subscription ${names.subscription}_rev`,
        `target publication ${names.publication}_rev`,
        `target slot ${names.slot}_rev`,
      ],
      'reverse replication once, forward replication gone, the closed source watched once',
    );
    await assert.rejects(appSession(db, true), /permission denied for database/, 'the source stays closed');
    // Every committed write is on the target, once.
    const lines = await withClient(onTarget(db), async (c) =>
      (await c.query<{ n: string }>('select n from lines order by n')).rows.map((r) => Number(r.n)),
    );
    assert.deepEqual(lines, committed, 'the target has every committed line, each once');
    for (const table of await compareRowForRow(onSource(db), onTarget(db)))
      assert.ok(table.equal, `${table.table}: source ${table.sourceRows} rows, target ${table.targetRows}`);
    t.diagnostic(
      `${committed.length} application transactions committed, all on the target once; ` +
        `write block ${result.writeBlockMs} ms across two killed workers`,
    );
  } finally {
    stop = true;
    await app;
  }
});

test('a migration user that cannot see other sessions is refused at the assessment and at the close', async (t) => {
  const db = 'blind';
  // A migration user as MIGRATOR but without pg_read_all_stats: other roles' sessions show it no backend_type.
  const blind = { user: 'blind_migrator', env: 'DBMIG_CUTOVER_BLIND_PASSWORD' };
  process.env[blind.env] = (await createRole(source, blind.user, 'replication')).password;
  await withClient(onSource('postgres'), (c) =>
    c.query(`grant pg_signal_backend, pg_create_subscription to ${blind.user}`),
  );
  const task = await ready(db, { migrator: blind });
  const assessed = await platform.assessSource(task);
  const finding = assessed.findings.find((f) => f.code === 'SOURCE_PRIVILEGES');
  t.diagnostic(`assessment: ${finding?.message}`);
  assert.ok(assessed.blocked && finding, 'the assessment refuses the move');
  assert.match(finding.message, /blind_migrator is not a superuser and lacks membership in pg_read_all_stats/);
  assert.doesNotMatch(finding.message, /pg_signal_backend|REPLICATION|CREATE on|ownership/, 'only what is missing');

  // An idle application session, which the close must end; this user would not find it.
  const app = await appSession(db);
  await assert.rejects(
    platform.cutover(task, () => undefined),
    isMigrationError(
      'PermissionDenied',
      /not closing blind: the migration user cannot see sessions .*pg_read_all_stats/,
      t,
    ),
  );
  await app.query(`insert into items (sku, qty, price) values ('after-refusal', 1, 1)`);
  assert.equal((await app.query('show default_transaction_read_only')).rows[0].default_transaction_read_only, 'off');
  assert.deepEqual(await fenceSessions(db), [], 'nothing is blocked');
  assert.equal(await readOnlyDefault(db), null, 'nothing was closed');
  // Granted what it lacked, it sees every session; a superuser's it may not end, and says so.
  await withClient(onSource('postgres'), (c) => c.query(`grant pg_read_all_stats to ${blind.user}`));
  await withClient(onSource(db), async () =>
    assert.rejects(
      platform.cutover(task, () => undefined),
      isMigrationError('PermissionDenied', /superuser sessions are connected \(pid \d+ \(postgres\)\)/, t),
    ),
  );
  await platform.cutover(task, () => undefined);
  await assert.rejects(app.query('select 1'), 'its session was ended');
  await assert.rejects(appSession(db), /permission denied for database/, 'the source is closed');
  assert.equal(await count(onTarget(db), `sku = 'after-refusal'`), 1);
  await app.end().catch(() => undefined);
});
