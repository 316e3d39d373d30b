// Issue 19, point 4: the catch-up's progress on real clusters, through the workflows, as a
// non-superuser migration user. Once the database waits for its approval, the target's apply is held
// in steps the test controls: each of three tables is locked on the target by a session of its own
// (SHARE: it stops the apply's writes, not dbmig's reads),
// and the application writes one large transaction into each. Apply stops at the first, so the
// backlog (the slot's unconfirmed WAL, the lag in bytes) only grows. Then the locks are released one
// at a time: the lag falls by a transaction's size each time, and `dbmig status` must say so with a
// rate and an ETA that agree with the lag, then "caught up" once the last lock goes. Nothing here
// depends on the apply's speed: the lag falls only when the test lets it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { CatchUp } from '../common/catch-up';
import { RATE_WINDOW_MS } from '../common/progress-rate';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { planFor, type SourceDb } from './fixtures/fleet';
import { awaitRowForRow, createHarness, eventually, type Harness } from './helpers/harness';
import { as, createMigrationUser, createRole, handOver, type MigrationUser, type Role } from './helpers/migration-user';

const DB: SourceDb = { name: 'backlog', rows: 2_000, priority: 'high', sizeGb: 1 };
const STEPS = ['step_a', 'step_b', 'step_c'];
/** Rows per step transaction: some 4 MB of WAL each, far above what dbmig's own heartbeats add. */
const STEP_ROWS = 20_000;

let h: Harness;
let app: Role;
let migrator: MigrationUser;
const migrationId = 'catch-up-eta';
const holders: pg.Client[] = [];

before(async () => {
  h = await createHarness('catch-up', { databases: [DB], sourceVersion: 16 });
  await withClient({ ...h.source, database: DB.name }, async (c) => {
    for (const t of STEPS) await c.query(`create table ${t} (id int primary key, pad text not null)`);
  });
  migrator = await createMigrationUser(h.source, 'cu_migrator', 'DBMIG_CU_MIGRATOR_PASSWORD');
  app = await createRole(h.source, 'cu_app');
  await handOver(h.source, DB.name, { owner: 'cu_owner', apps: [app.user], migrator: migrator.user });
});
after(async () => {
  for (const c of holders) await c.end().catch(() => undefined);
  await h.env.client.workflow
    .getHandle(migrationId)
    .cancel()
    .catch(() => undefined);
  await h?.close();
});

/** The catch-up as `dbmig status` shows it: the line, and the object it comes from. */
async function catchUp(): Promise<{ line?: string; c?: CatchUp }> {
  const s = await h.statusOf(migrationId, DB.name);
  return { line: s.catchUp, c: s.progress?.catchUp };
}

