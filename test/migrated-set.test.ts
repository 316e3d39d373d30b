// The set of migrated objects is live (issue 17, point 5), end to end through the workflows on a
// real Temporal dev server with real source and target clusters:
//   - a deploy creates a table without a key and writes 50 rows during CDC (a table with one is
//     carried by itself: ddl-during-cdc.test.ts; the plan's noPrimaryKey: fail keeps this one out
//     of the publication, where its UPDATEs and DELETEs would fail on the source): the database holds in
//     AWAITING_APPROVAL naming the table, replication keeps running and the target is kept; the
//     cutover refuses it by name until it is carried as the finding says, and then carries its rows;
//   - a large object created after the assessment: named by the live validation, the cutover refused
//     by name (MigratedSetChanged) with nothing blocked, until it is removed;
//   - a table created on the target after the cutover: the rollback refuses by name, the target keeps
//     taking writes and the source stays closed, until the table is dropped;
//   - a table created after the gate, while the cutover blocks writes (CREATE TABLE takes none of its
//     locks): refused under the block, writes given back, nothing closed (the platform, called directly).
// One harness for the file; the scenarios run at once, each in its own source database.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { approveCutover, rollbackDatabase } from '../client/client';
import { childWorkflowId, resourceNames } from '../common/naming';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan, type PlanInput } from '../common/plan';
import type { MigrationState } from '../common/states';
import pg from 'pg';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import { readSourceAccess } from '../activities/engines/postgres/close-source';
import type { JobRecord } from '../activities/engines/postgres/job-record';
import { readMark } from '../activities/engines/postgres/target-mark';
import { MigrationError } from '../common/failures';
import { type DatabaseTask } from '../activities/steps';
import { planFor, type SourceDb } from './fixtures/fleet';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';

const db = (name: string): SourceDb => ({ name, rows: 2_000, priority: 'medium', sizeGb: 5 });
const DEPLOY = db('deploy_during_cdc');
const LOB = db('late_large_object');
const ON_TARGET = db('table_on_target');
const UNDER_BLOCK = db('under_the_block');
const BEFORE_COPY = db('deploy_before_copy');

let h: Harness;
let target: ClusterInfo;

const onSource = (name: string): ConnectionParams => ({ ...h.source, database: name });
const onTarget = (name: string): ConnectionParams => ({ ...target, database: name });

before(async () => {
  h = await createHarness('migrated-set', { databases: [DEPLOY, LOB, ON_TARGET, UNDER_BLOCK, BEFORE_COPY] });
  target = await h.platform.clusters.ensure('fleet-target');
});

after(async () => {
  await h?.close();
});

const planOf = (d: SourceDb, extra: Partial<PlanInput> = {}): PlanInput =>
  planFor(h.source, [{ ...d, rows: 0 }], `env:${SOURCE_PASSWORD_ENV}`, extra);

const reach = (id: string, name: string, states: MigrationState | MigrationState[], timeoutMs = 180_000) =>
  h.reach(id, name, states, timeoutMs);

/** Activity types the child scheduled, from its history. */
async function scheduled(migrationId: string, name: string): Promise<string[]> {
  const history = await h.env.client.workflow.getHandle(childWorkflowId(migrationId, name)).fetchHistory();
  return (history.events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
}

async function jobRecord(migrationId: string, name: string): Promise<JobRecord> {
  const file = join(h.stateDir, 'jobs', `${resourceNames(migrationId, name).job}.json`);
  return existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as JobRecord) : {};
}

/** The database back in AWAITING_APPROVAL after its cutover was refused for what is migrated. */
const cutoverRefused = (id: string, name: string) =>
  eventually('the cutover refused', async () => {
    const s = await h.statusOf(id, name);
    return s.state === 'AWAITING_APPROVAL' && /not cutting over: what is migrated changed/.test(s.lastError ?? '')
      ? s
      : undefined;
  });

/** The record without its lease: a refused cutover took the lease (job-record.ts) and recorded no step. */
function withoutLease(rec: JobRecord): Omit<JobRecord, 'lease'> {
  const { lease: _lease, ...steps } = rec;
  return steps;
}

