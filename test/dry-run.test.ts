// `dbmig plan` validates a plan and prints the ordered operations per database, with the
// resource names the platforms use, the capacity mode and worker count, without calling anything.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { gcpResourceNames, resourceNames } from '../common/naming';
import { validatePlan } from '../common/plan';
import { planOperations } from '../cli/plan-report';
import type { DatabaseTask, PlannedOperation } from '../activities/steps';
import type { MigrationPlatform } from '../activities/platforms/platform';

const CLI = join(__dirname, '..', 'cli', 'main.ts');
// An address nothing listens on: the dry run must not need Temporal or Google Cloud.
const dbmig = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1', DBMIG_GCP_ENDPOINT: 'http://127.0.0.1:1' },
  });

test('dbmig plan prints the gcp operation list in start order', () => {
  // --wide: whole cells, to find each string on one line (the 120-column layout is tested below).
  const r = dbmig('plan', '--wide', '--plan', join(__dirname, '..', 'examples', 'plans', 'gcp-fleet.yaml'));
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /dry run: nothing is called or created/);
  const order = ['orders', 'catalog', 'ledger'].map((db) => out.indexOf(`. ${db}: `));
  assert.ok(
    order.every((i, k) => i > 0 && (k === 0 || i > order[k - 1])),
    'high, medium, low',
  );
  // e2-standard-4 is not a machine type calendar mode takes: high priority gets flex-start too.
  const ordersTitle = 'orders: mysql → cloudsql orders-mysql, priority high, 420 GB, capacity flex-start x8 workers';
  assert.ok(out.includes(ordersTitle));
  assert.ok(
    out.includes('ledger: postgresql → alloydb ledger-alloy, priority low, 160 GB, capacity flex-start x3 workers'),
  );
  const orders = gcpResourceNames('fleet-2026-q4', 'orders');
  const ledger = gcpResourceNames('fleet-2026-q4', 'ledger');
  assert.ok(out.includes('calendar mode does not take e2-standard-4'));
  assert.ok(out.includes(`resizeRequests/${orders.resizeRequest}`));
  assert.ok(out.includes(`resizeRequests/${ledger.resizeRequest}`));
  assert.ok(out.includes(`migrationJobs/${orders.migrationJob}`));
  assert.ok(out.includes('VPC peering with projects/migration-workshop-2026/global/networks/migration-network'));
  for (const op of [
    'instances.insert',
    'clusters.create',
    'migrationJobs.verify',
    'migrationJobs.demoteDestination',
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

test('dbmig plan on existing servers: the database is the only thing created, no local pool or cluster', () => {
  const r = dbmig('plan', '--wide', '--plan', join(__dirname, '..', 'examples', 'plans', 'existing-server.yaml'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /server pg17\.db\.internal:5432\/ledger_v2/);
  assert.match(r.stdout, /existing server: only the database is created/);
  assert.doesNotMatch(r.stdout, /local cluster|local copy-worker pool/);
});

test('dbmig plan refuses an invalid plan with the field named, exit 2', () => {
  const file = join(tmpdir(), `bad-plan-${process.pid}.yaml`);
  writeFileSync(
    file,
    [
      'platform: gcp',
      'databases:',
      '  - name: x',
      '    engine: mysql',
      '    sizeGb: 1',
      '    source: { host: h, database: d, user: u, passwordRef: env:P }',
      '    target: { kind: alloydb, instance: t }',
      '',
    ].join('\n'),
  );
  const r = dbmig('plan', '--plan', file);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /gcp: is required when platform is gcp/);
  assert.match(r.stderr, /databases\[0\]\.target\.kind: AlloyDB is PostgreSQL only/);
});

test('the rows are the platform’s own description, with the approval placed before the cutover', () => {
  const plan = validatePlan({
    platform: 'local',
    approval: { policy: 'manual', timeout: '2h' },
    databases: ['low', 'high'].map((priority) => ({
      name: `db-${priority}`,
      engine: 'postgresql',
      priority,
      sizeGb: 1,
      source: { host: 'h', database: 'd', user: 'u', passwordRef: 'env:P' },
      target: { kind: 'cloudsql', instance: `t-${priority}` },
    })),
  });
  const seen: DatabaseTask[] = [];
  const row = (state: PlannedOperation['state'], task: DatabaseTask): PlannedOperation => ({
    state,
    api: `described by the platform for ${task.database.name}`,
    resource: '',
    detail: '',
  });
  const describing = {
    describe: (task: DatabaseTask) => {
      seen.push(task);
      return [row('VALIDATING', task), row('CUTTING_OVER', task)];
    },
    summarize: (task: DatabaseTask) => ({ target: `target of ${task.database.name}`, capacity: 'none' }),
  } as unknown as MigrationPlatform;
  const [first, second] = planOperations(plan, 'mig-1', { local: describing });
  assert.deepEqual(
    seen.map((t) => [t.migrationId, t.platform, t.database.name, t.settings.targetDatabase]),
    [
      ['mig-1', 'local', 'db-high', 'd'],
      ['mig-1', 'local', 'db-low', 'd'],
    ],
    'one task per database, in start order, as the workflow builds it',
  );
  assert.equal(first.database.name, 'db-high');
  assert.deepEqual(first.summary, { target: 'target of db-high', capacity: 'none' }, "the platform's own words");
  assert.deepEqual(
    second.operations.map((o) => [o.state, o.api]),
    [
      ['VALIDATING', 'described by the platform for db-low'],
      ['AWAITING_APPROVAL', 'workflow Update approveCutover'],
      ['CUTTING_OVER', 'described by the platform for db-low'],
    ],
  );
});
