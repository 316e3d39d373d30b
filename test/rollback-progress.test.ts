// After the cutover, through the real workflows on a real Temporal dev server and real clusters
// (issue 17, points 2, 5's reverse watch and 12):
//   - a rollback that fails after it closed the target is resumed forward and ends ROLLED_BACK; the
//     status never says the closed target takes writes;
//   - a reverse subscription broken after the cutover shows in the status, and its repair too;
//   - a superuser's write on the closed source is found, named with its role and application, and
//     finalize is refused until an operator acknowledges it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { finalizeDatabase, RefusedError, rollbackDatabase } from '../client/client';
import { databaseStatusQuery } from '../common/messages';
import { childWorkflowId, resourceNames } from '../common/naming';
import type { PlanInput } from '../common/plan';
import type { MigrationState } from '../common/states';
import type { DatabaseSummary } from '../common/status';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import { readSourceAccess } from '../activities/engines/postgres/close-source';
import { compareRowForRow, planFor, type SourceDb } from './fixtures/fleet';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';
import { recordHistory } from './helpers/histories';

const db = (name: string): SourceDb => ({ name, rows: 500, priority: 'medium', sizeGb: 1 });
const PAST = db('rb_past_close');
const WATCH = db('rb_watched');
const APP = { user: 'rbp_app', password: 'rbp-app-password' };
const APP_GRANTS =
  `grant select, insert, update, delete on all tables in schema public to ${APP.user}; ` +
  `grant usage on all sequences in schema public to ${APP.user}`;
const REFUSED = /permission denied for database|read-only transaction/;
/** The advisory lock the source's trigger waits on once the rollback's final fence arrives. */
const STALL_KEY = 4343;

let h: Harness;
let target: ClusterInfo;
const onSource = (name: string): ConnectionParams => ({ ...h.source, database: name });
const onTarget = (name: string): ConnectionParams => ({ ...target, database: name });

before(async () => {
  h = await createHarness('rollback-progress', { databases: [PAST, WATCH] });
  target = await h.platform.clusters.ensure('fleet-target');
  for (const c of [h.source, target])
    await withClient({ ...c, database: 'postgres' }, (s) =>
      s.query(`create role ${APP.user} login password ${pg.escapeLiteral(APP.password)}`),
    );
  for (const d of [PAST, WATCH]) await withClient(onSource(d.name), (c) => c.query(APP_GRANTS));
});

after(async () => {
  await h?.close();
});

const planOf = (d: SourceDb, extra: Partial<PlanInput> = {}): PlanInput =>
  planFor(h.source, [{ ...d, rows: 0 }], `env:${SOURCE_PASSWORD_ENV}`, {
    approval: { policy: 'auto', timeout: '1h' },
    ...extra,
  });

const reach = (id: string, name: string, states: MigrationState | MigrationState[], timeoutMs = 180_000) =>
  h.reach(id, name, states, timeoutMs);

/** The database workflow's own view, as `dbmig status` reads it live. */
const statusOf = (id: string, name: string) =>
  h.env.client.workflow.getHandle(childWorkflowId(id, name)).query(databaseStatusQuery);

