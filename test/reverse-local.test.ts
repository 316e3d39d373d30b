// Reverse replication after a local cutover, against real clusters (one source, one target for
// the whole file, a source database per scenario), calling the platform directly: no Temporal.
// After the cutover the target's writes flow back to the closed source; a rollback fences and
// closes the target, drains, carries sequences back and reopens the source; a finalize ends it.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { LocalPlatform } from '../activities/platforms/local';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import { readSourceAccess } from '../activities/engines/postgres/close-source';
import type { JobRecord } from '../activities/engines/postgres/job-record';
import { readMark } from '../activities/engines/postgres/target-mark';
import type { DatabaseTask } from '../activities/steps';
import { resourceNames } from '../common/naming';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan, type PlanInput } from '../common/plan';
import { compareRowForRow, createSourceDatabase, planFor, Writer } from './fixtures/fleet';
import { describeLocalWorld } from './helpers/local-world';
import { worldDifferences } from './helpers/platform-contract';
import { count, isMigrationError } from './helpers/cutover-asserts';

const PASSWORD_ENV = 'DBMIG_REVERSE_SOURCE_PASSWORD';
const TARGET = 'reverse-target';
/** A non-superuser application role, on both clusters: superusers skip CONNECT checks, applications do not. */
const APP = { user: 'shop_app', password: 'shop-app-password' };
const stateDir = resolve('.local-platform', 'test-reverse-local');
const platform = new LocalPlatform(stateDir);
let source: ClusterInfo;
let target: ClusterInfo;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const onSource = (db: string): ConnectionParams => ({ ...source, database: db });
const onTarget = (db: string): ConnectionParams => ({ ...target, database: db });
const asApp = (p: ConnectionParams): ConnectionParams => ({ ...p, ...APP });

before(async () => {
  await rm(stateDir, { recursive: true, force: true });
  [source, target] = await Promise.all([platform.clusters.ensure('source'), platform.clusters.ensure(TARGET)]);
  process.env[PASSWORD_ENV] = source.password;
  for (const c of [source, target])
    await withClient({ ...c, database: 'postgres' }, (s) =>
      s.query(`create role ${APP.user} login password ${pg.escapeLiteral(APP.password)}`),
    );
});

after(async () => {
  for (const c of ['source', TARGET]) await platform.clusters.destroy(c);
  await rm(stateDir, { recursive: true, force: true });
});

