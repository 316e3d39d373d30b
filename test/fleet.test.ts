// A fleet of three databases migrates end to end under continuous writes: priority order and
// the concurrency window hold, every target equals its source row for row after cutover, the
// sequences were carried over, and no replication object is left behind.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { approveCutoverUpdate, statusQuery } from '../common/messages';
import { finalizeDatabase } from '../client/client';
import { compareRowForRow, planFor, replicationLeftovers, Writer, type SourceDb } from './fixtures/fleet';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';
import { recordHistory } from './helpers/histories';

const FLEET: SourceDb[] = [
  { name: 'accounts', rows: 1_500, priority: 'low', sizeGb: 30 },
  { name: 'orders', rows: 12_000, priority: 'high', sizeGb: 420 },
  { name: 'inventory', rows: 5_000, priority: 'medium', sizeGb: 120, noPrimaryKey: true },
];

let h: Harness;
before(async () => {
  h = await createHarness('fleet', { databases: FLEET });
});
after(async () => h?.close());

test('a fleet of three databases completes under continuous writes', async () => {
  const writers = new Map(
    FLEET.map((db) => [db.name, new Writer({ ...h.source, database: db.name }, !!db.noPrimaryKey)]),
  );
  const plan = planFor(h.source, FLEET, `env:${SOURCE_PASSWORD_ENV}`, { concurrency: 2 });
  const handle = await h.startFleet('fleet-1', plan);

  const target = await h.platform.clusters.ensure('fleet-target');
  let maxRunning = 0;
  const startOrder: string[] = [];
  const checked = new Map<string, Awaited<ReturnType<typeof compareRowForRow>>>();
  const writesAfterMove = new Map<string, number>();
  for (;;) {
    const status = await handle.query(statusQuery);
    const running = status.databases.filter(
      (d) => d.started && !['COMPLETED', 'FAILED', 'CANCELLED'].includes(d.state),
    );
    maxRunning = Math.max(maxRunning, running.length);
    for (const d of status.databases) if (d.started && !startOrder.includes(d.database)) startOrder.push(d.database);
    for (const d of status.databases.filter((x) => x.state === 'AWAITING_APPROVAL')) {
      // An application approves through the Update, exactly once per database.
      try {
        await handle.executeUpdate(approveCutoverUpdate, {
          args: [{ database: d.database, approver: 'fleet-test', comment: 'lag is low' }],
        });
      } catch (err) {
        if (!(err instanceof WorkflowUpdateFailedError)) throw err;
      }
    }
    for (const d of status.databases.filter((x) => x.state === 'COMPLETED' && !checked.has(x.database))) {
      const writer = writers.get(d.database)!;
      writer.pause();
      checked.set(
        d.database,
        await compareRowForRow({ ...h.source, database: d.database }, { ...target, database: d.database }),
      );
      const before = writer.writes;
      await writer.moveTo({ ...target, database: d.database });
      writesAfterMove.set(d.database, before);
    }
    // A FAILED database would hold the fleet open for an operator: report it instead of waiting.
    const failed = status.databases.filter((d) => d.state === 'FAILED');
    assert.deepEqual(
      failed.map((d) => [d.database, d.lastError]),
      [],
    );
    if (status.databases.every((d) => ['COMPLETED', 'CANCELLED'].includes(d.state))) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const report = await handle.result();
  // Each moved writer writes to its target: waited for as an event, so a slow machine only waits longer.
  for (const db of FLEET)
    await eventually(
      `${db.name}: a write on the target`,
      async () => {
        const writer = writers.get(db.name)!;
        return writer.writes > writesAfterMove.get(db.name)! ? true : undefined;
      },
      60_000,
    ).catch(() => undefined); // the assertion below names what is missing
  for (const w of writers.values()) await w.stop();

  assert.equal(report.completed, 3, JSON.stringify(report.databases.map((d) => [d.database, d.state, d.lastError])));
  assert.ok(maxRunning <= 2, `at most 2 databases at once, saw ${maxRunning}`);
  assert.deepEqual(startOrder.slice(0, 2).sort(), ['inventory', 'orders'], 'high and medium priority start first');
  assert.equal(startOrder[2], 'accounts');
  for (const [db, tables] of checked) {
    for (const t of tables)
      assert.ok(t.equal && t.sourceRows > 0, `${db} ${t.table}: source ${t.sourceRows} rows, target ${t.targetRows}`);
  }
  for (const db of FLEET) {
    const writer = writers.get(db.name)!;
    assert.ok(
      writer.writes > writesAfterMove.get(db.name)!,
      `${db.name}: writes continued on the target with sequence-backed ids (errors ${writer.errors})`,
    );
    const summary = report.databases.find((d) => d.database === db.name)!;
    assert.ok((summary.writeBlockMs ?? -1) >= 0, `${db.name} reports its write-block window`);
    assert.match(summary.validation ?? '', /tables identical/);
  }
  // Reverse replication keeps each rollback open; finalizing ends it and leaves nothing behind.
  for (const db of FLEET) {
    const done = await finalizeDatabase(h.env.client, 'fleet-1', db.name, 'fleet-test');
    assert.equal(done.state, 'FINALIZED');
  }
  const left = await replicationLeftovers(
    h.source,
    FLEET.map((d) => d.name),
    target,
  );
  assert.deepEqual(left, { slots: [], publications: [], subscriptions: [] });
  assert.deepEqual(await h.platform.capacity.held(), {});
  await recordHistory(h.env.client, 'fleet-1');
  await recordHistory(h.env.client, 'fleet-1/orders');
});
