// Issue 19, point 5: throttling by the source's own load, on real clusters, as a non-superuser
// migration user (helpers/migration-user.ts), through the workflows and a `dbmig worker` process.
//   - The plan's check reads flags the test sets on the source: one for the copy, one for the live
//     validation (the check tells them apart by whether the subscription streams yet, which it does
//     only once the copy is done). While a flag says wait, the step makes no progress (ranges done,
//     counted on the target's dbmig.copy_range; chunks compared, in the validation's heartbeat),
//     `dbmig status` says "throttled: <why>" on its line and dbmig_throttled is 1; once the test
//     sets the flag, the step goes on by itself and the target ends row for row equal.
//   - The plan's validation settings reach the validation: held with every session open, it has
//     streams + 2 sessions per side in pg_stat_activity, and its chunks are chunkRows apart.
//   - maxActiveConnections: the live validation waits while the test holds more sessions busy
//     (pg_sleep, as the application's role) than the limit, and compares once they end.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { resourceNames } from '../common/naming';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { Throttle } from '../activities/engines/postgres/throttle';
import { compareLive, VALIDATION_APPLICATION, type LiveCheckpoint } from '../activities/engines/postgres/validate-live';
import { planFor, Writer, type SourceDb } from './fixtures/fleet';
import { awaitRowForRow, createHarness, eventually, type Harness } from './helpers/harness';
import { endRunAndWorkers, spawnWorker, workerAt, type WorkerProcess } from './helpers/worker-process';
import { freeAddress } from './helpers/metrics-scrape';
import { rangesDone, throttledGauge } from './helpers/throttle-probes';
import { as, createMigrationUser, createRole, handOver, type MigrationUser, type Role } from './helpers/migration-user';

const DB: SourceDb = { name: 'ledger', rows: 80_000, priority: 'high', sizeGb: 80, noPrimaryKey: true };
/** Go or wait, per step: after the copy the subscription's walsender streams, before it nothing does. */
const CHECK =
  "select case when exists (select 1 from pg_stat_replication where state in ('catchup', 'streaming')) " +
  'then (select validation_ok from ops.go where id = 1) else (select copy_ok from ops.go where id = 1) end';
const POLL = '300ms';

let h: Harness;
let app: Role;
let migrator: MigrationUser;
let metrics: string;
let migrationId: string | undefined;
let worker: WorkerProcess | undefined;
before(async () => {
  h = await createHarness('throttle', { databases: [DB], worker: false, sourceVersion: 16 });
  await withClient({ ...h.source, database: DB.name }, async (c) => {
    await c.query(`create schema ops; grant usage on schema ops to public`);
    await c.query(`create table ops.go (id int primary key, copy_ok boolean not null, validation_ok boolean not null)`);
    await c.query(`insert into ops.go values (1, false, false)`);
  });
  migrator = await createMigrationUser(h.source, 'thr_migrator', 'DBMIG_THR_MIGRATOR_PASSWORD');
  app = await createRole(h.source, 'thr_app');
  await handOver(h.source, DB.name, { owner: 'thr_owner', apps: [app.user], migrator: migrator.user });
  metrics = await freeAddress();
  worker = spawnWorker(workerAt(h), { DBMIG_METRICS_ADDRESS: metrics });
});
after(async () => {
  if (process.env.THROTTLE_TEST_LOG) console.error(worker?.lines.slice(-80).join('\n'));
  await endRunAndWorkers(h, migrationId);
  await h?.close();
});

const setFlag = (column: 'copy_ok' | 'validation_ok', value: boolean) =>
  withClient({ ...h.source, database: DB.name }, (c) => c.query(`update ops.go set ${column} = $1`, [value]));

/** The running validation's heartbeat details (its checkpoint), read as `dbmig status` reads them. */
async function validationHeartbeat(childId: string): Promise<LiveCheckpoint | undefined> {
  const { raw } = await h.env.client.workflow.getHandle(childId).describe();
  const converter = h.env.client.options.loadedDataConverter.payloadConverter;
  for (const a of raw.pendingActivities ?? []) {
    const payload = a.heartbeatDetails?.payloads?.[0];
    const p = payload ? converter.fromPayload<LiveCheckpoint>(payload as never) : undefined;
    if (p?.kind === 'live-validation') return p;
  }
  return undefined;
}