/** An application session as APP; it obeys the database's defaults (read-only on a closed database). */
async function appSession(p: ConnectionParams): Promise<pg.Client> {
  const c = new pg.Client({ ...asApp(p), connectionTimeoutMillis: 5_000 });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

const APP_GRANTS =
  `grant select, insert, update, delete on all tables in schema public to ${APP.user}; ` +
  `grant usage on all sequences in schema public to ${APP.user}`;

/** A source database cut over to the target, the application allowed on both. `setup` runs before the schema copy. */
async function cutOver(
  name: string,
  opts: {
    cutover?: PlanInput['cutover'];
    noPrimaryKey?: boolean;
    setup?: (c: pg.Client) => Promise<unknown>;
  } = {},
) {
  const db = { name, rows: 300, priority: 'medium' as const, sizeGb: 1, noPrimaryKey: opts.noPrimaryKey };
  await createSourceDatabase(source, db);
  await withClient(onSource(name), async (c) => {
    await opts.setup?.(c);
    await c.query(APP_GRANTS);
  });
  const plan = validatePlan(
    planFor(source, [{ ...db, rows: 0 }], `env:${PASSWORD_ENV}`, opts.cutover ? { cutover: opts.cutover } : {}),
  );
  const database = { ...plan.databases[0], target: { ...plan.databases[0].target, instance: TARGET } };
  const task: DatabaseTask = {
    migrationId: `rev-${name}`,
    platform: 'local',
    database,
    settings: effectiveSettings(plan, database),
  };
  await platform.provisionTarget(task);
  await withClient(onTarget(name), (c) => c.query(APP_GRANTS));
  await platform.createMigrationJob(task);
  await platform.startMigrationJob(task);
  await platform.copyInitialData?.(task, () => undefined); // as waitForFullDump does
  const until = Date.now() + 60_000;
  for (;;) {
    const s = await platform.getReplicationStatus(task);
    if (s.phase === 'CDC' && s.lagSeconds !== null && s.lagSeconds < 1) break;
    assert.ok(Date.now() < until, `${name} not in CDC after 60 s: ${JSON.stringify(s)}`);
    await sleep(100);
  }
  // What the source's access was before the cutover closed it, to compare after a rollback.
  const before = {
    access: await withClient(onSource(name), readSourceAccess),
    privileges: await privileges(onSource(name)),
    settings: await databaseSettings(source, name),
  };
  const result = await platform.cutover(task, () => undefined);
  return { task, result, before };
}

/** The database's own settings (role '*') and every role-in-database setting. */
const databaseSettings = (c: ClusterInfo, db: string) =>
  withClient(
    { ...c, database: 'postgres' },
    async (s) =>
      (
        await s.query<{ settings: string[] | null }>(
          `select (select array_agg(format('%s:%s', coalesce(r.rolname, '*'), s.setconfig) order by 1)
                   from pg_db_role_setting s left join pg_roles r on r.oid = s.setrole
                  where s.setdatabase = d.oid) as settings
           from pg_database d where d.datname = $1`,
          [db],
        )
      ).rows[0].settings,
  );

/** Every privilege on the database, the NULL (default) ACL spelled out: what the ACL grants, not how it is written. */
const privileges = (p: ConnectionParams) =>
  withClient(
    p,
    async (c) =>
      (
        await c.query<{ p: string[] }>(
          `select array(select format('%s>%s:%s:%s', grantor::regrole, grantee, privilege_type, is_grantable)
                        from aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) order by 1) as p
           from pg_database d where d.datname = current_database()`,
        )
      ).rows[0].p,
  );

const jobRecord = async (task: DatabaseTask): Promise<JobRecord> =>
  JSON.parse(
    await readFile(join(stateDir, 'jobs', `${resourceNames(task.migrationId, task.database.name).job}.json`), 'utf8'),
  ) as JobRecord;

/** The reverse objects that exist: subscription on the source, publication and slot on the target. */
async function reverseObjects(task: DatabaseTask) {
  const db = task.database.name;
  const subscriptions = await withClient(onSource(db), async (c) =>
    (
      await c.query<{ s: string; enabled: boolean }>(
        `select subname as s, subenabled as enabled from pg_subscription
          where subdbid = (select oid from pg_database where datname = current_database())`,
      )
    ).rows.map((r) => `${r.s}${r.enabled ? '' : ' (disabled)'}`),
  );
  const publications = await withClient(onTarget(db), async (c) =>
    (await c.query<{ p: string }>('select pubname as p from pg_publication')).rows.map((r) => r.p),
  );
  const slots = await withClient(onTarget('postgres'), async (c) =>
    (
      await c.query<{ s: string }>('select slot_name as s from pg_replication_slots where database = $1', [db])
    ).rows.map((r) => r.s),
  );
  return { subscriptions, publications, slots };
}

const world = () => describeLocalWorld(platform);
function unchanged(before: unknown, after: unknown, message: string): void {
  const diffs = worldDifferences(before, after);
  assert.ok(diffs.length === 0, `${message}:\n  ${diffs.join('\n  ')}`);
}

/** Resolves once `check` holds (within `ms`), with how long it took. */
async function eventually(check: () => Promise<boolean>, ms = 60_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    assert.ok(Date.now() - started < ms, `not within ${ms} ms`);
    await sleep(20);
  }
}

/** Holds a lock on the source's dbmig.fence: the reverse apply worker waits on it. Returns the release. */
async function stallReverseApply(db: string): Promise<() => Promise<void>> {
  const c = new pg.Client(onSource(db));
  c.on('error', () => undefined);
  await c.connect();
  await c.query('begin');
  await c.query('lock table dbmig.fence in exclusive mode');
  return async () => {
    await c.query('rollback');
    await c.end();
  };
}

/** Checks a MigrationError's type and message; shows the message in the test's output. */

const refusedConnect = /permission denied for database/;

