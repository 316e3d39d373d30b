// Schema changes during CDC (issue 19, point 3), through the workflows on a real Temporal dev server
// with real source and target clusters, as a non-superuser migration user, while a writer runs:
//   - a deploy of every additive kind (a sequence, a table using it and rows in it, a column without
//     and one with a default and writes that use them, an index) reaches the target without a human,
//     and the database cuts over with its tables equal row for row;
//   - the same while the runbook waits for lag to settle (where three apply errors fail the wait),
//     with a new table's copy held while new columns come (they are carried during the copy):
//     the database reaches AWAITING_APPROVAL with nothing held;
//   - a deploy that drops a table, renames a column and changes a column's type: the cutover's gate
//     refuses it naming each statement, with nothing blocked.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { approveCutover } from '../client/client';
import { resourceNames } from '../common/naming';
import type { PlanInput } from '../common/plan';
import type { MigrationState } from '../common/states';
import pg from 'pg';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import { compareRowForRow, planFor, type SourceDb } from './fixtures/fleet';
import { createHarness, eventually, type Harness } from './helpers/harness';
import { createMigrationUser, handOver, type MigrationUser } from './helpers/migration-user';

const db = (name: string): SourceDb => ({ name, rows: 2_000, priority: 'medium', sizeGb: 5 });
const ADDITIVE = db('ddl_additive');
const REFUSED = db('ddl_refused');
const IN_WAIT = db('ddl_in_wait');
const OWNER = 'ddl_app_owner';

let h: Harness;
let target: ClusterInfo;
let MIGRATOR: MigrationUser;

const onSource = (name: string): ConnectionParams => ({ ...h.source, database: name });
const onTarget = (name: string): ConnectionParams => ({ ...target, database: name });

before(async () => {
  // 16: the first PostgreSQL whose non-superuser may create the reverse subscription (migration-user.ts).
  h = await createHarness('ddl-during-cdc', { databases: [ADDITIVE, REFUSED, IN_WAIT], sourceVersion: 16 });
  target = await h.platform.clusters.ensure('fleet-target', { version: 16 });
  await withClient(onSource(REFUSED.name), (c) =>
    c.query(
      `create table audit (id int primary key, what text);
       insert into audit select g, 'a' from generate_series(1, 10) g`,
    ),
  );
  MIGRATOR = await createMigrationUser(h.source, 'ddl_migrator', 'DBMIG_DDL_MIGRATOR_PASSWORD');
  for (const d of [ADDITIVE, REFUSED, IN_WAIT])
    await handOver(h.source, d.name, { owner: OWNER, apps: [], migrator: MIGRATOR.user });
});

after(async () => {
  await h?.close();
});

const planOf = (d: SourceDb, extra: Partial<PlanInput> = {}): PlanInput =>
  planFor({ ...h.source, user: MIGRATOR.user }, [{ ...d, rows: 0 }], `env:${MIGRATOR.env}`, extra);

const reach = (id: string, name: string, states: MigrationState | MigrationState[], timeoutMs = 180_000) =>
  h.reach(id, name, states, timeoutMs);

/** A deploy: as the application's owner, as a migration tool of the application would run it. */
const deploy = (name: string, sql: string) =>
  withClient(onSource(name), async (c) => {
    await c.query(`set role ${OWNER}`);
    await c.query(sql);
  });

const scalar = async (p: ConnectionParams, sql: string): Promise<number> =>
  withClient(p, async (c) => Number(Object.values((await c.query(sql)).rows[0] ?? { n: 0 })[0]));

