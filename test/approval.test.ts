// Approval on a real cluster: a rejected database leaves no target and no replication behind,
// an approval by signal completes the next one. The workflow's approval rules (validators,
// timeout, cutover window) are tested with mocked activities in workflow-approval.test.ts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { finalizeDatabase } from '../client/client';
import { rejectCutoverUpdate, statusQuery } from '../common/messages';
import { approveBetaBySignal } from './helpers/approval-scenario';
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

test('a rejection leaves nothing behind; an approval by signal completes the next database', async () => {
  const plan = planFor(h.source, DBS, `env:${SOURCE_PASSWORD_ENV}`, { concurrency: 1, migrationId: 'appr' });
  const handle = await h.startFleet('appr', plan);
  await eventually('alpha awaiting approval', async () =>
    (await handle.query(statusQuery)).databases.find((d) => d.database === 'alpha' && d.state === 'AWAITING_APPROVAL'),
  );

  const ack = await handle.executeUpdate(rejectCutoverUpdate, {
    args: [{ database: 'alpha', approver: 'dba-on-call', reason: 'freeze week' }],
  });
  assert.deepEqual(ack, { database: 'alpha', accepted: true, decision: 'rejected', by: 'dba-on-call' });

  await approveBetaBySignal(h.env.client, handle);
  const target = await h.platform.clusters.ensure('fleet-target');
  // beta cut over: its reverse replication keeps a rollback open until it is finalized.
  assert.equal((await finalizeDatabase(h.env.client, 'appr', 'beta', 'test')).state, 'FINALIZED');
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
