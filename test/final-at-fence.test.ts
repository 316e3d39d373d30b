// Issue 17, point 1: the final comparison cannot race the traffic it protects. Real source and
// target clusters, the real workflows on a real Temporal dev server:
//   - an application that moves the moment the signed cutover-done webhook arrives and writes to
//     the target at a steady rate: the run ends COMPLETED with the rollback open, cutover-done was
//     sent only after the final comparison, and every write is on both sides afterwards;
//   - a real difference at the fence (a row deleted on the target before it took over) is reported
//     by table, cutover-done is not sent, and the rollback still gives the source back;
//   - on the platform itself: an application writing to the target from the switch on, through the
//     final validation, does not change its answer (compared inside the snapshots of the fence).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { approveCutover, rollbackDatabase } from '../client/client';
import { childWorkflowId, resourceNames } from '../common/naming';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan, type PlanInput } from '../common/plan';
import type { MigrationState } from '../common/states';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import { holdsFenceSnapshots } from '../activities/engines/postgres/fence-snapshot';
import type { DatabaseTask } from '../activities/steps';
import { compareRowForRow, planFor, Writer, type SourceDb } from './fixtures/fleet';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/receivers';

// Large enough that comparing takes a while (a comparison that raced the application would see it).
const db = (name: string, rows = 50_000): SourceDb => ({ name, rows, priority: 'medium', sizeGb: 5 });
const MOVES = db('moves_at_done');
const DIFFERS = db('differs_at_fence', 2_000);
const PLATFORM = db('writes_from_switch');

const APP = { user: 'fence_app', password: 'fence-app-password' };
const APP_GRANTS =
  `grant select, insert, update, delete on all tables in schema public to ${APP.user}; ` +
  `grant usage on all sequences in schema public to ${APP.user}`;
const HOOK_ENV = { url: 'DBMIG_TEST_FENCE_HOOK_URL', secret: 'DBMIG_TEST_FENCE_HOOK_SECRET' };

let h: Harness;
let target: ClusterInfo;
let hook: WebhookReceiver;

const onSource = (name: string): ConnectionParams => ({ ...h.source, database: name });
const onTarget = (name: string): ConnectionParams => ({ ...target, database: name });
const asApp = (p: ConnectionParams): ConnectionParams => ({ ...p, ...APP });

before(async () => {
  process.env.DBMIG_ALLOWED_SECRETS = 'env:DBMIG_TEST_*';
  hook = await startWebhookReceiver('fence-hook-secret');
  process.env[HOOK_ENV.url] = hook.url;
  process.env[HOOK_ENV.secret] = 'fence-hook-secret';
  h = await createHarness('final-at-fence', { databases: [MOVES, DIFFERS, PLATFORM] });
  target = await h.platform.clusters.ensure('fleet-target');
  for (const c of [h.source, target])
    await withClient({ ...c, database: 'postgres' }, (s) =>
      s.query(`create role ${APP.user} login password ${pg.escapeLiteral(APP.password)}`),
    );
});

after(async () => {
  await h?.close();
  await hook?.close();
  for (const v of [...Object.values(HOOK_ENV), 'DBMIG_ALLOWED_SECRETS']) delete process.env[v];
});

const planOf = (d: SourceDb, extra: Partial<PlanInput> = {}): PlanInput =>
  planFor(h.source, [{ ...d, rows: 0 }], `env:${SOURCE_PASSWORD_ENV}`, {
    notifications: {
      channels: { app: { type: 'webhook', urlRef: `env:${HOOK_ENV.url}`, secretRef: `env:${HOOK_ENV.secret}` } },
      routes: [{ events: ['cutover-done', 'failure'], channels: ['app'] }],
    },
    ...extra,
  });

const reach = (id: string, name: string, states: MigrationState | MigrationState[], timeoutMs = 240_000) =>
  h.reach(id, name, states, timeoutMs);

/** The webhook deliveries for one database, by event, in arrival order. */
const delivered = (name: string, event: string) =>
  [...hook.deliveries.values()].filter((d) => d.event === event && d.body.database === name);

/** The application's tables are equal row for row on both sides (dbmig's own are not its data). */
async function sameRows(name: string): Promise<boolean> {
  const tables = await compareRowForRow(onSource(name), onTarget(name), ['dbmig']);
  return tables.length > 0 && tables.every((x) => x.equal);
}

