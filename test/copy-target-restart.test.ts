// The snapshot copy (engines/postgres/snapshot-copy.ts) across a restart of the target (issue 19,
// point 1: "resumable by range after a worker kill or a target restart"). The worker is paused inside
// a range (fault point copy/range-streaming: its rows are on their way into the target, not
// committed); the target is stopped, which aborts that transaction, and started again; then the
// worker goes on. Its stream finds its connection gone, the copy fails and is retried, and the
// retry copies only the ranges without a done mark, in the same snapshot (the keeper lives on the
// source): the done marks from before the restart are untouched, and the target ends row for row
// equal to the source, its key-less table without a duplicated row. Writers run on the source
// throughout; the migration user is a non-superuser (helpers/migration-user.ts).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { resourceNames } from '../common/naming';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { planFor, Writer, type SourceDb } from './fixtures/fleet';
import { awaitRowForRow, createHarness, eventually, type Harness } from './helpers/harness';
import { killWorkers, spawnWorker, workerAt } from './helpers/worker-process';
import { as, createMigrationUser, createRole, handOver, type MigrationUser, type Role } from './helpers/migration-user';

const DB: SourceDb = { name: 'ledger', rows: 60_000, priority: 'high', sizeGb: 60, noPrimaryKey: true };

let h: Harness;
let app: Role;
let migrator: MigrationUser;
let dir: string;
before(async () => {
  h = await createHarness('copyrestart', { databases: [DB], worker: false, sourceVersion: 16 });
  migrator = await createMigrationUser(h.source, 'rs_migrator', 'DBMIG_RS_MIGRATOR_PASSWORD');
  app = await createRole(h.source, 'rs_app');
  await handOver(h.source, DB.name, { owner: 'rs_owner', apps: [app.user], migrator: migrator.user });
  dir = await mkdtemp(join(tmpdir(), 'dbmig-copyrestart-'));
});
after(async () => {
  killWorkers();
  await h?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Mark {
  range: string;
  done: string | null;
}

/** Every range of the job and when it was marked done, as the target's state table holds them. */
const marks = (target: ConnectionParams, job: string): Promise<Mark[]> =>
  withClient(
    target,
    async (c) =>
      (
        await c.query<Mark>(
          `select tbl || ' ' || coalesce(first_block::text, '-') as range, done_at::text as done
           from dbmig.copy_range where job = $1 order by 1`,
          [job],
        )
      ).rows,
  );

const stateOf = (target: ConnectionParams, job: string) =>
  withClient(target, async (c) => {
    const { rows } = await c.query<{ snapshot: string; restarts: number }>(
      'select snapshot, restarts from dbmig.copy_state where job = $1',
      [job],
    );
    return rows[0];
  });

test('a target restarted inside a range copy: the retry copies the ranges not done, in one snapshot', async (t) => {
  const writer = new Writer(as({ ...h.source, database: DB.name }, app), true);
  const plan = planFor({ ...h.source, user: migrator.user }, [DB], `env:${migrator.env}`, {
    approval: { policy: 'manual', timeout: '1h' },
    defaults: { stableWindow: '3s', lagThresholdSeconds: 5, noPrimaryKey: 'fail' },
    copy: { method: 'snapshot', streams: 2, rangeMb: 1 },
  });
  const handle = await h.startFleet('copyrestart', plan);
  t.after(async () => {
    killWorkers();
    await writer.stop();
  });
  const marker = join(dir, 'paused.json');
  const resume = join(dir, 'resume');
  const worker = spawnWorker(workerAt(h), {
    DBMIG_FAULT_PAUSE_AT: 'copy/range-streaming',
    DBMIG_FAULT_MARKER: marker,
    DBMIG_FAULT_RESUME: resume,
  });
  await eventually('the worker paused inside a range copy', async () => existsSync(marker) || undefined, 240_000);

  const job = resourceNames(handle.workflowId, DB.name).job;
  const target: ConnectionParams = { ...(await h.platform.clusters.ensure('fleet-target')), database: DB.name };
  const before = await marks(target, job);
  const doneBefore = before.filter((m) => m.done);
  assert.ok(before.length >= 4, `the tables were split into ranges (${before.length})`);
  assert.ok(doneBefore.length >= 1 && doneBefore.length < before.length, `some ranges done (${doneBefore.length})`);
  const { snapshot } = await stateOf(target, job);

  const inFlight = await withClient(target, async (c) =>
    Number(
      (
        await c.query(
          `select count(*) as n from pg_stat_activity
            where datname = current_database() and query ilike 'copy %from stdin%' and xact_start is not null`,
        )
      ).rows[0].n,
    ),
  );
  assert.ok(inFlight >= 1, "a range's rows on their way into the target when it stops");
  // A fast shutdown ends every session: the paused range's transaction is rolled back.
  await h.platform.clusters.stop('fleet-target');
  await h.platform.clusters.ensure('fleet-target');
  await writeFile(resume, '');

  await h.reach(handle.workflowId, DB.name, 'AWAITING_APPROVAL', 300_000);
  assert.ok(
    worker.lines.some((l) => /FAULT INJECTION: paused at copy\/range-streaming/.test(l)),
    'the pause happened in this worker',
  );
  const after = await marks(target, job);
  assert.ok(
    after.every((m) => m.done),
    `every range done: ${after
      .filter((m) => !m.done)
      .map((m) => m.range)
      .join(', ')}`,
  );
  for (const m of doneBefore)
    assert.equal(after.find((x) => x.range === m.range)?.done, m.done, `${m.range}: not copied again`);
  const state = await stateOf(target, job);
  assert.equal(state.snapshot, snapshot, 'the same snapshot: the copy went on, it did not start over');
  assert.equal(state.restarts, 0);

  writer.pause();
  await writer.stop();
  await awaitRowForRow({ ...h.source, database: DB.name }, target);
  assert.ok(writer.writes > 0, 'writes ran during the copy');
  t.diagnostic(
    `${doneBefore.length} of ${before.length} ranges done before the restart, kept; ` +
      `${after.length - doneBefore.length} copied after it; ${writer.writes} writes meanwhile`,
  );
  await handle.cancel();
});
