// cancelDatabase on a real cluster: the replication wait honours the cancel and compensation
// leaves no slot, publication, subscription or capacity behind. The fleet rules (pause and
// resume, cancel and retry, continue-as-new) are tested with mocked activities in
// workflow-fleet.test.ts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cancelDatabaseUpdate } from '../common/messages';
import { getStatus } from '../client/client';
import { planFor, replicationLeftovers, type SourceDb } from './fixtures/fleet';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';

const DBS: SourceDb[] = [{ name: 'first', rows: 300, priority: 'high', sizeGb: 5 }];

let h: Harness;
before(async () => {
  h = await createHarness('controls', { databases: DBS });
});
after(async () => h?.close());

test('cancelDatabase during CDC compensates and leaves nothing behind', async () => {
  const plan = planFor(h.source, DBS, `env:${SOURCE_PASSWORD_ENV}`, {
    concurrency: 1,
    approval: { policy: 'auto', timeout: '1h' },
    // The wait for a stable lag outlasts the test: the cancel arrives while it runs.
    defaults: { stableWindow: '1h' },
  });
  const handle = await h.startFleet('controls', plan);
  await eventually('first in CDC', async () =>
    (await getStatus(h.env.client, handle.workflowId)).databases.find(
      (d) => d.database === 'first' && d.state === 'CDC',
    ),
  );
  await handle.executeUpdate(cancelDatabaseUpdate, { args: ['first'] });
  const report = await handle.result();
  assert.deepEqual(
    report.databases.map((d) => d.state),
    ['CANCELLED'],
  );
  const target = await h.platform.clusters.ensure('fleet-target');
  assert.deepEqual(await replicationLeftovers(h.source, ['first'], target), {
    slots: [],
    publications: [],
    subscriptions: [],
  });
  assert.deepEqual(await h.platform.capacity.held(), {});
});
