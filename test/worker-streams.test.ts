// copy.workerStreams (worker-streams.ts): one `dbmig worker` process copies two databases of one
// plan at once, each with copy.streams 4, under copy.workerStreams 2. Both copies open their four
// streams and wait at the plan's throttle check until an instant the test sets for both; from then on
// the test samples the SOURCE's pg_stat_activity (the server's view, not dbmig's counters): never
// more than 2 sessions run `COPY … TO STDOUT` at once, 2 do at some instant, the two databases'
// COPYs take turns in those places over one stretch of time (8 streams open, 2 copying), and both
// copies complete with the target row for row equal.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { resourceNames } from '../common/naming';
import { withClient } from '../activities/engines/postgres/sessions';
import { planFor, type SourceDb } from './fixtures/fleet';
import { awaitRowForRow, createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';
import { endRunAndWorkers, spawnWorker, workerAt } from './helpers/worker-process';

const DBS: SourceDb[] = [
  { name: 'north', rows: 300_000, priority: 'high', sizeGb: 1 },
  { name: 'south', rows: 300_000, priority: 'high', sizeGb: 1 },
];
const STREAMS = 4;
const WORKER_STREAMS = 2;

let h: Harness;
let migrationId: string | undefined;
before(async () => {
  h = await createHarness('workerstreams', { databases: DBS, worker: false });
  for (const db of DBS)
    await withClient({ ...h.source, database: db.name }, async (c) => {
      await c.query(`create schema ops; create table ops.go (id int primary key, at timestamptz)`);
      await c.query(`insert into ops.go values (1, null)`);
    });
});
after(async () => {
  await endRunAndWorkers(h, migrationId);
  await h?.close();
});

/** The source's copy sessions of each database: connected, and running a COPY … TO STDOUT now. */
async function copySessions(on?: pg.Client): Promise<Map<string, { open: number; copying: number }>> {
  const read = (c: pg.Client) =>
    c.query<{ datname: string; open: number; copying: number }>(
      `select datname, count(*)::int as open,
              count(*) filter (where state = 'active' and query ilike 'copy (%to stdout%')::int as copying
         from pg_stat_activity where application_name like 'dbmig copy %' group by datname`,
    );
  // pg_stat_activity is a snapshot per transaction: each read is a statement of its own (autocommit).
  const { rows } = on ? await read(on) : await withClient({ ...h.source, database: 'postgres' }, read);
  return new Map(rows.map((r) => [r.datname, { open: r.open, copying: r.copying }]));
}

test('two databases copied at once on one worker share its copy.workerStreams places', async () => {
  const plan = planFor(h.source, DBS, `env:${SOURCE_PASSWORD_ENV}`, {
    approval: { policy: 'manual', timeout: '1h' },
    concurrency: 2,
    defaults: {
      stableWindow: '3s',
      lagThresholdSeconds: 5,
      noPrimaryKey: 'fail',
      throttle: { check: 'select coalesce(now() >= at, false) from ops.go where id = 1', pollInterval: '200ms' },
    },
    copy: { method: 'snapshot', streams: STREAMS, rangeMb: 1, workerStreams: WORKER_STREAMS },
  });
  const handle = await h.startFleet('wstreams', plan);
  migrationId = handle.workflowId;
  const worker = spawnWorker(workerAt(h));

  // Both copies hold their streams open in the snapshot, every one held at the check.
  await eventually(
    `both databases' ${STREAMS} copy streams open on the source`,
    async () => {
      const s = await copySessions();
      return DBS.every((db) => (s.get(db.name)?.open ?? 0) === STREAMS) || undefined;
    },
    240_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; worker log: ${worker.stderr()}`);
  });
  const held = await copySessions();
  for (const db of DBS)
    assert.equal(held.get(db.name)!.copying, 0, `${db.name}: nothing copies while the check says wait`);

  // Let both go at once, and watch the source until both copies are done.
  let sampling = true;
  let samples = 0;
  let most = 0;
  /** Per database: the first and last sample in which it ran a COPY, and in how many samples. */
  const spans = new Map<string, { first: number; last: number; samples: number }>();
  // One session of its own, so a sample takes a few ms and no connection setup.
  const watcher = new pg.Client({ ...h.source, database: 'postgres' });
  await watcher.connect();
  const sampler = (async () => {
    while (sampling) {
      const s = await copySessions(watcher);
      const copying = [...s].filter(([, v]) => v.copying > 0);
      const total = copying.reduce((n, [, v]) => n + v.copying, 0);
      most = Math.max(most, total);
      const now = Date.now();
      for (const [name] of copying) {
        const span = spans.get(name) ?? { first: now, last: now, samples: 0 };
        spans.set(name, { ...span, last: now, samples: span.samples + 1 });
      }
      samples++;
    }
  })();
  // One instant for both, on the source's clock: neither gets a head start.
  const at = await withClient({ ...h.source, database: 'postgres' }, async (c) => {
    const { rows } = await c.query<{ at: string }>(`select (clock_timestamp() + interval '2 seconds')::text as at`);
    return rows[0].at;
  });
  for (const db of DBS)
    await withClient({ ...h.source, database: db.name }, (c) => c.query(`update ops.go set at = $1`, [at]));
  for (const db of DBS) await h.reach(handle.workflowId, db.name, ['AWAITING_APPROVAL'], 300_000);
  sampling = false;
  await sampler.finally(() => watcher.end());

  const target = await h.platform.clusters.ensure('fleet-target');
  for (const db of DBS) {
    await awaitRowForRow({ ...h.source, database: db.name }, { ...target, database: db.name });
    const job = resourceNames(handle.workflowId, db.name).job;
    const { rows } = await withClient({ ...target, database: db.name }, (c) =>
      c.query<{ done: number; ranges: number }>(
        `select count(*) filter (where done_at is not null)::int as done, count(*)::int as ranges
           from dbmig.copy_range where job = $1`,
        [job],
      ),
    );
    assert.ok(rows[0].ranges >= STREAMS, `${db.name} was split into ranges enough for its streams (${rows[0].ranges})`);
    assert.equal(rows[0].done, rows[0].ranges, `${db.name}: every range copied`);
  }
  const [a, b] = DBS.map((db) => spans.get(db.name));
  const spanText = [...spans].map(([n, v]) => `${n} ${v.samples} samples over ${v.last - v.first} ms`).join(', ');
  console.log(`source samples: ${samples}; most COPY … TO STDOUT at once: ${most}; copying: ${spanText}`);
  assert.ok(samples >= 10, `the source was sampled during the copies (${samples})`);
  assert.ok(most <= WORKER_STREAMS, `at most ${WORKER_STREAMS} COPY sessions at once on the source, saw ${most}`);
  assert.equal(most, WORKER_STREAMS, 'the worker used its places: 2 COPY sessions at once at some instant');
  assert.ok(a && b, `both databases seen copying: ${spanText}`);
  // Each copy went on while the other did: they took turns in the same 2 places.
  assert.ok(a.first < b.last && b.first < a.last, `the two copies overlapped in time: ${spanText}`);
});