const count = (p: ConnectionParams, where: string) =>
  withClient(p, async (c) => Number((await c.query(`select count(*) as n from items where ${where}`)).rows[0].n));

/** The child's history: when validateData('final') completed and when the cutover-done notify was scheduled. */
async function eventIds(id: string, name: string) {
  const history = await h.env.client.workflow.getHandle(childWorkflowId(id, name)).fetchHistory();
  const events = history.events ?? [];
  const scheduled = new Map<string, string>();
  let validated: number | undefined;
  let notified: number | undefined;
  for (const e of events) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      const input = JSON.stringify(s.input?.payloads?.map((p) => Buffer.from(p.data ?? []).toString()) ?? []);
      scheduled.set(String(e.eventId), `${s.activityType?.name} ${input}`);
      if (s.activityType?.name === 'notify' && input.includes('cutover-done')) notified ??= Number(e.eventId);
    }
    const c = e.activityTaskCompletedEventAttributes;
    if (c && /^validateData .*final/.test(scheduled.get(String(c.scheduledEventId)) ?? ''))
      validated = Number(e.eventId);
  }
  return { validated, notified };
}

describe('the final comparison at the fence', { concurrency: 1 }, () => {
  test('an application that moves at cutover-done keeps the run COMPLETED with the rollback open', async (t) => {
    const id = 'fence-moves';
    const name = MOVES.name;
    await withClient(onSource(name), (c) => c.query(APP_GRANTS));
    await h.startFleet(id, planOf(MOVES, { approval: { policy: 'manual', timeout: '1h' } }));
    await reach(id, name, 'AWAITING_APPROVAL');
    // The application's grants on the new server are the operator's, made before it moves.
    await withClient(onTarget(name), (c) => c.query(APP_GRANTS));
    await approveCutover(h.env.client, id, name, 'dba');

    // The application: it moves when the signed cutover-done arrives, and writes at a steady rate.
    const told = await eventually('cutover-done delivered', async () => delivered(name, 'cutover-done')[0], 240_000, 5);
    const writer = new Writer(asApp(onTarget(name)), false, 5);
    const movedAt = Date.now();
    let s;
    try {
      s = await reach(id, name, ['COMPLETED', 'NEEDS_ATTENTION', 'FAILED']);
      // Keep writing a moment past the run's verdict: the writes that follow it must flow back too.
      await eventually('writes after the verdict', async () => (writer.writes >= 50 ? true : undefined));
    } finally {
      await writer.stop();
    }
    const rate = Math.round((writer.writes * 1000) / Math.max(1, Date.now() - movedAt));
    t.diagnostic(`${s.state}: ${s.validation}; ${writer.writes} writes (about ${rate}/s), ${writer.errors} errors`);
    assert.equal(s.state, 'COMPLETED', `${s.lastError}; ${s.nextAction}`);
    assert.ok(s.rollbackUntil, 'reverse replication keeps a rollback possible');
    assert.match(s.validation ?? '', /identical at the cutover's fence/);
    assert.equal(s.lastError ?? undefined, undefined);
    assert.equal(writer.errors, 0, 'the target took every write');
    assert.ok(writer.writes >= 50, `${writer.writes} writes`);
    assert.match(String((told.body.facts as { endpoint?: string }).endpoint), new RegExp(`/${name}$`));

    // cutover-done was scheduled only once the final comparison had completed.
    const { validated, notified } = await eventIds(id, name);
    assert.ok(validated && notified && notified > validated, `validated at ${validated}, told at ${notified}`);

    // Every write is on both sides: reverse replication carried them to the source.
    await eventually('the application writes on the source', async () => ((await sameRows(name)) ? true : undefined));
    const moved = await count(onTarget(name), `sku like 'new-%'`);
    assert.ok(moved > 0);
    assert.equal(await count(onSource(name), `sku like 'new-%'`), moved);
  });

  test('a difference at the fence is reported by table; cutover-done is not sent; rollback works', async (t) => {
    const id = 'fence-differs';
    const name = DIFFERS.name;
    await withClient(onSource(name), (c) => c.query(APP_GRANTS));
    await h.startFleet(id, planOf(DIFFERS, { approval: { policy: 'manual', timeout: '1h' } }));
    await reach(id, name, 'AWAITING_APPROVAL');
    // A write on the target before it took over (someone's job pointed at the new server too soon):
    // the source keeps row 7, the target lost it; nothing replicates a delete the other way yet.
    await withClient(onTarget(name), (c) => c.query('delete from items where id = 7'));
    await approveCutover(h.env.client, id, name, 'dba');

    const s = await reach(id, name, ['COMPLETED', 'NEEDS_ATTENTION', 'FAILED']);
    t.diagnostic(`${s.state}: ${s.lastError}; next: ${s.nextAction}`);
    assert.equal(s.state, 'COMPLETED', 'not NEEDS_ATTENTION: the rollback is kept');
    assert.ok(s.rollbackUntil, 'reverse replication keeps a rollback possible');
    assert.match(s.lastError ?? '', /differs from the source at the cutover's fence: /);
    assert.match(s.lastError ?? '', /public\.items \(source 2000 rows, target 1999: 1 fewer on the target\)/);
    assert.match(s.nextAction ?? '', /cutover-done was not sent/);
    assert.match(s.nextAction ?? '', new RegExp(`dbmig rollback ${id} ${name}`));
    await eventually('the failure notification', async () => delivered(name, 'failure')[0]);
    assert.deepEqual(delivered(name, 'cutover-done'), [], 'applications were not told to move');

    const rolled = await rollbackDatabase(h.env.client, id, name, 'dba', 'the target lost a row');
    assert.equal(rolled.state, 'ROLLED_BACK', rolled.lastError);
    assert.equal(await count(onSource(name), 'id = 7'), 1, 'the source kept the row');
    await withClient(asApp(onSource(name)), (c) =>
      c.query(`insert into items (sku, qty, price) values ('after-rollback', 1, 1)`),
    );
  });

  test('writes on the target from the switch on do not change the final comparison', async (t) => {
    const name = PLATFORM.name;
    await withClient(onSource(name), (c) => c.query(APP_GRANTS));
    const plan = validatePlan(planOf(PLATFORM));
    const database = plan.databases[0];
    const task: DatabaseTask = {
      migrationId: 'fence-platform',
      platform: 'local',
      database,
      settings: effectiveSettings(plan, database),
    };
    const p = h.platform;
    await p.provisionTarget(task);
    await withClient(onTarget(name), (c) => c.query(APP_GRANTS));
    await p.createMigrationJob(task);
    await p.startMigrationJob(task);
    await p.copyInitialData?.(task, () => undefined); // as waitForFullDump does
    await eventually('in CDC', async () => {
      const r = await p.getReplicationStatus(task);
      return r.phase === 'CDC' && r.lagSeconds !== null && r.lagSeconds < 1 ? true : undefined;
    });
    // The application moves as soon as reverse replication is being set up: before cutover-done, and
    // before the cutover has even returned; it keeps writing through the final validation.
    let writer: Writer | undefined;
    const cut = await p.cutover(task, (step) => {
      if (/setting up reverse replication/.test(step)) writer ??= new Writer(asApp(onTarget(name)), false, 5);
    });
    assert.ok(writer, 'the application moved at the switch');
    try {
      const held = holdsFenceSnapshots(resourceNames(task.migrationId, name).job);
      await eventually('writes on the target', async () => (writer!.writes >= 20 ? true : undefined));
      const final = await p.validateData(task, 'final');
      t.diagnostic(`write block ${cut.writeBlockMs} ms; ${final.summary}; ${writer.writes} writes so far`);
      assert.equal(final.ok, true, final.summary);
      assert.match(final.summary, /tables identical at the cutover's fence/);
      assert.ok(held, 'the switch left the snapshots held for the final validation');
      assert.equal(final.tables.find((x) => x.table === 'public.items')?.sourceRows, PLATFORM.rows);
      assert.ok(!holdsFenceSnapshots(resourceNames(task.migrationId, name).job), 'released once imported');
      // Asked again (a retry), the answer is the recorded one, whatever the writes did since.
      assert.deepEqual(await p.validateData(task, 'final'), final);
    } finally {
      await writer.stop();
    }
    assert.equal(writer.errors, 0);
    await eventually('the writes on the source', async () => ((await sameRows(name)) ? true : undefined));
    await p.finalizeCutover(task);
  });
});