test('after a cutover the target writes reach the closed source; finalize ends it, twice as once', async (t) => {
  const db = 'reverse';
  const { task, result } = await cutOver(db);
  const names = resourceNames(task.migrationId, db);
  const rec = await jobRecord(task);
  t.diagnostic(`write block ${result.writeBlockMs} ms, of which reverse replication ${rec.reverse?.setupMs} ms`);
  assert.deepEqual(result.reverseReplication, {
    publication: `${names.publication}_rev`,
    slot: `${names.slot}_rev`,
    subscription: `${names.subscription}_rev`,
  });
  assert.deepEqual(await reverseObjects(task), {
    subscriptions: [`${names.subscription}_rev`],
    publications: [`${names.publication}_rev`],
    slots: [`${names.slot}_rev`],
  });
  const forward = await withClient(onSource(db), async (c) => ({
    publications: (await c.query('select 1 from pg_publication')).rowCount,
    slots: (await c.query('select 1 from pg_replication_slots where slot_name = $1', [names.slot])).rowCount,
  }));
  assert.deepEqual(forward, { publications: 0, slots: 0 }, 'the forward publication and slot are gone');
  const mark = await withClient(onTarget('postgres'), (c) => readMark(c, db));
  assert.equal(mark.mark?.state, 'cutover', 'the target is marked as cut over');

  // The workflow deletes the migration job after the cutover: dbmig's tables stay for reverse replication.
  await platform.deleteMigrationJob(task);
  const app = await appSession(onTarget(db));
  await app.query(`insert into items (sku, qty, price) values ('written-on-target', 1, 1)`);
  await app.query(`update items set qty = 1000 where id = 1`);
  await app.end();
  const arrived = await eventually(
    async () => (await count(onSource(db), `sku = 'written-on-target' or qty = 1000`)) === 2,
  );
  t.diagnostic(`a row written on the target arrived on the closed source within ${arrived} ms`);
  // The migration user's own sessions (without dbmig's per-session override) stay read-only there:
  // reverse replication reopens the source to nobody, not even to an application using that role.
  const plain = new pg.Client({ ...onSource(db), connectionTimeoutMillis: 5_000 });
  await plain.connect();
  await assert.rejects(
    plain.query(`insert into items (sku, qty, price) values ('same-role', 1, 1)`),
    /read-only transaction/,
    'a session of the migration user cannot write to the closed source',
  );
  await plain.end();
  await assert.rejects(appSession(onSource(db)), refusedConnect, 'the source still refuses the application');

  await platform.finalizeCutover(task);
  const once = await world();
  await platform.finalizeCutover(task);
  unchanged(once, await world(), 'finalizeCutover run a second time changed the world');
  assert.deepEqual(await reverseObjects(task), { subscriptions: [], publications: [], slots: [] });
  assert.deepEqual(await databaseSettings(source, db), ['*:{default_transaction_read_only=on}'], 'still closed');
  await assert.rejects(appSession(onSource(db)), refusedConnect, 'the source stays closed after finalize');
  const finalized = await jobRecord(task);
  assert.ok(finalized.reverse?.finalized, 'the record says when it was finalized');
  await assert.rejects(
    platform.rollbackAfterCutover(task),
    isMigrationError('RollbackUnavailable', /was finalized at \d{4}-\d\d-\d\dT.*reverse replication .* was dropped/, t),
  );
  unchanged(once, await world(), 'a refused rollback changed the world');
  const target = await appSession(onTarget(db));
  await target.query(`insert into items (sku, qty, price) values ('after-finalize', 1, 1)`);
  await target.end();
});