test("the catch-up's lag, rate and ETA follow a backlog that drains in steps, then say caught up", async (t) => {
  const plan = planFor({ ...h.source, user: migrator.user }, [DB], `env:${migrator.env}`, { migrationId });
  await h.startFleet(migrationId, plan);
  await h.reach(migrationId, DB.name, 'AWAITING_APPROVAL');
  const target: ConnectionParams = { ...(await h.platform.clusters.ensure('fleet-target')), database: DB.name };

  // Caught up before anything is held: the watcher heartbeats a catch-up at its target.
  const rest = await eventually('a catch-up at rest', async () => (await catchUp()).c);
  assert.equal(rest.basis, 'bytes', 'the local platform measures the lag in WAL bytes');

  for (const table of STEPS) {
    const c = new pg.Client(target);
    await c.connect();
    holders.push(c);
    await c.query('begin');
    await c.query(`lock table ${table} in share mode`);
  }
  await withClient(as({ ...h.source, database: DB.name }, app), async (c) => {
    for (const table of STEPS)
      await c.query(`insert into ${table} select g, repeat(md5(g::text), 6) from generate_series(1, $1) g`, [
        STEP_ROWS,
      ]);
  });
  const stepBytes = await withClient({ ...h.source, database: DB.name }, async (c) =>
    Number((await c.query(`select pg_relation_size('step_a') as n`)).rows[0].n),
  );
  // The whole backlog is in the lag once the status reports at least the three tables' heap.
  let last: CatchUp | undefined;
  const held = await eventually(
    'the held backlog in the status',
    async () => {
      const { c } = await catchUp();
      last = c;
      return c && c.lag >= STEPS.length * stepBytes * 0.9 ? c : undefined;
    },
    300_000, // bounds a hang only: on a loaded machine 12 MB of writes reach the status slowly
  ).catch(async (err: Error) => {
    // What the target's sessions wait on tells a held status read from a lag that never grew.
    const waits = await withClient(target, async (c) =>
      JSON.stringify(
        (
          await c.query(`select backend_type, wait_event, left(query, 60) as q from pg_stat_activity
                          where datname = current_database() and wait_event_type = 'Lock'`)
        ).rows,
      ),
    );
    throw new Error(`${err.message}; last ${JSON.stringify(last)}; waiting on locks: ${waits}`);
  });
  t.diagnostic(`held: lag ${held.lag} bytes (${STEPS.length} steps of ~${stepBytes} bytes of heap each)`);
  assert.equal(held.fallingPerSecond === null || held.fallingPerSecond === 0, true, 'nothing falls while held');
  assert.equal(held.etaSeconds, null, 'no ETA while nothing falls');
  // The rate looks back RATE_WINDOW_MS: from then on its window holds only the held plateau, so the
  // first step down reads as falling (not a rise from before the writes netted against the fall).
  await new Promise((r) => setTimeout(r, RATE_WINDOW_MS));

  // Release the steps one at a time until the status shows the lag falling with an ETA; every
  // release lowers the lag, and its fall stays in the window for RATE_WINDOW_MS.
  let falling: { line?: string; c?: CatchUp } | undefined;
  let released = 0;
  while (!falling && released < STEPS.length - 1) {
    const before = (await catchUp()).c!.lag;
    await holders[released++].query('commit');
    falling = await eventually(
      `the lag below ${before} bytes after ${released} release(s)`,
      async () => {
        const now = await catchUp();
        return now.c && now.c.lag < before - stepBytes / 2 ? now : undefined;
      },
      300_000, // bounds a hang, as above
    );
    // Falling for the rest of the window: the status must say so within it.
    const until = Date.now() + RATE_WINDOW_MS / 2;
    while (!(falling.c?.fallingPerSecond && falling.c.etaSeconds) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 250));
      falling = await catchUp();
    }
    if (!(falling.c?.fallingPerSecond && falling.c.etaSeconds)) falling = undefined;
  }
  assert.ok(falling?.c, `no falling lag reported after ${released} of ${STEPS.length} releases`);
  const c = falling.c;
  t.diagnostic(`after ${released} release(s): ${falling.line} (${JSON.stringify(c)})`);
  assert.ok(c.lag > 0 && c.lag < held.lag, `lag ${c.lag} between 0 and the held ${held.lag}`);
  assert.ok(c.fallingPerSecond! > 0);
  // The ETA is the lag left at the falling pace, rounded to a second.
  assert.ok(
    Math.abs(c.etaSeconds! - (c.lag - c.target) / c.fallingPerSecond!) <= 1,
    `ETA ${c.etaSeconds} s for ${c.lag} bytes at ${c.fallingPerSecond}/s`,
  );
  assert.match(falling.line ?? '', /^lag [\d.]+ [kMG]?B, falling [\d.]+ [kMG]?B\/s, ETA \S+$/);

  for (const holder of holders.slice(released)) await holder.query('commit');
  const caughtUp = await eventually(
    'caught up once every lock is gone',
    async () => {
      const now = await catchUp();
      return now.c && now.c.lag <= now.c.target && now.line === undefined ? now.c : undefined;
    },
    120_000,
  );
  assert.equal(caughtUp.etaSeconds, 0, 'an ETA of 0 once caught up');
  const tables = await awaitRowForRow({ ...h.source, database: DB.name }, target);
  for (const table of STEPS)
    assert.equal(tables.find((x) => x.table === `public.${table}`)?.targetRows, STEP_ROWS, `${table} applied`);
});