test('a check that says wait holds the copy, then the validation; each goes on once it says go', async (t) => {
  const writer = new Writer(as({ ...h.source, database: DB.name }, app), true);
  const plan = planFor({ ...h.source, user: migrator.user }, [DB], `env:${migrator.env}`, {
    approval: { policy: 'manual', timeout: '1h' },
    defaults: {
      stableWindow: '3s',
      lagThresholdSeconds: 5,
      noPrimaryKey: 'fail',
      throttle: { check: CHECK, pollInterval: POLL },
    },
    copy: { method: 'snapshot', streams: 2, rangeMb: 1 },
    validation: { streams: 3, chunkRows: 10_000 },
  });
  const handle = await h.startFleet('throttle', plan);
  migrationId = handle.workflowId;
  const names = resourceNames(handle.workflowId, DB.name);

  // The copy: planned, held before its first range.
  let lastSeen = '';
  t.after(() => t.diagnostic(`last status: ${lastSeen}`));
  const seen = await eventually(
    'dbmig status showing the copy throttled',
    async () => {
      const d = await h.statusOf(handle.workflowId, DB.name);
      lastSeen = `${d.state} copy: ${d.copy ?? '-'} error: ${d.lastError ?? '-'}`;
      return d.copy && /throttled/.test(d.copy) ? d.copy : undefined;
    },
    240_000,
  );
  assert.match(seen, /^copy, 0% \(0\/\d+ ranges, .*throttled: the plan's check says wait \(false\) \(for /);
  t.diagnostic(`status: ${seen}`);
  // The workflow made the target cluster (at the source's major) by now.
  const target = { ...(await h.platform.clusters.ensure('fleet-target')), database: DB.name };
  const held = await rangesDone(target, names.job);
  assert.ok(held.ranges >= 4, `the tables were split into ranges (${held.ranges})`);
  // Ten more readings of the check (10 × 300 ms), each with no range done and the pause still shown.
  const since = /\(for ([^)]+)\)$/.exec(seen)![1];
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await rangesDone(target, names.job)).done, 0, 'no range is copied while the check says wait');
  }
  const later = (await h.statusOf(handle.workflowId, DB.name)).copy!;
  assert.match(later, /throttled: the plan's check says wait/);
  assert.notEqual(/\(for ([^)]+)\)$/.exec(later)?.[1], since, 'the pause is one pause, growing older');
  assert.equal(await eventually('the gauge', () => throttledGauge(metrics, 'copy', 'check', DB.name)), 1);
  t.diagnostic(`held: 0/${held.ranges} ranges done after 10 readings; ${later}`);

  // Go: the copy resumes by itself and finishes; the validation then waits on its own flag.
  await setFlag('copy_ok', true);
  const validating = await eventually(
    'the validation throttled',
    async () => {
      const d = await h.statusOf(handle.workflowId, DB.name);
      return d.state === 'VALIDATING' && d.validating && /throttled/.test(d.validating) ? d : undefined;
    },
    300_000,
  );
  const copied = await rangesDone(target, names.job);
  assert.equal(copied.done, copied.ranges, 'every range copied once the check said go');
  assert.equal(await throttledGauge(metrics, 'copy', 'check', DB.name), 0, 'the copy is no longer throttled');
  assert.match(validating.validating!, /throttled: the plan's check says wait \(false\) \(for /);
  t.diagnostic(`status: ${validating.database} (${validating.state}), validating: ${validating.validating}`);
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 300));
    const beat = await validationHeartbeat(validating.childWorkflowId);
    assert.ok(beat?.throttled, 'the heartbeat says the validation is throttled');
    assert.equal(
      beat.progress.reduce((n, p) => n + p.chunks, 0),
      0,
      'no chunk is compared while held',
    );
  }
  assert.equal(await throttledGauge(metrics, 'validation', 'check', DB.name), 1);
  // Held after it opened its sessions: the plan's 3 comparers per side, plus the point's snapshot
  // session and the helper (source) or the hold (target), as the servers list them.
  const sessions = (c: ConnectionParams) =>
    withClient(c, async (q) => {
      const { rows } = await q.query<{ n: number }>(
        'select count(*)::int as n from pg_stat_activity where datname = $1 and application_name = $2',
        [DB.name, VALIDATION_APPLICATION],
      );
      return rows[0].n;
    });
  assert.deepEqual(
    { source: await sessions({ ...h.source, database: DB.name }), target: await sessions(target) },
    { source: 5, target: 5 },
  );

  await setFlag('validation_ok', true);
  const ready = await h.reach(handle.workflowId, DB.name, 'AWAITING_APPROVAL', 300_000);
  assert.match(ready.validation ?? '', /tables identical at a consistent point/);
  // Chunks of 10,000 rows (the default is 20,000): items alone, over 80,000 rows, is at least 9.
  const chunks = Number(/\((\d+) chunks\)/.exec(ready.validation ?? '')?.[1]);
  assert.ok(chunks >= DB.rows / 10_000 + 2, `chunks of the plan's chunkRows (${chunks})`);
  assert.equal(await throttledGauge(metrics, 'validation', 'check', DB.name), 0);
  t.diagnostic(`validated: ${ready.validation}`);

  writer.pause();
  await writer.stop();
  await awaitRowForRow({ ...h.source, database: DB.name }, target);
  assert.ok(writer.writes > 0, 'writes ran during the copy');
  t.diagnostic(`${copied.ranges} ranges copied; row for row equal after ${writer.writes} writes`);
});

