// approveCutover / rejectCutover: the validators refuse an unknown database, a database that is
// not awaiting approval and an empty approver, on the parent and on the child alike; a
// rejection and an approval timeout each end the database with a clear reason.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { MultiDatabaseMigration, DatabaseMigration } from '../workflows';
import {
  approveCutoverSignal,
  approveCutoverUpdate,
  databaseStatusQuery,
  rejectCutoverUpdate,
  statusQuery,
} from '../common/messages';
import { effectiveSettings, validatePlan } from '../common/plan';
import { planFor, replicationLeftovers, type SourceDb } from './fixtures/fleet';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';

const DBS: SourceDb[] = [
  { name: 'alpha', rows: 500, priority: 'high', sizeGb: 10 },
  { name: 'beta', rows: 500, priority: 'low', sizeGb: 10 },
];

let h: Harness;
before(async () => {
  h = await createHarness('approval', { databases: DBS });
});
after(async () => h?.close());

async function refused(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof WorkflowUpdateFailedError, `expected an update rejection, got ${err}`);
    assert.match(String((err.cause as Error)?.message), pattern);
    return true;
  });
}

test('bad approvals are rejected by the validators; reject and approve end each database', async () => {
  const plan = planFor(h.source, DBS, `env:${SOURCE_PASSWORD_ENV}`, { concurrency: 1, migrationId: 'appr' });
  const handle = await h.env.client.workflow.start(MultiDatabaseMigration, {
    taskQueue: h.taskQueue,
    workflowId: 'appr',
    args: [{ plan }],
  });
  await eventually('alpha awaiting approval', async () =>
    (await handle.query(statusQuery)).databases.find((d) => d.database === 'alpha' && d.state === 'AWAITING_APPROVAL'),
  );

  await refused(
    handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'gamma', approver: 'ops' }] }),
    /unknown database "gamma"; this migration has: alpha, beta/,
  );
  await refused(
    handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'beta', approver: 'ops' }] }),
    /"beta" is PENDING, not AWAITING_APPROVAL/,
  );
  await refused(
    handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: '  ' }] }),
    /approver must be a non-empty name/,
  );
  const child = h.env.client.workflow.getHandle('appr/alpha');
  await refused(
    child.executeUpdate(approveCutoverUpdate, { args: [{ database: 'beta', approver: 'ops' }] }),
    /unknown database "beta"/,
  );
  await refused(
    child.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: '' }] }),
    /approver must be a non-empty name/,
  );
  // A refused update leaves no trace: alpha still waits.
  assert.equal((await handle.query(statusQuery)).databases[0].state, 'AWAITING_APPROVAL');

  const ack = await handle.executeUpdate(rejectCutoverUpdate, {
    args: [{ database: 'alpha', approver: 'dba-on-call', reason: 'freeze week' }],
  });
  assert.deepEqual(ack, { database: 'alpha', accepted: true, decision: 'rejected', by: 'dba-on-call' });

  await eventually('beta awaiting approval', async () =>
    (await handle.query(statusQuery)).databases.find((d) => d.database === 'beta' && d.state === 'AWAITING_APPROVAL'),
  );
  await refused(
    handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: 'ops' }] }),
    /"alpha" is CANCELLED/,
  );
  // Fire-and-forget callers use the child's signal.
  await h.env.client.workflow
    .getHandle('appr/beta')
    .signal(approveCutoverSignal, { database: 'beta', approver: 'release-bot' });

  const report = await handle.result();
  const [alpha, beta] = report.databases;
  assert.equal(alpha.state, 'CANCELLED');
  assert.match(alpha.lastError ?? '', /cutover rejected by dba-on-call: freeze week/);
  assert.equal(beta.state, 'COMPLETED');
  assert.equal(beta.approvedBy, 'release-bot');
  const target = await h.platform.clusters.ensure('fleet-target');
  assert.deepEqual(await replicationLeftovers(h.source, ['alpha', 'beta'], target), {
    slots: [],
    publications: [],
    subscriptions: [],
  });
  const dbs = await h.platform.clusters.client(target).then(async (c) => {
    const r = await c.query<{ datname: string }>(
      "select datname from pg_database where datname in ('alpha', 'beta') order by 1",
    );
    await c.end();
    return r.rows.map((x) => x.datname);
  });
  assert.deepEqual(dbs, ['beta'], 'the rejected database left no target behind');
});

test('an approval that never comes times out with a clear reason', async () => {
  const plan = validatePlan(
    planFor(h.source, [DBS[0]], `env:${SOURCE_PASSWORD_ENV}`, { approval: { policy: 'manual', timeout: '2s' } }),
  );
  const db = { ...plan.databases[0], target: { ...plan.databases[0].target, database: 'alpha_solo' } };
  const handle = await h.env.client.workflow.start(DatabaseMigration, {
    taskQueue: h.taskQueue,
    workflowId: 'solo/alpha',
    args: [
      {
        migrationId: 'solo',
        platform: 'local',
        database: db,
        settings: effectiveSettings(plan, db),
        approval: { policy: 'manual', timeoutMs: 2000 },
      },
    ],
  });
  await assert.rejects(handle.result(), (err: unknown) => {
    assert.ok(err instanceof WorkflowFailedError);
    assert.match(String((err.cause as Error).message), /no cutover approval within/);
    return true;
  });
  assert.equal((await handle.query(databaseStatusQuery)).state, 'FAILED');
});

test('an approval outside the cutover window is accepted; the cutover waits for the window', async () => {
  const now = new Date();
  const open = new Date(Math.ceil(now.getTime() / 60_000) * 60_000 + 60_000);
  const hhmm = (d: Date) => d.toISOString().slice(11, 16);
  const window = {
    days: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as (
      'sun' | 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat'
    )[],
    start: hhmm(open),
    end: hhmm(new Date(open.getTime() + 10 * 60_000)),
    timeZone: 'UTC',
  };
  const plan = planFor(h.source, [DBS[0]], `env:${SOURCE_PASSWORD_ENV}`, { cutoverWindow: window });
  plan.databases[0].target.database = 'alpha_window';
  const handle = await h.env.client.workflow.start(MultiDatabaseMigration, {
    taskQueue: h.taskQueue,
    workflowId: 'window',
    args: [{ plan }],
  });
  await eventually('awaiting approval', async () =>
    (await handle.query(statusQuery)).databases.find((d) => d.state === 'AWAITING_APPROVAL'),
  );
  const approvedAt = Date.now();
  await handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'alpha', approver: 'ops' }] });
  if (approvedAt < open.getTime() - 5_000) {
    const waiting = await eventually('waiting for the window', async () =>
      (await handle.query(statusQuery)).databases.find((d) => /waits for the window/.test(d.nextAction ?? '')),
    );
    assert.equal(waiting.state, 'AWAITING_APPROVAL');
  }
  const cutting = await eventually(
    'cutting over',
    async () =>
      (await handle.query(statusQuery)).databases.find(
        (d) => d.state !== 'AWAITING_APPROVAL' && d.state !== 'VALIDATING',
      ),
    180_000,
    200,
  );
  assert.ok(
    Date.now() >= open.getTime(),
    `cut over at ${new Date().toISOString()}, window opens ${open.toISOString()} (${cutting.state})`,
  );
  const report = await handle.result();
  assert.equal(report.databases[0].state, 'COMPLETED');
});
