// The data plane on a queue of its own (common/task-queues.ts): two real `dbmig worker` processes,
// one `--control-plane` and one `--data-plane`. With only the control plane serving, the copy waits
// (scheduled on `<queue>-data`, not started, not failed, no row on the target); once a data-plane
// worker appears, it runs the snapshot copy and both validations, every other step stays on the
// control plane, and the run completes with the target equal to the source row for row. Who ran
// what is read from the ActivityTaskStarted events' worker identity (pid@host).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { getStatus } from '../client/client';
import { activityPollers, workflowPollers } from '../client/readiness';
import { dataPlaneQueue } from '../common/task-queues';
import { compareRowForRow, planFor, Writer, type SourceDb } from './fixtures/fleet';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';
import { killWorkers, spawnWorker, workerAt } from './helpers/worker-process';

const DB: SourceDb = { name: 'shipments', rows: 20_000, priority: 'high', sizeGb: 40, noPrimaryKey: true };
/** How long the copy must stay waiting, unstarted, with only the control plane serving. */
const HELD_MS = 10_000;

let h: Harness;
before(async () => {
  h = await createHarness('dataplane', { databases: [DB], worker: false });
});
after(async () => {
  killWorkers();
  await h?.close();
});

test('the copy and the validations run on a data-plane worker; without one they wait', async () => {
  const writer = new Writer({ ...h.source, database: DB.name }, true);
  const plan = planFor(h.source, [DB], `env:${SOURCE_PASSWORD_ENV}`, {
    approval: { policy: 'auto', timeout: '1h' },
  });
  const handle = await h.startFleet('dp', plan);
  const control = spawnWorker(workerAt(h), {}, ['--control-plane']);
  const child = h.env.client.workflow.getHandle('dp/shipments');
  const target = await h.platform.clusters.ensure('fleet-target');

  // Only the control plane serves: the copy is scheduled and stays so.
  const pendingCopy = async () =>
    (await child.describe()).raw.pendingActivities?.find((a) => a.activityType?.name === 'waitForFullDump');
  const since = await eventually(
    'the copy scheduled with no data-plane worker',
    async () => {
      const status = await getStatus(h.env.client, handle.workflowId).catch(() => undefined);
      if (status?.databases[0].state !== 'FULL_DUMP') return undefined;
      return (await pendingCopy()) ? Date.now() : undefined;
    },
    180_000,
  );
  await eventually(
    `the copy still waiting after ${HELD_MS / 1000} s`,
    async () => {
      const copy = await pendingCopy();
      assert.ok(copy, 'the copy is still pending');
      assert.equal(copy.lastStartedTime ?? null, null, 'no worker started the copy');
      assert.equal(copy.attempt, 1, 'the copy has not failed');
      const status = await getStatus(h.env.client, handle.workflowId);
      assert.equal(status.databases[0].state, 'FULL_DUMP', status.databases[0].lastError);
      return Date.now() - since >= HELD_MS ? true : undefined;
    },
    HELD_MS * 6,
  );
  const onTarget = await compareRowForRow({ ...h.source, database: DB.name }, { ...target, database: DB.name });
  assert.deepEqual(
    onTarget.map((t) => [t.table, t.targetRows]),
    onTarget.map((t) => [t.table, 0]),
    'no row copied while no data-plane worker serves',
  );

  // What `dbmig start` reads to warn that the data plane has no worker: the control plane polls, it does not.
  assert.ok((await workflowPollers(h.env.client, h.taskQueue)).count >= 1, 'the control plane polls');
  assert.equal(
    (await activityPollers(h.env.client, dataPlaneQueue(h.taskQueue))).count,
    0,
    'nobody polls the data plane',
  );

  // A data-plane worker appears: the run goes on and completes.
  const data = spawnWorker(workerAt(h), {}, ['--data-plane']);
  const report = await handle.result();
  writer.pause();
  await writer.stop();
  assert.equal(report.databases[0].state, 'COMPLETED', report.databases[0].lastError);
  assert.ok((await activityPollers(h.env.client, dataPlaneQueue(h.taskQueue))).count >= 1, 'the data plane polled');
  assert.ok(
    data.lines.some((l) => l.includes('dbmig worker started') && l.includes('data')),
    `the data-plane worker says what it serves: ${data.stderr()}`,
  );
  for (const t of await compareRowForRow({ ...h.source, database: DB.name }, { ...target, database: DB.name }))
    assert.ok(t.equal, `${t.table}: source ${t.sourceRows} rows, target ${t.targetRows}`);

  // Who ran what: the worker identity of each step's start, and the queue it was scheduled on.
  const pidOf = (identity: string | null | undefined) => Number(String(identity).split('@')[0]);
  const scheduled = new Map<string, { name: string; queue: string }>();
  const ranOn = new Map<string, Set<number>>();
  for (const e of (await child.fetchHistory()).events!) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), { name: s.activityType!.name!, queue: s.taskQueue!.name! });
    const started = e.activityTaskStartedEventAttributes;
    if (!started) continue;
    const { name, queue } = scheduled.get(String(started.scheduledEventId))!;
    const pids = ranOn.get(name) ?? new Set<number>();
    pids.add(pidOf(started.identity));
    ranOn.set(name, pids);
    const dataStep = name === 'waitForFullDump' || name === 'validateData';
    assert.equal(queue, dataStep ? dataPlaneQueue(h.taskQueue) : h.taskQueue, `${name} scheduled on ${queue}`);
  }
  assert.deepEqual([...ranOn.get('waitForFullDump')!], [data.child.pid], 'the copy ran on the data-plane worker');
  assert.deepEqual([...ranOn.get('validateData')!], [data.child.pid], 'both validations ran on the data plane');
  for (const step of ['assessSource', 'provisionTarget', 'startMigrationJob', 'cutover'])
    assert.deepEqual([...ranOn.get(step)!], [control.child.pid], `${step} ran on the control-plane worker`);
});