const count = (p: ConnectionParams, table: string, where = 'true') =>
  withClient(p, async (c) => Number((await c.query(`select count(*) as n from ${table} where ${where}`)).rows[0].n));

const fenceSessions = (name: string) =>
  withClient({ ...h.source, database: 'postgres' }, async (c) =>
    Number(
      (
        await c.query(
          `select count(*) as n from pg_stat_activity where datname = $1 and application_name = 'dbmig fence'`,
          [name],
        )
      ).rows[0].n,
    ),
  );

const subscriptionEnabled = (migrationId: string, name: string) =>
  withClient(onTarget(name), async (c) => {
    const { rows } = await c.query<{ on: boolean }>('select subenabled as on from pg_subscription where subname = $1', [
      resourceNames(migrationId, name).subscription,
    ]);
    return rows[0]?.on;
  });

/** A row written on the source now reaches the target: replication runs. */
async function replicates(name: string, sku: string): Promise<void> {
  await withClient(onSource(name), (c) => c.query(`insert into items (sku, qty, price) values ($1, 1, 1)`, [sku]));
  await eventually(`${sku} on the target`, async () => (await count(onTarget(name), 'items', `sku = '${sku}'`)) === 1);
}

const NO_UNDO = /^(deleteTarget|stopMigrationJob|deleteMigrationJob|releaseCapacity|rollbackCutover)$/;

/** `d`'s job made and started by the platform's calls alone, as the runbook makes it, up to the copy. */
async function startedJob(migrationId: string, d: SourceDb): Promise<DatabaseTask> {
  const parsed = validatePlan(planOf(d));
  const task: DatabaseTask = {
    migrationId,
    platform: 'local',
    database: parsed.databases[0],
    settings: effectiveSettings(parsed, parsed.databases[0]),
  };
  await h.platform.provisionTarget(task);
  await h.platform.createMigrationJob(task);
  await h.platform.startMigrationJob(task);
  return task;
}

/** Replication runs, and the live validation has not started (a 20 s stable window comes first). */
const DURING_CDC: MigrationState[] = ['FULL_DUMP', 'CDC'];