test('a rollback under writes: every target write on the source, sequences back, the source as before', async (t) => {
  const db = 'rollback';
  const { task, before } = await cutOver(db, {
    noPrimaryKey: true,
    setup: async (c) => {
      await c.query(`create sequence counter_seq`);
      await c.query(`create materialized view item_totals as select count(*) as n, sum(qty) as qty from items`);
    },
  });
  await withClient(onTarget(db), async (c) => {
    // After the cutover: a sequence set back (is_called false), one the target made, a refreshed view.
    await c.query(`select setval('counter_seq', 500, false)`);
    await c.query(`create sequence late_seq start 7; select nextval('late_seq'); select nextval('late_seq')`);
  });
  const writer = new Writer(asApp(onTarget(db)), true, 5);
  // The writer is under way on the target: counted, not given 1 s (a loaded machine writes slower).
  await eventually(async () => writer.writes > 10);
  // A key-less table takes updates on the target (REPLICA IDENTITY FULL there too) and they travel back.
  await withClient(asApp(onTarget(db)), (c) => c.query(`update movements set delta = 99 where sku = 'sku-1'`));
  await withClient(onTarget(db), (c) => c.query('refresh materialized view item_totals'));
  const steps: string[] = [];
  const result = await platform.rollbackAfterCutover(task, (s) => steps.push(s));
  await writer.stop();
  t.diagnostic(`rollback write block ${result.writeBlockMs} ms; the writer committed ${writer.writes} on the target`);
  t.diagnostic(`steps: ${steps.map((s) => s.replace(/ [0-9a-f-]{36}$/, '')).join(' | ')}`);
  assert.ok(writer.writes > 10, `the writer wrote ${writer.writes} times on the target`);

  await assert.rejects(appSession(onTarget(db)), refusedConnect, 'the target refuses the application');
  for (const table of await compareRowForRow(onSource(db), onTarget(db)))
    assert.ok(table.equal, `${table.table}: source ${table.sourceRows} rows, target ${table.targetRows}`);
  assert.equal(await count(onSource(db), `sku like 'new-%'`), await count(onTarget(db), `sku like 'new-%'`));
  const updated = (p: ConnectionParams) =>
    withClient(p, async (c) =>
      Number((await c.query(`select count(*) from movements where delta = 99`)).rows[0].count),
    );
  assert.ok((await updated(onSource(db))) > 0 && (await updated(onSource(db))) === (await updated(onTarget(db))));

  const carried = Object.fromEntries(result.sequences.map((s) => [s.name, [s.lastValue, s.isCalled]]));
  assert.deepEqual(carried['public.counter_seq'], ['500', false]);
  assert.deepEqual(carried['public.late_seq'], ['8', true]);
  assert.deepEqual(result.materializedViews, ['public.item_totals']);
  // The view on the source is refreshed from the rows the target had when it closed.
  const totals = (p: ConnectionParams, from: string) =>
    withClient(p, async (c) => (await c.query(`select n::int, qty::int from ${from}`)).rows[0]);
  assert.deepEqual(
    await totals(onSource(db), 'item_totals'),
    await totals(onTarget(db), '(select count(*) as n, sum(qty) as qty from items) t'),
  );

  // The source takes the application's writes again, exactly as before the cutover closed it (a NULL
  // ACL comes back spelled out: no command sets it back to NULL; it grants the same).
  const now = await withClient(onSource(db), readSourceAccess);
  assert.deepEqual({ ...now, acl: null }, { ...before.access, acl: null }, 'CONNECT grants and read-only default');
  assert.deepEqual(await privileges(onSource(db)), before.privileges, 'every privilege on the database');
  assert.deepEqual(await databaseSettings(source, db), before.settings, 'database and role-in-database settings');
  await withClient(onSource(db), (c) => c.query(`grant usage on late_seq to ${APP.user}`));
  const maxOnTarget = await withClient(onTarget(db), async (c) =>
    Number((await c.query('select max(id) as m from items')).rows[0].m),
  );
  const app = await appSession(onSource(db));
  const { rows } = await app.query<{ id: string }>(
    `insert into items (sku, qty, price) values ('back-on-source', 1, 1) returning id`,
  );
  assert.ok(Number(rows[0].id) > maxOnTarget, `id ${rows[0].id} continues after the target's ${maxOnTarget}`);
  const next = async (seq: string) => Number((await app.query(`select nextval('${seq}') as v`)).rows[0].v);
  assert.equal(await next('counter_seq'), 500, 'is_called = false came back: 500 is next');
  assert.equal(await next('late_seq'), 9, 'the sequence the target made continues on the source');
  await app.end();
  assert.deepEqual(await reverseObjects(task), { subscriptions: [], publications: [], slots: [] });

  // Rollback twice = once; a finalize after it changes nothing.
  const once = await world();
  assert.deepEqual(await platform.rollbackAfterCutover(task), result);
  await platform.finalizeCutover(task);
  unchanged(once, await world(), 'rollbackAfterCutover or finalizeCutover after the rollback changed the world');
});