test('more active sessions than the limit hold the validation until they end', async (t) => {
  assert.ok(migrationId, 'the first test left a migration in CDC');
  const names = resourceNames(migrationId, DB.name);
  const source = { ...as({ ...h.source, database: DB.name }, migrator) };
  const target = { ...(await h.platform.clusters.ensure('fleet-target')), database: DB.name };
  const busy = await Promise.all(
    Array.from({ length: 3 }, async () => {
      const c = new pg.Client({ ...as({ ...h.source, database: DB.name }, app), application_name: 'busy-app' });
      await c.connect();
      c.on('error', () => undefined);
      return c;
    }),
  );
  const sleeping = busy.map((c) => c.query('select pg_sleep(600)').catch(() => undefined));
  const gate = Throttle.for(source, { maxActiveConnections: 2, pollIntervalMs: 300 })!;
  let last: LiveCheckpoint | undefined;
  const saves: LiveCheckpoint[] = [];
  let chunks = 0;
  try {
    const running = compareLive({ source, target, job: names.job }, ['public.items', 'public.movements'], {
      throttle: gate,
      save: (c) => saves.push((last = c)),
      onChunk: () => chunks++,
    });
    const paused = await eventually('the validation throttled', async () => last?.throttled);
    assert.equal(paused.reason, 'active-connections');
    assert.match(paused.why, /^[3-9] active sessions on the source \(limit 2\)$/);
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(chunks, 0, 'no chunk compared while the sessions are busy');
      assert.ok(last?.throttled, 'still throttled');
    }
    t.diagnostic(`held: ${paused.why}, 0 chunks after 10 readings`);
    await withClient({ ...h.source, database: 'postgres' }, (c) =>
      c.query(`select pg_cancel_backend(pid) from pg_stat_activity where application_name = 'busy-app'`),
    );
    await Promise.all(sleeping);
    const r = await running;
    assert.equal(r.ok, true, r.summary);
    assert.ok(chunks > 0, 'the chunks were compared once the sessions ended');
    assert.equal(last?.throttled, undefined, 'the last heartbeat is not throttled');
    t.diagnostic(`resumed: ${chunks} chunks, ${r.summary}`);
  } finally {
    await gate.close();
    await Promise.all(busy.map((c) => c.end().catch(() => undefined)));
  }
});