/** Writes into items until stopped, with the columns the deploy has made so far; counts what committed. */
function writer(name: string, shape: () => 'old' | 'new') {
  let stop = false;
  let written = 0;
  let failed = 0;
  const done = (async () => {
    const c = new pg.Client(onSource(name));
    c.on('error', () => undefined);
    await c.connect();
    try {
      for (let i = 0; !stop; i++) {
        const sql =
          shape() === 'new'
            ? `insert into items (sku, qty, price, note, status) values ('w-${i}', 1, 1, 'n-${i}', 'paid')`
            : `insert into items (sku, qty, price) values ('w-${i}', 1, 1)`;
        await c.query(sql).then(
          () => written++,
          () => failed++,
        );
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await c.end();
    }
  })();
  return {
    async stop() {
      stop = true;
      await done;
      return { written, failed };
    },
  };
}

/** Apply and table-sync errors the target counted for the job's subscription. */
const applyErrors = (id: string, name: string) =>
  withClient(onTarget(name), async (c) => {
    const { rows } = await c.query<{ apply: string; sync: string }>(
      `select apply_error_count as apply, sync_error_count as sync from pg_stat_subscription_stats
        where subname = $1`,
      [resourceNames(id, name).subscription],
    );
    return `${rows[0]?.apply ?? 0} apply, ${rows[0]?.sync ?? 0} table sync`;
  });

describe('schema changes during CDC', { concurrency: true }, () => {
  test('additive DDL of each kind reaches the target under writes, without a human', async (t) => {
    const id = 'ddl-additive';
    const name = ADDITIVE.name;
    await h.startFleet(id, planOf(ADDITIVE));
    await reach(id, name, 'AWAITING_APPROVAL');
    let shape: 'old' | 'new' = 'old';
    const w = writer(name, () => shape);
    t.after(() => w.stop()); // a failed assertion must not leave it writing (the run would never end)
    await eventually(
      'the writer reaching the target',
      async () => (await scalar(onTarget(name), `select count(*) from items where sku like 'w-%'`)) > 20,
    );

    await deploy(
      name,
      `create sequence order_no;
       create table late_orders (id bigint primary key default nextval('order_no'), note text not null);
       insert into late_orders (note) select 'late-' || g from generate_series(1, 50) g`,
    );
    await deploy(name, `alter table items add column note text`);
    await deploy(name, `alter table items add column status text not null default 'new'`);
    shape = 'new';
    await deploy(name, `create index items_sku on items (sku)`);
    await deploy(name, `insert into late_orders (note) select 'later-' || g from generate_series(1, 25) g`);
    const deployed = Date.now();

    // Each effect on the target, counted there.
    await eventually(
      'the deploy on the target',
      async () => {
        const s = await scalar(onSource(name), `select count(*) from late_orders`);
        const tg = await scalar(onTarget(name), `select count(*) from late_orders`).catch(() => -1);
        const noted = await scalar(onTarget(name), `select count(*) from items where note is not null`).catch(() => -1);
        const idx = await scalar(onTarget(name), `select count(*) from pg_indexes where indexname = 'items_sku'`);
        return s === 75 && tg === 75 && noted > 20 && idx === 1;
      },
      120_000,
    );
    t.diagnostic(`the deploy was on the target ${Date.now() - deployed} ms after it ended`);
    assert.equal(await scalar(onTarget(name), `select count(*) from pg_sequences where sequencename = 'order_no'`), 1);
    // The rows older than the column got its default on both sides.
    const defaulted = `select count(*) from items where status = 'new'`;
    const olderRows = await eventually('the older rows with the default on the target', async () => {
      const [s, tg] = [await scalar(onSource(name), defaulted), await scalar(onTarget(name), defaulted)];
      return s === tg ? s : undefined;
    });
    assert.ok(olderRows >= 2_000, `${olderRows} rows with the default`);
    const stopped = await w.stop();
    t.diagnostic(`writer: ${stopped.written} rows written, ${stopped.failed} failed`);
    assert.equal(stopped.failed, 0);
    // A row carrying a new column may reach the target before the status read that adds the column
    // there: apply fails and PostgreSQL retries it. Counted here; the status must not call it a break.
    const errors = await applyErrors(id, name);
    t.diagnostic(`apply errors the target counted during the deploy (retried, healed): ${errors}`);
    const log = await readFile(join(h.stateDir, 'clusters', 'fleet-target', 'postgres.log'), 'utf8');
    for (const l of log.split('\n').filter((x) => /ERROR:/.test(x))) t.diagnostic(`target log: ${l.slice(0, 200)}`);
    const healthy = await h.statusOf(id, name);
    assert.equal(healthy.replication, undefined, 'no replication problem reported');
    const held = await h.statusOf(id, name);
    assert.equal(held.state, 'AWAITING_APPROVAL', held.lastError);

    await approveCutover(h.env.client, id, name, 'dba-on-call');
    const done = await reach(id, name, ['COMPLETED', 'FINALIZED'], 240_000);
    t.diagnostic(`${done.state}: ${done.validation}`);
    const tables = await compareRowForRow(onSource(name), onTarget(name), ['dbmig']);
    for (const tb of tables)
      t.diagnostic(`${tb.table}: ${tb.sourceRows} source rows, ${tb.targetRows} target rows, equal ${tb.equal}`);
    assert.deepEqual(tables.map((x) => x.table).sort(), ['public.items', 'public.late_orders']);
    assert.ok(
      tables.every((x) => x.equal),
      'every table equal row for row',
    );
    assert.equal(tables.find((x) => x.table === 'public.late_orders')?.targetRows, 75);
  });

  test('additive DDL while the runbook waits for lag to settle: ready for approval, nothing held', async (t) => {
    const id = 'ddl-in-wait';
    const name = IN_WAIT.name;
    // A stable window long enough that the deploy lands inside the wait.
    await h.startFleet(id, planOf(IN_WAIT, { defaults: { lagThresholdSeconds: 5, stableWindow: '30s' } }));
    await eventually('the CDC wait', async () => (await h.statusOf(id, name)).state === 'CDC', 180_000, 100);
    let shape: 'old' | 'new' = 'old';
    const w = writer(name, () => shape);
    t.after(() => w.stop()); // a failed assertion must not leave it writing (the run would never end)
    // The new table's copy is held while the columns come (a SHARE lock on the target keeps its table
    // sync from writing; the table is made there first, owned as the others are): the columns must be
    // carried while another table copies, or apply fails on them until the copy ends.
    const refunds = `create table refunds (id bigserial primary key, amount numeric not null)`;
    const hold = new pg.Client(onTarget(name));
    hold.on('error', () => undefined); // a failed run drops the database under it
    await hold.connect();
    try {
      const owner = await hold.query(`select tableowner from pg_tables where tablename = 'items'`);
      await hold.query(`${refunds}; alter table refunds owner to ${pg.escapeIdentifier(owner.rows[0].tableowner)}`);
      await hold.query('begin; lock table refunds in share mode');
      await deploy(name, `${refunds}; insert into refunds (amount) select g from generate_series(1, 40) g`);
      const copying = `select count(*) from pg_subscription_rel
                        where srrelid = 'refunds'::regclass and srsubstate <> 'r'`;
      await eventually('refunds in its copy', async () => (await scalar(onTarget(name), copying)) === 1);
      await deploy(name, `alter table items add column note text`);
      await deploy(name, `alter table items add column status text not null default 'new'`);
      shape = 'new';
      await deploy(name, `create index items_sku on items (sku)`);
      const columns = `select count(*) from information_schema.columns
                        where table_name = 'items' and column_name in ('note', 'status')`;
      await eventually('the columns on the target', async () => (await scalar(onTarget(name), columns)) === 2);
      assert.equal(await scalar(onTarget(name), copying), 1, 'carried while refunds was still in its copy');
      assert.equal((await h.statusOf(id, name)).state, 'CDC', 'the deploy came inside the wait');
    } finally {
      await hold.end();
    }
    const held = await reach(id, name, 'AWAITING_APPROVAL');
    const stopped = await w.stop();
    t.diagnostic(`writer: ${stopped.written} rows written, ${stopped.failed} failed`);
    t.diagnostic(`apply errors the target counted (retried, healed): ${await applyErrors(id, name)}`);
    t.diagnostic(`validation: ${held.validation}`);
    assert.equal(held.nextAction, undefined, 'nothing held');
    assert.equal(stopped.failed, 0);
    await eventually('every row on the target', async () => {
      const q = `select count(*) filter (where note is not null) * 1000 + (select count(*) from refunds) from items`;
      const [s, tg] = [await scalar(onSource(name), q), await scalar(onTarget(name), q)];
      return s === tg && s > 0;
    });
    assert.equal(await scalar(onTarget(name), `select count(*) from refunds`), 40);
    assert.equal(await scalar(onTarget(name), `select count(*) from pg_indexes where indexname = 'items_sku'`), 1);
  });

  test('a drop, a rename and a type change: the gate refuses naming each statement', async (t) => {
    const id = 'ddl-refused';
    const name = REFUSED.name;
    await h.startFleet(id, planOf(REFUSED));
    await reach(id, name, 'AWAITING_APPROVAL');
    await deploy(name, `drop table audit`);
    await deploy(name, `alter table items rename column qty to quantity`);
    await deploy(name, `alter table items alter column price type numeric(14,2)`);
    await approveCutover(h.env.client, id, name, 'dba-on-call');
    const refused = await eventually(
      'the cutover refused',
      async () => {
        const s = await h.statusOf(id, name);
        return s.state === 'AWAITING_APPROVAL' && /what is migrated changed/.test(s.lastError ?? '') ? s : undefined;
      },
      180_000,
    );
    t.diagnostic(`refused: ${refused.lastError}`);
    const why = refused.lastError ?? '';
    assert.match(why, /DROP TABLE public\.audit or ALTER TABLE public\.audit RENAME TO/);
    assert.match(why, /ALTER TABLE public\.items DROP COLUMN "qty" or RENAME COLUMN "qty" TO/);
    assert.match(
      why,
      /ALTER TABLE public\.items ALTER COLUMN "price" TYPE numeric\(14,2\) \(the target has numeric\(12,2\)\)/,
    );
    assert.match(why, /nothing was blocked/);
    // Nothing of it was done to the target.
    assert.equal(await scalar(onTarget(name), `select count(*) from audit`), 10);
    assert.equal(
      await scalar(
        onTarget(name),
        `select count(*) from information_schema.columns where table_name = 'items' and column_name = 'qty'`,
      ),
      1,
    );
  });
});
