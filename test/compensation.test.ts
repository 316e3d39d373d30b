// A step that fails after side effects compensates in reverse order and leaves nothing behind:
// a column renamed on the source during CDC breaks apply on the target (a rename is not carried), the wait
// fails with ReplicationBroken, and the job, the capacity and the target are removed. The fleet
// then waits for a decision; a retry starts the database again and completes it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { retryDatabaseUpdate } from '../common/messages';
import { getStatus } from '../client/client';
import { finalizeDatabase } from '../client/client';
import { createSourceDatabase, planFor, replicationLeftovers } from './fixtures/fleet';
import { withClient } from '../activities/engines/postgres/sessions';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';
import { recordHistory } from './helpers/histories';

let h: Harness;
before(async () => {
  h = await createHarness('compensation');
  await createSourceDatabase(h.source, { name: 'ledger', rows: 2_000, priority: 'high', sizeGb: 5 });
});
after(async () => h?.close());

test('a failing step compensates and leaves nothing behind', async () => {
  const plan = planFor(
    h.source,
    [{ name: 'ledger', rows: 0, priority: 'high', sizeGb: 5 }],
    `env:${SOURCE_PASSWORD_ENV}`,
    {
      approval: { policy: 'auto', timeout: '1h' },
      // Long enough that broken apply (which keeps resetting the window) fails first; short enough for the retry.
      defaults: { stableWindow: '8s', lagThresholdSeconds: 5, noPrimaryKey: 'fail' },
    },
  );
  const handle = await h.startFleet('comp', plan);
  await eventually('ledger in CDC', async () =>
    (await getStatus(h.env.client, handle.workflowId)).databases.find((d) => d.state === 'CDC'),
  );
  assert.equal(
    (await h.platform.capacity.held()) && Object.keys(await h.platform.capacity.held()).length,
    1,
    'capacity is held during CDC',
  );

  await withClient({ ...h.source, database: 'ledger' }, async (c) => {
    // A rename: additive DDL would be carried (ddl-carry.ts), a rename is not.
    await c.query('alter table items rename column updated_at to changed_at');
    await c.query("insert into items (sku, qty, price) values ('ddl', 1, 1)");
  });

  const ledger = await eventually('ledger failed', async () =>
    (await getStatus(h.env.client, handle.workflowId)).databases.find((d) => d.state === 'FAILED'),
  );
  assert.match(ledger.lastError ?? '', /replication keeps failing on the target.*DDL/s);
  assert.match(ledger.lastError ?? '', /changed_at/, 'the target log names the missing column');

  const target = await h.platform.clusters.ensure('fleet-target');
  assert.deepEqual(await replicationLeftovers(h.source, ['ledger'], target), {
    slots: [],
    publications: [],
    subscriptions: [],
  });
  assert.deepEqual(await h.platform.capacity.held(), {});
  const exists = await withClient(
    { ...target, database: 'postgres' },
    async (c) => (await c.query("select 1 from pg_database where datname = 'ledger'")).rowCount,
  );
  assert.equal(exists, 0, 'the target database this run created is gone');
  const writable = await withClient(
    { ...h.source, database: 'ledger' },
    async (c) => (await c.query('show default_transaction_read_only')).rows[0].default_transaction_read_only,
  );
  assert.equal(writable, 'off');
  // Replay fixture: a child that failed before the point of no return and undid everything (its
  // run is the latest of its id until the retry below starts the next).
  await recordHistory(h.env.client, 'comp/ledger');

  // The fleet does not end on a failure: it waits for an operator. An update it answers after the
  // failure is a workflow task past the point where it would have ended (a closed run answers none).
  await assert.rejects(handle.executeUpdate(retryDatabaseUpdate, { args: ['nope'] }), (err: Error) =>
    /unknown database "nope"/.test(String((err.cause as Error)?.message)),
  );
  assert.equal((await handle.describe()).status.name, 'RUNNING');
  const retried = await handle.executeUpdate(retryDatabaseUpdate, { args: ['ledger'] });
  assert.equal(retried.state, 'PENDING');
  const report = await handle.result();
  assert.equal(report.databases[0].state, 'COMPLETED', report.databases[0].lastError);
  assert.equal(report.databases[0].retries, 1);
  // The retry recreated, without duplicates, what the failed run had removed: one target with the renamed column.
  const columns = await withClient(
    { ...target, database: 'ledger' },
    async (c) =>
      (
        await c.query(
          'select count(*)::int as n from information_schema.columns ' +
            "where table_name = 'items' and column_name = 'changed_at'",
        )
      ).rows[0].n,
  );
  assert.equal(columns, 1);
  // The retry cut over, so reverse replication keeps a rollback open until it is finalized.
  assert.equal((await finalizeDatabase(h.env.client, 'comp', 'ledger', 'test')).state, 'FINALIZED');
  assert.deepEqual(await replicationLeftovers(h.source, ['ledger'], target), {
    slots: [],
    publications: [],
    subscriptions: [],
  });
  // Replay fixture: a fleet that held a FAILED database for a decision, then retried it.
  await recordHistory(h.env.client, 'comp');
});