describe('the migrated set is live', { concurrency: true }, () => {
  test('a table a deploy creates during CDC holds the database, named, with the target kept', async (t) => {
    const id = 'liveset-deploy';
    const name = DEPLOY.name;
    // A stable window long enough that the deploy below lands before the live validation starts.
    await h.startFleet(
      id,
      planOf(DEPLOY, { defaults: { lagThresholdSeconds: 5, stableWindow: '20s', noPrimaryKey: 'fail' } }),
    );
    await eventually(
      'replication running',
      async () => DURING_CDC.includes((await h.statusOf(id, name)).state),
      180_000,
    );
    await withClient(onSource(name), async (c) => {
      await c.query('create table late_orders (id int not null, note text not null)');
      await c.query(`insert into late_orders (id, note) select g, 'late-' || g from generate_series(1, 50) g`);
    });
    assert.ok(DURING_CDC.includes((await h.statusOf(id, name)).state), 'the deploy came before the validation');

    const held = await reach(id, name, 'AWAITING_APPROVAL');
    t.diagnostic(`validation: ${held.validation}`);
    t.diagnostic(`next action: ${held.nextAction}`);
    assert.match(held.validation ?? '', /public\.late_orders \(table, created after the copy, not published/);
    assert.match(held.nextAction ?? '', /held before the cutover.*public\.late_orders.*ALTER PUBLICATION/s);
    // Not FAILED, nothing undone: the target, the job and replication are all there.
    assert.ok(!(await scheduled(id, name)).some((a) => NO_UNDO.test(a)), 'no undo was scheduled');
    const mark = await withClient({ ...target, database: 'postgres' }, (c) => readMark(c, name));
    assert.equal(mark.mark?.migrationId, id, 'the target is kept');
    assert.equal(await subscriptionEnabled(id, name), true, 'replication runs');
    await replicates(name, 'after-the-finding');

    // An approval does not cut over without the table: refused by name, nothing blocked.
    await approveCutover(h.env.client, id, name, 'dba-on-call');
    const refused = await cutoverRefused(id, name);
    t.diagnostic(`refused: ${refused.lastError}`);
    assert.match(refused.lastError ?? '', /public\.late_orders \(table, created after the copy, not published/);
    assert.equal(await fenceSessions(name), 0, 'no fence session on the source');
    assert.deepEqual(withoutLease(await jobRecord(id, name)), {}, 'no cutover step was recorded');
    assert.equal(await subscriptionEnabled(id, name), true, 'replication still runs');
    assert.equal(await count(onTarget(name), 'items'), await count(onSource(name), 'items'));

    // What the finding says to do; the next attempt of the cutover then carries the table.
    const names = resourceNames(id, name);
    await withClient(onTarget(name), (c) => c.query('create table late_orders (id int not null, note text not null)'));
    await withClient(onSource(name), (c) => c.query(`alter publication ${names.publication} add table late_orders`));
    await withClient(onTarget(name), (c) => c.query(`alter subscription ${names.subscription} refresh publication`));
    const done = await reach(id, name, ['COMPLETED', 'FINALIZED'], 240_000);
    t.diagnostic(`${done.state}: ${done.validation}`);
    assert.equal(await count(onTarget(name), 'late_orders'), 50, 'the 50 rows of the deploy are on the target');
  });

  test('a large object created after the assessment is named and the cutover refused', async (t) => {
    const id = 'liveset-lob';
    const name = LOB.name;
    await h.startFleet(id, planOf(LOB, { cutover: { reverseReplicationFor: '0s' } }));
    await eventually(
      'past the assessment',
      async () => !['PENDING', 'ASSESSING'].includes((await h.statusOf(id, name)).state),
      180_000,
      100,
    );
    const oid = await withClient(onSource(name), async (c) => {
      const { rows } = await c.query<{ oid: string }>(`select lo_from_bytea(0, 'a scanned invoice')::text as oid`);
      return rows[0].oid;
    });
    const held = await reach(id, name, 'AWAITING_APPROVAL');
    t.diagnostic(`validation: ${held.validation}`);
    assert.match(held.validation ?? '', new RegExp(`large object ${oid} \\(created after the assessment`));
    assert.match(held.nextAction ?? '', /held before the cutover/);

    await approveCutover(h.env.client, id, name, 'dba-on-call');
    const refused = await cutoverRefused(id, name);
    t.diagnostic(`refused: ${refused.lastError}`);
    assert.match(refused.lastError ?? '', new RegExp(`large object ${oid} \\(created after the assessment`));
    assert.match(refused.lastError ?? '', /nothing was blocked/);
    assert.deepEqual(withoutLease(await jobRecord(id, name)), {}, 'no cutover step was recorded');
    assert.equal(await subscriptionEnabled(id, name), true, 'replication still runs');
    assert.ok(!(await scheduled(id, name)).some((a) => NO_UNDO.test(a)), 'no undo was scheduled');

    // Removed on the source, as the finding offers: the next attempt cuts over.
    await withClient(onSource(name), (c) => c.query('select lo_unlink($1::oid)', [oid]));
    const done = await reach(id, name, ['COMPLETED', 'FINALIZED'], 240_000);
    t.diagnostic(`${done.state} once the large object was removed`);
  });

  test('a table created on the target after the cutover: the rollback refuses by name', async (t) => {
    const id = 'liveset-target';
    const name = ON_TARGET.name;
    await h.startFleet(id, planOf(ON_TARGET, { approval: { policy: 'auto', timeout: '1h' } }));
    const completed = await reach(id, name, 'COMPLETED');
    assert.ok(completed.rollbackUntil, 'reverse replication keeps a rollback possible');

    await withClient(onTarget(name), async (c) => {
      await c.query('create table after_cut (id int primary key, note text)');
      await c.query(`insert into after_cut select g, 'only-on-target' from generate_series(1, 20) g`);
    });
    await assert.rejects(rollbackDatabase(h.env.client, id, name, 'sre', 'back to the source'), (err: Error) => {
      const why = `${err.message} ${String((err.cause as Error | undefined)?.message ?? '')}`;
      t.diagnostic(`rollback: ${why}`);
      assert.match(why, /public\.after_cut \(table, created on the target after the cutover, not in the reverse/);
      return true;
    });
    const s = await h.statusOf(id, name);
    assert.equal(s.state, 'COMPLETED', s.lastError);
    assert.match(s.lastError ?? '', /public\.after_cut/);
    // The target still takes writes; the source is still closed; no block is held.
    await withClient(onTarget(name), (c) => c.query(`insert into after_cut values (21, 'still-writable')`));
    assert.equal((await withClient(onSource(name), readSourceAccess)).readOnly, 'on', 'the source stays closed');
    assert.equal(await count(onSource(name), 'pg_tables', `tablename = 'after_cut'`), 0);

    // Dropped on the target, as the finding offers: the rollback goes through.
    await withClient(onTarget(name), (c) => c.query('drop table after_cut'));
    const rolled = await rollbackDatabase(h.env.client, id, name, 'sre', 'after dropping after_cut');
    assert.equal(rolled.state, 'ROLLED_BACK', rolled.lastError);
  });

  test('a table a deploy creates before the snapshot copy starts is left to the migrated set', async () => {
    const name = BEFORE_COPY.name;
    const task = await startedJob('liveset-before-copy', BEFORE_COPY);
    // After the job published its tables, before the copy's snapshot: not on the target, not published.
    await withClient(onSource(name), (c) => c.query('create table early_deploy (id int not null)'));
    await h.platform.copyInitialData?.(task, () => undefined); // as waitForFullDump does
    assert.equal(await count(onTarget(name), 'pg_tables', `tablename = 'early_deploy'`), 0);
    assert.equal(await count(onTarget(name), 'items'), await count(onSource(name), 'items'));
    await eventually('CDC', async () => (await h.platform.getReplicationStatus(task)).phase === 'CDC' || undefined);
    await h.platform.deleteMigrationJob(task);
  });

  test('a table created while the cutover blocks writes is refused under the block', async (t) => {
    const id = 'liveset-block';
    const name = UNDER_BLOCK.name;
    const task = await startedJob(id, UNDER_BLOCK);
    await h.platform.copyInitialData?.(task, () => undefined); // as waitForFullDump does
    await eventually('CDC', async () => {
      const s = await h.platform.getReplicationStatus(task);
      return s.phase === 'CDC' && s.lagSeconds !== null && s.lagSeconds < 1;
    });
    // The fence stalls on the target (an EXCLUSIVE lock on dbmig.fence holds its apply back, and
    // takes no transaction id), so the table is surely made after the gate and under the block.
    const stall = new pg.Client(onTarget(name));
    stall.on('error', () => undefined);
    await stall.connect();
    await stall.query('begin');
    await stall.query('lock table dbmig.fence in exclusive mode');
    let draining!: () => void;
    const blocked = new Promise<void>((r) => (draining = r));
    const cut = h.platform.cutover(task, (step) => {
      if (step.startsWith('draining to fence')) draining();
    });
    cut.catch(() => undefined);
    await blocked;
    await withClient(onSource(name), (c) => c.query('create table made_under_block (id int primary key)'));
    await stall.query('rollback');
    await stall.end();
    await assert.rejects(cut, (err: Error) => {
      t.diagnostic(`cutover: ${err.message}`);
      assert.ok(err instanceof MigrationError && err.type === 'MigratedSetChanged', String(err));
      assert.match(err.message, /public\.made_under_block \(table, created after the copy, not published/);
      assert.match(err.message, /writes were restored after a \d+ ms block; replication runs/);
      return true;
    });
    assert.equal(await fenceSessions(name), 0, 'the block ended');
    // The source takes writes and was never closed; replication runs.
    assert.equal((await withClient(onSource(name), readSourceAccess)).readOnly, null);
    await replicates(name, 'after-the-refusal');
    assert.equal(await subscriptionEnabled(id, name), true);
    await h.platform.rollbackCutover(task);
    await h.platform.deleteMigrationJob(task);
  });
});