/** One write as the application role (which obeys a closed database's defaults). */
async function appWrite(p: ConnectionParams, sku: string): Promise<void> {
  const c = new pg.Client({ ...p, ...APP, connectionTimeoutMillis: 5_000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query(`insert into items (sku, qty, price) values ($1, 1, 1)`, [sku]);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Whether the target database is closed as a rollback closes it (read-only by default). */
const targetClosed = async (name: string) => (await withClient(onTarget(name), readSourceAccess)).readOnly === 'on';

describe('after the cutover, through the workflow', { concurrency: true }, () => {
  test('a rollback that fails after closing the target resumes forward to ROLLED_BACK', async (t) => {
    const id = 'rbp-past';
    const name = PAST.name;
    // A short cutover.timeout: the stalled final drain fails the rollback within seconds.
    await h.startFleet(id, planOf(PAST, { cutover: { timeout: '5s' } }));
    await reach(id, name, 'COMPLETED');
    await withClient(onTarget(name), (c) => c.query(APP_GRANTS));
    await appWrite(onTarget(name), 'before-rollback');

    // On the source, reverse replication's apply of dbmig.fence counts fences in its own session:
    // the rollback's drain (1) and its close (2) pass, the final drain after the close (3 on) waits
    // for STALL_KEY, held by this test. So the rollback fails after the target's close, on the
    // real clusters, with the same error type (CutoverTimedOut) a failure before it has.
    await withClient(onSource(name), (c) =>
      c.query(`
        create function public.zz_stall_final_fence() returns trigger language plpgsql as $$
        declare n int := coalesce(nullif(current_setting('zz.fences', true), ''), '0')::int + 1;
        begin
          perform set_config('zz.fences', n::text, false);
          if n >= 3 then perform pg_advisory_xact_lock_shared(${STALL_KEY}); end if;
          return new;
        end $$;
        create trigger zz_stall before update on dbmig.fence
          for each row execute function public.zz_stall_final_fence();
        alter table dbmig.fence enable replica trigger zz_stall;`),
    );
    const holder = new pg.Client(onSource(name));
    holder.on('error', () => undefined);
    await holder.connect();
    await holder.query('select pg_advisory_lock($1)', [STALL_KEY]);

    // Samples: the target's real state first, then what the status says (the target never reopens here).
    const samples: { closed: boolean; s: DatabaseSummary }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const closed = await targetClosed(name).catch(() => false);
        const s = await statusOf(id, name).catch(() => undefined);
        if (s) samples.push({ closed, s });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    let settled = false;
    const rolled = rollbackDatabase(h.env.client, id, name, 'sre', 'testing a failure past the close').finally(
      () => (settled = true),
    );
    rolled.catch(() => undefined);
    try {
      const stuck = await eventually(
        'the status saying neither side takes writes',
        async () => {
          if (settled) throw new Error(`the rollback ended early: ${await rolled.then((s) => s.state, String)}`);
          const s = await statusOf(id, name);
          return s.state === 'ROLLING_BACK' && s.writesOn === 'none' ? s : undefined;
        },
        120_000,
      );
      t.diagnostic(`while stalled: ${stuck.nextAction}`);
      assert.match(stuck.nextAction ?? '', /neither side takes writes/);
      assert.ok(await targetClosed(name), 'the target is closed, as the status says');
      await assert.rejects(appWrite(onTarget(name), 'on-closed-target'), REFUSED, 'the target refuses writes');
      await assert.rejects(appWrite(onSource(name), 'on-closed-source'), REFUSED, 'the source still refuses writes');
    } finally {
      await holder.end().catch(() => undefined);
    }
    const done = await rolled;
    sampling = false;
    await sampler;
    assert.equal(done.state, 'ROLLED_BACK', done.lastError);
    assert.equal(done.writesOn, 'source');

    const firstClosed = samples.findIndex((x) => x.closed);
    assert.ok(firstClosed >= 0, 'the sampler saw the target closed');
    const lies = samples
      .slice(firstClosed)
      .filter(
        (x) =>
          x.s.state === 'COMPLETED' ||
          x.s.writesOn === 'target' ||
          /the target takes the writes/.test(x.s.nextAction ?? ''),
      );
    t.diagnostic(
      `${samples.length} samples, ${samples.length - firstClosed} after the close; states seen then: ` +
        [...new Set(samples.slice(firstClosed).map((x) => `${x.s.state}/${x.s.writesOn ?? '-'}`))].join(', '),
    );
    assert.deepEqual(
      lies.map((x) => `${x.s.state}: ${x.s.nextAction}`),
      [],
      'after the target closed, no status said it takes writes',
    );

    for (const x of await compareRowForRow(onSource(name), onTarget(name), ['dbmig']))
      assert.ok(x.equal, `${x.table}: source ${x.sourceRows} rows, target ${x.targetRows}`);
    await appWrite(onSource(name), 'back-on-source');
    await assert.rejects(appWrite(onTarget(name), 'after-rollback'), REFUSED, 'the target stays closed');
    // Replay fixture: a rollback after the cutover that failed past the target's close and was resumed forward.
    await recordHistory(h.env.client, childWorkflowId(id, name));
  });

  test('a broken reverse subscription and a superuser write on the closed source show; finalize refuses', async (t) => {
    const id = 'rbp-watch';
    const name = WATCH.name;
    await h.startFleet(id, planOf(WATCH));
    await reach(id, name, 'COMPLETED');
    const names = resourceNames(id, name);
    // The cutover made the closed source's watch slot right after the close, not the watcher at its
    // first look: a write made in between is seen too.
    const watched = await withClient(onSource('postgres'), async (c) =>
      c.query('select 1 from pg_replication_slots where slot_name = $1', [`${names.slot}_srcw`]),
    );
    assert.equal(watched.rowCount, 1, 'the watch slot exists when the cutover is done');

    // Reverse replication broken by hand after the cutover, then repaired.
    const sub = pg.escapeIdentifier(`${names.subscription}_rev`);
    await withClient(onSource(name), (c) => c.query(`alter subscription ${sub} disable`));
    const broken = await eventually('the break in the status', async () => (await statusOf(id, name)).replication);
    t.diagnostic(`replication: ${broken}`);
    assert.match(broken, /reverse replication .*subscription .*_rev on the source is disabled/);
    await withClient(onSource(name), (c) => c.query(`alter subscription ${sub} enable`));
    await eventually('the repair in the status', async () =>
      (await statusOf(id, name)).replication === undefined ? true : undefined,
    );

    // A superuser ignores the closed source's read-only default; it stays connected.
    const rogue = new pg.Client({ ...onSource(name), application_name: 'rogue-batch' });
    rogue.on('error', () => undefined);
    await rogue.connect();
    try {
      await rogue.query('set default_transaction_read_only = off');
      await rogue.query(`insert into items (sku, qty, price) values ('written-on-closed-source', 1, 1)`);
      await rogue.query(`update items set qty = qty + 1 where id <= 3`);
      const s = await eventually('the writes in the status', async () => (await statusOf(id, name)).sourceWrites);
      t.diagnostic(`sourceWrites: ${s}`);
      assert.match(s, /^4 row change\(s\) on the closed source/);
      assert.match(s, /public\.items: insert 1/);
      assert.match(s, /public\.items: update 3/);
      assert.match(s, new RegExp(`${h.source.user} from .*\\(rogue-batch, pid \\d+`), 'the session is named');
      assert.equal((await statusOf(id, name)).state, 'COMPLETED');
    } finally {
      await rogue.end().catch(() => undefined);
    }

    await assert.rejects(finalizeDatabase(h.env.client, id, name, 'sre'), (err: Error) => {
      assert.ok(err instanceof RefusedError, String(err));
      assert.match(err.message, /cannot be finalized yet: 4 row change\(s\) on the closed source/);
      t.diagnostic(`finalize: ${err.message}`);
      return true;
    });
    assert.equal((await statusOf(id, name)).state, 'COMPLETED', 'still COMPLETED, rollback still possible');
    const done = await finalizeDatabase(h.env.client, id, name, 'sre', true);
    assert.equal(done.state, 'FINALIZED', done.lastError);
    const left = await withClient(
      onSource('postgres'),
      async (c) =>
        (await c.query('select slot_name from pg_replication_slots where slot_name like $1', [`${names.slot}%`])).rows,
    );
    assert.deepEqual(left, [], 'the watch slot went with reverse replication');
    // Replay fixture: reverse replication watched after the cutover; a finalize refused, then acknowledged.
    await recordHistory(h.env.client, childWorkflowId(id, name));
  });
});
