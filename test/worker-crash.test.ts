// A worker process killed with SIGKILL while it waits on lag is replaced by a new one, which
// completes the run: the wait resumes on the new worker (attempt 2), no step that creates
// something runs twice, and the key-less table holds no duplicated rows.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { finalizeDatabase, getStatus } from '../client/client';

import { compareRowForRow, planFor, replicationLeftovers, Writer, type SourceDb } from './fixtures/fleet';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';

const DB: SourceDb = { name: 'billing', rows: 6_000, priority: 'high', sizeGb: 80, noPrimaryKey: true };

let h: Harness;
const workers: ChildProcess[] = [];
before(async () => {
  h = await createHarness('crash', { databases: [DB], worker: false });
});
after(async () => {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  await h?.close();
});

function spawnWorker(): ChildProcess {
  // The real `dbmig worker` entry point, from the sources (bin/ would prefer a possibly stale dist/).
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'cli', 'main.ts'), 'worker'], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: h.env.address,
      TEMPORAL_TASK_QUEUE: h.taskQueue,
      DBMIG_STATE_DIR: h.stateDir,
      DBMIG_METRICS_ADDRESS: 'off',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', () => undefined);
  workers.push(child);
  return child;
}

test('a worker killed while waiting on lag is replaced and the run completes once', async () => {
  const writer = new Writer({ ...h.source, database: DB.name }, true);
  const plan = planFor(h.source, [DB], `env:${SOURCE_PASSWORD_ENV}`, {
    approval: { policy: 'auto', timeout: '1h' },
    defaults: { stableWindow: '15s' },
  });
  const handle = await h.startFleet('crash', plan);
  const first = spawnWorker();

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

  spawnWorker();
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
  assert.equal((await finalizeDatabase(h.env.client, report.migrationId, DB.name, 'test')).state, 'FINALIZED');
  assert.deepEqual(await replicationLeftovers(h.source, [DB.name], target), {
    slots: [],
    publications: [],
    subscriptions: [],
  });
});
