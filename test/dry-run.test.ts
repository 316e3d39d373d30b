// `dbmig plan` validates a plan and prints the ordered operations per database, with the
// resource names the platforms use, the capacity mode and worker count, without calling anything.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { gcpResourceNames, resourceNames } from '../common/naming';

const CLI = join(__dirname, '..', 'cli', 'main.ts');
// An address nothing listens on: the dry run must not need Temporal or Google Cloud.
const dbmig = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1', DBMIG_GCP_ENDPOINT: 'http://127.0.0.1:1' },
  });

test('dbmig plan prints the gcp operation list in start order', () => {
  const r = dbmig('plan', '--plan', join(__dirname, '..', 'examples', 'plans', 'gcp-fleet.yaml'));
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /dry run: nothing is called or created/);
  const order = ['orders', 'catalog', 'ledger'].map((db) => out.indexOf(`. ${db}: `));
  assert.ok(
    order.every((i, k) => i > 0 && (k === 0 || i > order[k - 1])),
    'high, medium, low',
  );
  assert.match(out, /orders: mysql → cloudsql orders-mysql, priority high, 420 GB, capacity calendar x8 workers/);
  assert.match(out, /ledger: postgresql → alloydb ledger-alloy, priority low, 160 GB, capacity flex-start x3 workers/);
  const orders = gcpResourceNames('fleet-2026-q4', 'orders');
  const ledger = gcpResourceNames('fleet-2026-q4', 'ledger');
  assert.ok(out.includes(`futureReservations/${orders.futureReservation}`));
  assert.ok(out.includes(`resizeRequests/${ledger.resizeRequest}`));
  assert.ok(out.includes(`migrationJobs/${orders.migrationJob}`));
  assert.ok(out.includes(`dump gs://migration-workshop-2026-dumps/${orders.migrationJob}`));
  for (const op of [
    'instances.insert',
    'clusters.create',
    'migrationJobs.verify',
    'migrationJobs.start',
    'migrationJobs.promote',
    'timeSeries.list',
  ])
    assert.ok(out.includes(op), op);
});

test('dbmig plan lists the local operations too, and --id changes the names', () => {
  const r = dbmig(
    'plan',
    '--plan',
    join(__dirname, '..', 'examples', 'plans', 'local-fleet.yaml'),
    '--id',
    'rehearsal-1',
  );
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.includes(resourceNames('rehearsal-1', 'orders').slot));
  assert.match(r.stdout, /CREATE PUBLICATION/);
});

test('dbmig plan refuses an invalid plan with the field named, exit 2', () => {
  const file = join(tmpdir(), `bad-plan-${process.pid}.yaml`);
  writeFileSync(
    file,
    'platform: gcp\ndatabases:\n  - name: x\n    engine: mysql\n    sizeGb: 1\n    source: { host: h, database: d, user: u, passwordRef: env:P }\n    target: { kind: alloydb, instance: t }\n',
  );
  const r = dbmig('plan', '--plan', file);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /gcp: is required when platform is gcp/);
  assert.match(r.stderr, /databases\[0\]\.target\.kind: AlloyDB is PostgreSQL only/);
});
