// A worker process killed with SIGKILL while it waits on lag is replaced by a new one, which
// completes the run: the wait resumes on the new worker (attempt 2), no step that creates
// something runs twice, and the key-less table holds no duplicated rows. "Twice" is read from the
// effects (replication objects on both clusters, the job record's blocks, the rows), since a
// Temporal retry adds no ActivityTaskScheduled event. The migration user is a non-superuser and the
// application writes as its own role (helpers/migration-user.ts).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { finalizeDatabase, getStatus } from '../client/client';

import { compareRowForRow, planFor, replicationLeftovers, Writer, type SourceDb } from './fixtures/fleet';
import { createHarness, eventually, type Harness } from './helpers/harness';
import { killWorkers, spawnWorker, workerAt } from './helpers/worker-process';
import { as, createMigrationUser, createRole, handOver, type MigrationUser, type Role } from './helpers/migration-user';
import type { JobRecord } from '../activities/engines/postgres/job-record';
import { resourceNames } from '../common/naming';

const DB: SourceDb = { name: 'billing', rows: 6_000, priority: 'high', sizeGb: 80, noPrimaryKey: true };

let h: Harness;
let app: Role;
let migrator: MigrationUser;
before(async () => {
  // 16: the first source on which a non-superuser may create the reverse subscription.
  h = await createHarness('crash', { databases: [DB], worker: false, sourceVersion: 16 });
  migrator = await createMigrationUser(h.source, 'crash_migrator', 'DBMIG_CRASH_MIGRATOR_PASSWORD');
  app = await createRole(h.source, 'crash_app');
  await handOver(h.source, DB.name, { owner: 'crash_owner', apps: [app.user], migrator: migrator.user });
});
after(async () => {
  killWorkers();
  await h?.close();
});

test('a worker killed while waiting on lag is replaced and the run completes once', async () => {
  const writer = new Writer(as({ ...h.source, database: DB.name }, app), true);
  const plan = planFor({ ...h.source, user: migrator.user }, [DB], `env:${migrator.env}`, {
    approval: { policy: 'auto', timeout: '1h' },
    defaults: { stableWindow: '15s' },
  });
  const handle = await h.startFleet('crash', plan);
  const first = spawnWorker(workerAt(h)).child;

  const child = h.env.client.workflow.getHandle('crash/billing');
  await eventually(
    'the lag wait running on the first worker',
    async () => {
      const status = await getStatus(h.env.client, handle.workflowId).catch(() => undefined);
      if (status?.databases[0].state !== 'CDC') return undefined;
      const d = await child.describe();
      return d.raw.pendingActivities?.some(
        (a) => a.activityType?.name === 'waitForReplicationReady' && a.lastStartedTime,
      );
    },
    180_000,
  );
  const exited = new Promise((r) => first.once('exit', r));
  first.kill('SIGKILL');
  await exited;

  spawnWorker(workerAt(h));
  const report = await handle.result();
  writer.pause();
  await writer.stop();
  assert.equal(report.databases[0].state, 'COMPLETED', report.databases[0].lastError);

  const history = await child.fetchHistory();
  const scheduled = new Map<string, number>();
  let waitAttempt = 0;
  const byId = new Map<string, string>();
  for (const e of history.events!) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      const name = s.activityType!.name!;
      scheduled.set(name, (scheduled.get(name) ?? 0) + 1);
      byId.set(String(e.eventId), name);
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started && byId.get(String(started.scheduledEventId)) === 'waitForReplicationReady')
      waitAttempt = started.attempt ?? 0;
  }
  assert.ok(waitAttempt >= 2, `the lag wait ran again on the new worker (attempt ${waitAttempt})`);
  for (const step of ['provisionTarget', 'reserveCapacity', 'createMigrationJob', 'startMigrationJob', 'cutover']) {
    assert.equal(scheduled.get(step), 1, `${step} scheduled once`);
  }
  const target = await h.platform.clusters.ensure('fleet-target');
  for (const t of await compareRowForRow({ ...h.source, database: DB.name }, { ...target, database: DB.name })) {
    assert.ok(t.equal, `${t.table}: source ${t.sourceRows} rows, target ${t.targetRows}`);
  }
  // What ran, counted from what it made: reverse replication once (forward gone), the slot that
  // watches the closed source once, one write block.
  const names = resourceNames(report.migrationId, DB.name);
  assert.deepEqual(await replicationLeftovers(h.source, [DB.name], target), {
    slots: [`${names.slot}_srcw`, `target:${names.slot}_rev`],
    publications: [`target:${DB.name}:${names.publication}_rev`],
    subscriptions: [`source:${names.subscription}_rev`],
  });
  const rec = JSON.parse(await readFile(join(h.stateDir, 'jobs', `${names.job}.json`), 'utf8')) as JobRecord;
  assert.equal(rec.blocks, 1, 'one write block');
  assert.equal((await finalizeDatabase(h.env.client, report.migrationId, DB.name, 'test')).state, 'FINALIZED');
  assert.deepEqual(await replicationLeftovers(h.source, [DB.name], target), {
    slots: [],
    publications: [],
    subscriptions: [],
  });
});