test('a rollback interrupted at each of its steps is finished by a retry, with one block past its close', async (t) => {
  for (let k = 1; ; k++) {
    const db = `interrupt_${k}`;
    const { task } = await cutOver(db);
    const steps: string[] = [];
    const interrupted = await platform
      .rollbackAfterCutover(task, (step) => {
        if (step !== steps.at(-1)) steps.push(step);
        if (steps.length === k) throw new Error(`interrupted at "${step}"`);
      })
      .then(
        () => false,
        () => true,
      );
    const at = interrupted ? (steps.at(-1) ?? '').replace(/ [0-9a-f-]{36}$/, '') : 'nothing (not interrupted)';
    const failed = (await jobRecord(task)).reverse!.rollback ?? {};
    const past = failed.phase === 'closed' || failed.phase === 'switched' || !!failed.result;
    // How far it got, as the runbook reads it: never "the target takes writes" past the close.
    const progress = await platform.rollbackProgress(task);
    const expectedStage = !interrupted
      ? 'done'
      : past
        ? failed.phase === 'switched'
          ? 'source-reopened'
          : 'target-closed'
        : failed.phase
          ? 'target-open'
          : 'none';
    assert.equal(progress.stage, expectedStage, `after "${steps.at(-1)}": ${progress.detail}`);
    if (interrupted && !past) {
      // Before its point of no return the rollback gives the target its writes back at once.
      const app = await appSession(onTarget(db));
      const started = Date.now();
      await app.query(`insert into items (sku, qty, price) values ('after-interruption', 1, 1)`);
      // A block left behind would hold the write to the deadline (cutover.timeout, 30 s by default).
      const waited = Date.now() - started;
      assert.ok(waited < 15_000, `after "${at}" a write on the target waited ${waited} ms`);
      await app.end();
    }
    if (interrupted) await sleep(1_000);
    await platform.rollbackAfterCutover(task);
    const blocks = (await jobRecord(task)).reverse!.rollback!.blocks;
    const expected = past ? failed.blocks : (failed.blocks ?? 0) + 1;
    assert.equal(blocks, expected, `after "${at}": ${blocks} blocks, expected ${expected}`);
    t.diagnostic(`interrupted at "${at}" (${past ? 'past' : 'before'} the close): ${blocks} block(s) in all`);
    for (const table of await compareRowForRow(onSource(db), onTarget(db)))
      assert.ok(table.equal, `after "${at}": ${table.table} differs`);
    const app = await appSession(onSource(db));
    await app.query(`insert into items (sku, qty, price) values ('on-source-again', 1, 1)`);
    await app.end();
    if (!interrupted) return;
  }
});

test('a rollback whose drain cannot finish gives the target its writes back at the deadline', async (t) => {
  const db = 'stalled';
  const { task } = await cutOver(db, { cutover: { timeout: '2s' } });
  const names = resourceNames(task.migrationId, db);
  // Reverse replication stopped: refused before anything is blocked.
  await withClient(onSource(db), (c) => c.query(`alter subscription ${names.subscription}_rev disable`));
  await assert.rejects(
    platform.rollbackAfterCutover(task),
    isMigrationError('CutoverNotReady', /reverse replication is stopped .*nothing was blocked/, t),
  );
  await withClient(onSource(db), (c) => c.query(`alter subscription ${names.subscription}_rev enable`));

  const release = await stallReverseApply(db);
  const app = await appSession(onTarget(db));
  let blockedAt = 0;
  let write: Promise<number> | undefined;
  await assert.rejects(
    platform.rollbackAfterCutover(task, (step) => {
      if (step.startsWith('blocking writes')) blockedAt = Date.now();
      if (step.startsWith('draining to fence') && !write)
        write = app.query(`insert into items (sku, qty, price) values ('waited', 1, 1)`).then(() => Date.now());
    }),
    isMigrationError(
      'CutoverTimedOut',
      /the source did not apply fence .* within 2\.0s: .*the target's writes were restored after a \d+ ms block/,
      t,
    ),
  );
  const window = (await write!) - blockedAt;
  t.diagnostic(`the target's writes were blocked ${window} ms with cutover.timeout 2s`);
  // Until the deadline (the drain really waited), and past it only by what a loaded machine adds.
  assert.ok(window >= 1_500 && window < 2_000 + 10_000, `the write waited ${window} ms, not the 2 s deadline`);
  await app.end();
  await assert.rejects(appSession(onSource(db)), refusedConnect, 'the source is still closed');
  await release();
  const result = await platform.rollbackAfterCutover(task);
  assert.equal((await jobRecord(task)).reverse!.rollback!.blocks, 2, 'the retry took one block of its own');
  assert.equal(
    await count(onSource(db), `sku = 'waited'`),
    1,
    'the write made after the failed block is on the source',
  );
  t.diagnostic(`retry: write block ${result.writeBlockMs} ms`);
});
