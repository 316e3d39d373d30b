// A cancel waits for the step it interrupts: createMigrationJob blocked on a lock on the source
// (CREATE PUBLICATION needs the published tables' SHARE UPDATE EXCLUSIVE lock; an application
// transaction holds SHARE) is cancelled while it waits. Its statement is cancelled on the server
// while the lock is still held, the activity's cancellation completes, and only then does
// compensation begin; once the lock is released nothing the step would have made appears.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { cancelDatabaseUpdate, statusQuery } from '../common/messages';
import { connect, withClient } from '../activities/engines/postgres/sessions';
import { planFor, replicationLeftovers, type SourceDb } from './fixtures/fleet';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';

const DBS: SourceDb[] = [{ name: 'waits', rows: 500, priority: 'high', sizeGb: 5 }];
const UNDOS = ['rollbackCutover', 'stopMigrationJob', 'deleteMigrationJob', 'releaseCapacity', 'deleteTarget'];

let h: Harness;
let blocker: pg.Client | undefined;
before(async () => {
  h = await createHarness('cancel-waits', { databases: DBS });
});
after(async () => {
  await blocker?.end().catch(() => undefined);
  await h?.close();
});

/** How many sessions dbmig has open on the source database. */
async function dbmigSessions(): Promise<number> {
  return withClient({ ...h.source, database: 'postgres' }, async (c) =>
    Number(
      (
        await c.query<{ n: string }>(
          `select count(*) as n from pg_stat_activity where application_name = 'dbmig' and datname = 'waits'`,
        )
      ).rows[0].n,
    ),
  );
}

/** dbmig's sessions on the source waiting for a lock, with what they run. */
async function waitingOnLock(): Promise<string[]> {
  return withClient({ ...h.source, database: 'postgres' }, async (c) =>
    (
      await c.query<{ query: string }>(
        `select query from pg_stat_activity where application_name = 'dbmig' and wait_event_type = 'Lock'`,
      )
    ).rows.map((r) => r.query),
  );
}

test('a cancel while createMigrationJob waits on a lock stops it before compensation runs', async () => {
  blocker = await connect({ ...h.source, database: 'waits' });
  await blocker.query('begin');
  await blocker.query('lock table items in share mode');

  const plan = planFor(h.source, DBS, `env:${SOURCE_PASSWORD_ENV}`, {
    migrationId: 'waits',
    concurrency: 1,
    approval: { policy: 'auto', timeout: '1h' },
  });
  const handle = await h.startFleet('cancel-waits', plan);
  const blocked = await eventually('createMigrationJob blocked on the lock', async () => {
    const q = await waitingOnLock();
    return q.some((s) => /create publication/i.test(s)) ? q : undefined;
  });
  assert.equal(blocked.length, 1);

  await handle.executeUpdate(cancelDatabaseUpdate, { args: ['waits'] });
  // The cancel reaches the activity with a heartbeat's reply; its statement is then cancelled on
  // the server while the lock is still held (were it not, it would wait for as long as the lock).
  const cancelledAt = Date.now();
  await eventually('the waiting statement cancelled', async () => (await waitingOnLock()).length === 0, 90_000);
  const waitedMs = Date.now() - cancelledAt;
  console.log(`cancel to statement cancelled: ${waitedMs} ms`);
  await blocker.query('rollback');
  await blocker.end();
  blocker = undefined;

  const report = await handle.result();
  assert.deepEqual(
    report.databases.map((d) => d.state),
    ['CANCELLED'],
  );
  // Nothing of the step can still be queued behind the released lock once dbmig holds no session on
  // the database: waited for as that event, not as 2 s of quiet.
  await eventually('no dbmig session left on the source database', async () => (await dbmigSessions()) === 0, 60_000);
  const target = await h.platform.clusters.ensure('fleet-target');
  assert.deepEqual(await replicationLeftovers(h.source, ['waits'], target), {
    slots: [],
    publications: [],
    subscriptions: [],
  });
  assert.deepEqual(await h.platform.capacity.held(), {});

  // In the child's history the step's cancellation completed before the first undo was scheduled.
  const { events } = await h.env.client.workflow.getHandle(report.databases[0].childWorkflowId).fetchHistory();
  const list = events ?? [];
  const scheduled = list.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'createMigrationJob',
  );
  assert.ok(scheduled, 'createMigrationJob was scheduled');
  const closedAt = list.findIndex((e) =>
    [
      e.activityTaskCanceledEventAttributes,
      e.activityTaskCompletedEventAttributes,
      e.activityTaskFailedEventAttributes,
      e.activityTaskTimedOutEventAttributes,
    ].some((a) => a && Number(a.scheduledEventId) === Number(scheduled.eventId)),
  );
  assert.ok(closedAt >= 0, 'createMigrationJob closed');
  assert.ok(list[closedAt].activityTaskCanceledEventAttributes, 'it closed as cancelled: it was stopped in its wait');
  const requestedAt = list.findIndex((e) => e.activityTaskCancelRequestedEventAttributes);
  const firstUndo = list.findIndex(
    (e, i) => i > requestedAt && UNDOS.includes(e.activityTaskScheduledEventAttributes?.activityType?.name ?? ''),
  );
  assert.ok(requestedAt >= 0 && firstUndo > requestedAt, 'compensation ran after the cancel');
  assert.ok(
    closedAt < firstUndo,
    `the cancellation completed (event ${closedAt}) before the first undo (${firstUndo})`,
  );
  assert.equal((await handle.query(statusQuery)).databases[0].state, 'CANCELLED');
});
