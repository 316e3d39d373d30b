// Whole fleets on platform gcp, run by the real MultiDatabaseMigration on the Temporal dev server
// against the strict fake of the Google Cloud APIs (test/fakes/gcp: every request checked against
// Google's definitions, Google's state machines). The shared plan has one database per pair the
// recipe uses (PAIRS): orders MySQL → Cloud SQL (high), ledger PostgreSQL → AlloyDB (low), billing
// PostgreSQL → Cloud SQL (medium); PAIRS adds inventory SQL Server → Cloud SQL for SQL Server
// (helpers/gcp-sqlserver-plan.ts: DMS restores its backups from the bucket, the operator ships the
// tail log, assessed from the bucket). e2-standard-4 is not a calendar-mode machine type, so every
// database gets flex-start capacity (its own FLEX_START template and MIG, then a resize request).
// The sources are dms-only: DMS's verify is the assessment, and the cutover promotes after a fresh
// zero-lag sample (SQL Server: after DMS reports the last uploaded log backup restored). Each test
// has a world of its own (helpers/gcp-world.ts): a fresh fake, and a worker on its own task queue.
//
// What is asserted is the fake's state and the requests it recorded (helpers/gcp-effects.ts), never
// the workflow's own account of what it scheduled.
//
// The dry run: the `calls` of `dbmig plan`'s operations (cli/plan-report.ts planOperations, from
// GcpPlatform.describe) are compared, per database and in order, with the changing requests the
// fake recorded (FakeGcp.changes(): every request but a GET that reached a route, was not a
// fault, and was not answered from the request-id memory). Under faults and lost answers a client
// repeats requests, so the comparison is with the requests that took effect, and every other one
// must repeat one of those (counted and printed). A compensated database sent the dry run's calls
// up to its approval, then undid exactly what they created. The monitoring step is per migration,
// not per database, and `dbmig plan` does not list it: its requests are compared with
// describeMonitoring (monitoring.ts) by method only, in order, because alert policy ids are
// assigned by the server and the dry run names them `alertPolicies/*`.
/* eslint-disable @typescript-eslint/no-explicit-any -- the fake's resources are the JSON Google answers */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { gcpNames, ownerLabels } from '../activities/platforms/gcp/names';
import { withMark } from '../activities/platforms/gcp/sql/took-over';
import { describeMonitoring } from '../activities/platforms/gcp/monitoring';
import { workerGroupNames } from '../activities/platforms/gcp/compute/worker-group';
import type { FleetTask } from '../activities/steps';
import { planOperations } from '../cli/plan-report';
import { approveCutoverUpdate, rejectCutoverUpdate, statusQuery } from '../common/messages';
import type { Plan, PlanInput } from '../common/plan';
import type { MigrationReport } from '../common/status';
import { startDevServer } from '../worker/dev-server';
import type { FakeGcp, LoggedRequest } from './fakes/gcp';
import { createGcpWorld, fleetPlan, taskOf, type GcpWorld } from './helpers/gcp-world';
import { sqlServerPlan } from './helpers/gcp-sqlserver-plan';
import { putBackupFile } from './fakes/gcp/routes-dms-sqlserver';
import { backupFileName } from '../activities/platforms/gcp/dms/job-sqlserver';
import { gcpPlan, PROJECT } from './helpers/gcp-plan';
import { applied, appliedCalls, leftOf, plannedCalls, requestsOf, undoProblems } from './helpers/gcp-effects';

// In the order the fleet starts them: by priority.
const DATABASES = ['orders', 'billing', 'ledger'];
const JOBS = 'datamigration.projects.locations.migrationJobs';

let env: TestWorkflowEnvironment;
let world: GcpWorld | undefined;

before(async () => {
  // Retried activities are part of what these tests do; the SDK would warn about each.
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
  });
  env = await startDevServer();
});
after(async () => {
  await world?.close();
  await env?.teardown();
});

/** A fresh world for this test; the previous one is closed. */
async function freshWorld(name: string): Promise<GcpWorld> {
  await world?.close();
  world = await createGcpWorld(env, name);
  return world;
}

/**
 * Runs `plan` to its end: approves every database (rejects those in `reject`) once it awaits
 * approval. `whileAwaiting` runs before a database's decision.
 */
async function runFleet(
  w: GcpWorld,
  plan: Plan,
  opts: { reject?: string[]; whileAwaiting?: (db: string) => void } = {},
): Promise<{ report: MigrationReport; ms: number }> {
  const t0 = Date.now();
  const handle = await w.startFleet(plan);
  // The parent's view lags its children's: decide each database once, or a second decision may
  // race the fleet's end and be aborted with the closing workflow.
  const decided = new Set<string>();
  for (;;) {
    const status = await handle.query(statusQuery);
    for (const d of status.databases.filter((x) => x.state === 'AWAITING_APPROVAL' && !decided.has(x.database))) {
      decided.add(d.database);
      opts.whileAwaiting?.(d.database);
      try {
        if (opts.reject?.includes(d.database))
          await handle.executeUpdate(rejectCutoverUpdate, {
            args: [{ database: d.database, approver: 'gcp-test', reason: 'not today' }],
          });
        else
          await handle.executeUpdate(approveCutoverUpdate, { args: [{ database: d.database, approver: 'gcp-test' }] });
      } catch (err) {
        if (!(err instanceof WorkflowUpdateFailedError)) throw err;
      }
    }
    // A FAILED database would hold the fleet open for an operator: report it instead of waiting.
    const failed = status.databases.filter((d) => d.state === 'FAILED');
    if (failed.length) throw new Error(`failed: ${failed.map((d) => `${d.database}: ${d.lastError}`).join('; ')}`);
    if (status.databases.length && status.databases.every((d) => ['COMPLETED', 'CANCELLED'].includes(d.state))) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const report = await handle.result();
  return { report, ms: Date.now() - t0 };
}

const keysOf = (fake: FakeGcp, prefix: string) => [...fake.resources.keys()].filter((k) => k.startsWith(prefix));

/** The names a database's target has in the fake, and the resource its create request names. */
function targetOf(plan: Plan, db: string): { key: string; created: string; labels: () => any; state: () => string } {
  const task = taskOf(plan, db);
  const n = gcpNames(task);
  if (task.database.target.kind === 'alloydb') {
    const key = `alloydb/${n.cluster}`;
    return {
      key,
      created: n.cluster,
      labels: () => world!.fake.resources.get(key)?.labels,
      state: () => world!.fake.resources.get(key)?.state,
    };
  }
  const key = `sql/${PROJECT}/${task.database.target.instance}`;
  return {
    key,
    created: `projects/${PROJECT}/instances/${task.database.target.instance}`,
    labels: () => world!.fake.resources.get(key)?.settings?.userLabels,
    state: () => world!.fake.resources.get(key)?.state,
  };
}

/**
 * The fleet's end state in the fake, for databases that COMPLETED: one job per database, created
 * once, promoted, COMPLETED (the final validation read it so) and deleted with its profiles; the
 * target there with this (migration, database)'s labels; the capacity gone (no template, MIG,
 * VMs or resize request of this migration); the monitoring removed.
 */
function assertCompleted(plan: Plan, report: MigrationReport, completed: string[]): void {
  const { fake } = world!;
  for (const db of completed) {
    const task = taskOf(plan, db);
    const n = gcpNames(task);
    const d = report.databases.find((x) => x.database === db)!;
    assert.equal(d.state, 'COMPLETED', `${db}: ${d.lastError ?? ''}`);
    assert.match(d.validation ?? '', /DMS job COMPLETED without errors/, `${db}: the final validation read COMPLETED`);
    assert.equal(appliedCalls(fake, `${JOBS}.create`, n.jobName).length, 1, `${db}: one job created`);
    assert.equal(appliedCalls(fake, `${JOBS}.promote`, n.jobName).length, 1, `${db}: promoted once`);
    assert.equal(appliedCalls(fake, `${JOBS}.delete`, n.jobName).length, 1, `${db}: the job deleted`);
    assert.ok(
      appliedCalls(fake, `${JOBS}.delete`, n.jobName).every((r) => !/force=true/.test(r.query)),
      `${db}: never deleted with force (it would delete the destination)`,
    );
    assert.equal(fake.resources.get(`dms/${n.jobName}`), undefined, `${db}: no job left`);
    const target = targetOf(plan, db);
    assert.equal(
      appliedCalls(fake, '.create', target.created).length + appliedCalls(fake, '.insert', target.created).length,
      1,
      `${db}: one target created`,
    );
    assert.deepEqual(
      Object.entries(target.labels() ?? {}).filter(([k]) => k.startsWith('dbmig-')),
      Object.entries(withMark(ownerLabels(task), task)),
      `${db}: the target stays, labelled as this (migration, database)'s and as taken over`,
    );
    assert.match(target.state(), /^(RUNNABLE|READY)$/, `${db}: the target is serving`);
    const g = workerGroupNames(task);
    const rr = `${g.groupPath}/resizeRequests/${n.resizeRequest}`;
    for (const [what, resource] of [
      ['instanceTemplates', g.templateUrl],
      ['instanceGroupManagers', g.groupPath],
      ['instanceGroupManagerResizeRequests', rr],
    ]) {
      assert.equal(appliedCalls(fake, `${what}.insert`, resource).length, 1, `${db}: ${what} made once`);
      assert.equal(appliedCalls(fake, `${what}.delete`, resource).length, 1, `${db}: ${what} deleted`);
    }
    assert.deepEqual(
      [...fake.resources.keys()].filter((k) => k.includes(g.group) || k.includes(g.template)),
      [],
      `${db}: capacity released: no template, MIG, VMs or resize request left`,
    );
  }
  assert.deepEqual(keysOf(fake, 'dms/'), [], 'every job and connection profile is deleted');
  assert.deepEqual(keysOf(fake, 'rr/'), [], 'no resize request left');
  assert.deepEqual(keysOf(fake, 'fr/'), [], 'no future reservation (calendar mode is not offered for e2)');
  assert.deepEqual(keysOf(fake, 'monitoring/'), [], 'the dashboard and alert policies are removed (keep: false)');
  assert.equal(appliedCalls(fake, 'dashboards.create').length, 1, 'one dashboard per migration');
  assert.equal(appliedCalls(fake, 'alertPolicies.create').length, 3, 'three alert policies per migration');
}

/**
 * The pairs the recipe migrates, each by a database of the shared plan (helpers/gcp-plan.ts) or
 * one of its own (`input`). A pair is one entry: the fleet test runs each twice, once to
 * completion and once compensated.
 */
const PAIRS: { pair: string; database: string; input?: PlanInput['databases'][number] }[] = [
  { pair: 'MySQL → Cloud SQL', database: 'orders' },
  { pair: 'PostgreSQL → Cloud SQL', database: 'billing' },
  { pair: 'PostgreSQL → AlloyDB', database: 'ledger' },
  { pair: 'SQL Server → Cloud SQL', database: 'inventory', input: sqlServerPlan().databases[0] },
];

/**
 * What a SQL Server source has shipped before the fleet starts (DMS restores backup files, it never
 * reaches the source): a full backup and a log backup, the last one the operator's tail log, so
 * both of its databases (the completed one and its undone copy) restore them and the completed one
 * is promoted once DMS reports the restore after that upload.
 */
function shipSqlServerBackups(w: GcpWorld): void {
  const input = sqlServerPlan().databases[0];
  const { bucket, prefix } = input.backups!;
  const db = input.source.database;
  putBackupFile(w.fake, bucket, `${prefix}full/${backupFileName(db, new Date(Date.now() - 60_000), 'full')}`);
  putBackupFile(w.fake, bucket, `${prefix}log/${backupFileName(db, new Date(Date.now() - 1_000), 'log')}`);
}

/** The copy of a pair's database whose cutover is rejected: its own name and target. */
const undoOf = (db: string) => `${db}-undo`;

/** Every pair twice, all at once: the database itself and its copy to be compensated. */
function pairsPlan(migrationId: string): Plan {
  const shared = gcpPlan().databases;
  const databases = PAIRS.flatMap(({ database, input }) => {
    const d = input ?? shared.find((x) => x.name === database)!;
    return [d, { ...d, name: undoOf(database), target: { ...d.target, instance: `${d.target.instance}-undo` } }];
  });
  return fleetPlan(migrationId, { databases, concurrency: databases.length });
}

test('under 20% faults and lost answers, each pair completes once and is compensated once, as planned', async () => {
  const w = await freshWorld('pairs');
  const plan = pairsPlan('gcp-pairs');
  const planned = planOperations(plan, plan.migrationId!, { gcp: w.platform });
  shipSqlServerBackups(w);
  w.fake.faults = { rate: 0.2, slowRate: 0.1, slowMs: 200 };
  // Applied, then the connection dropped: each retry must find its own effect, by request id (DMS,
  // AlloyDB, Compute), by a 409 and the owner labels (Cloud SQL insert has no request id), or by
  // looking before creating again (alert policies: server-assigned ids). Each is the first request
  // on its resource, which takes effect (a lost answer to a refused repeat would test nothing).
  const lost = PAIRS.flatMap(({ database }) => {
    const job = gcpNames(taskOf(plan, database)).jobName;
    const undo = taskOf(plan, undoOf(database));
    const g = workerGroupNames(undo);
    return [
      { rpc: `${JOBS}.create`, resource: job },
      { rpc: /(sql\.instances\.insert|clusters\.create)$/, resource: targetOf(plan, database).created },
      { rpc: /ResizeRequests\.insert$/, resource: `${g.groupPath}/resizeRequests/${gcpNames(undo).resizeRequest}` },
      { rpc: `${JOBS}.delete`, resource: gcpNames(undo).jobName },
    ];
  });
  const hits = (l: (typeof lost)[number], r: LoggedRequest) =>
    r.resource === l.resource && (typeof l.rpc === 'string' ? r.rpc === l.rpc : l.rpc.test(r.rpc ?? ''));
  for (const l of lost) w.fake.loseResponse((r) => hits(l, r));
  w.fake.loseResponse('monitoring.projects.alertPolicies.create');
  const completed = PAIRS.map((p) => p.database);
  const compensated = completed.map(undoOf);
  const { report, ms } = await runFleet(w, plan, { reject: compensated });
  w.fake.faults = { rate: 0, slowRate: 0, slowMs: 0 };
  const { fake } = w;

  assert.deepEqual(
    report.databases.map((d) => [d.database, d.state]).sort(),
    [...completed.map((db) => [db, 'COMPLETED']), ...compensated.map((db) => [db, 'CANCELLED'])].sort(),
  );
  assertCompleted(plan, report, completed);
  assert.deepEqual(
    lost.filter((l) => fake.log.filter((r) => r.lost && hits(l, r)).length !== 1),
    [],
    'every planned lost answer happened',
  );
  const faulted = fake.log.filter((r) => r.faulted).length;
  assert.ok(faulted >= 40, `faults were injected: ${faulted} of ${fake.log.length}`);

  const { byDatabase, monitoring, unplanned } = requestsOf(fake, planned);
  assert.deepEqual(unplanned, [], 'every changing request was planned for some database');
  const lines: string[] = [];
  for (const { pair, database } of PAIRS) {
    const done = planned.find((p) => p.database.name === database)!;
    const undone = planned.find((p) => p.database.name === undoOf(database))!;
    const d = byDatabase.get(database)!;
    const u = byDatabase.get(undoOf(database))!;
    // Completed: what took effect is the dry run, call for call, in order.
    assert.deepEqual(d.effects, plannedCalls(done), `${pair}, completed: requests that took effect = dry run`);
    // Compensated: the dry run up to the approval, then the undoing of exactly what it created.
    const before = plannedCalls(undone, 'AWAITING_APPROVAL');
    assert.ok(
      before.some((c) => /\.(create|insert)$/.test(c.method)),
      `${pair}: something was created before`,
    );
    assert.deepEqual(
      undoProblems(u.effects, before, plannedCalls(undone)),
      [],
      `${pair}, compensated: the dry run, then its undo`,
    );
    assert.deepEqual(leftOf(fake, before), [], `${pair}, compensated: nothing it created is left in the fake`);
    assert.equal(appliedCalls(fake, `${JOBS}.promote`, gcpNames(taskOf(plan, undoOf(database))).jobName).length, 0);
    lines.push(
      `${pair}: completed ${d.effects.length} requests (${d.repeats.length} repeats), ` +
        `compensated ${before.length} + ${u.effects.length - before.length} undone (${u.repeats.length} repeats)`,
    );
  }
  const fleet: FleetTask = {
    migrationId: plan.migrationId!,
    platform: 'gcp',
    databases: plan.databases.map((d) => d.name),
    gcp: plan.gcp,
  };
  const { prepare, finish } = describeMonitoring(fleet);
  assert.deepEqual(
    monitoring,
    [...prepare, ...finish].flatMap((o) => (o.calls ?? []).map((c) => c.method)),
    'monitoring requests sent = requests planned (by method)',
  );
  console.log(
    `# ${PAIRS.length} pairs, each completed and compensated: ${ms} ms; ${faulted} of ${fake.log.length} ` +
      `requests failed with 429/503, ${fake.deduplicated.length} answered from the request-id memory, ` +
      `${fake.log.filter((r) => r.lost).length} answers lost\n# ${lines.join('\n# ')}`,
  );
});

test('a rejected cutover: job stopped, deleted without force, capacity released, owned target deleted', async () => {
  const w = await freshWorld('reject');
  const plan = fleetPlan('gcp-reject');
  // billing's instance is handed over (its database label changed) while it awaits approval: it
  // is no longer this (migration, database)'s, so its compensation must leave it.
  const billing = targetOf(plan, 'billing');
  const { report, ms } = await runFleet(w, plan, {
    reject: ['ledger', 'billing'],
    whileAwaiting: (db) => {
      if (db === 'billing') billing.labels()['dbmig-database'] = 'handed-over';
    },
  });
  assert.deepEqual(
    report.databases.map((d) => [d.database, d.state]),
    [
      ['orders', 'COMPLETED'],
      ['billing', 'CANCELLED'],
      ['ledger', 'CANCELLED'],
    ],
  );
  for (const db of ['billing', 'ledger'])
    assert.match(
      report.databases.find((d) => d.database === db)!.lastError ?? '',
      /cutover rejected by gcp-test: not today/,
    );
  assertCompleted(plan, report, ['orders']);
  const { fake } = w;
  for (const db of ['billing', 'ledger']) {
    const task = taskOf(plan, db);
    const n = gcpNames(task);
    const target = targetOf(plan, db);
    const order = (rpc: string, resource: string) =>
      fake.log.findIndex((r) => applied(r) && r.rpc === rpc && r.resource === resource);
    assert.equal(appliedCalls(fake, `${JOBS}.promote`, n.jobName).length, 0, `${db}: never promoted`);
    assert.equal(appliedCalls(fake, `${JOBS}.stop`, n.jobName).length, 1, `${db}: the running job was stopped`);
    const deletes = appliedCalls(fake, `${JOBS}.delete`, n.jobName);
    assert.equal(deletes.length, 1, `${db}: the job was deleted`);
    assert.doesNotMatch(deletes[0].query, /force=true/, `${db}: without force, so DMS leaves the destination`);
    assert.ok(order(`${JOBS}.stop`, n.jobName) < order(`${JOBS}.delete`, n.jobName), `${db}: stopped, then deleted`);
    assert.deepEqual(keysOf(fake, `dms/${n.parent}/`), [], `${db}: no job or connection profile left`);
    const g = workerGroupNames(task);
    assert.deepEqual(
      [...fake.resources.keys()].filter((k) => k.includes(g.group) || k.includes(g.template)),
      [],
      `${db}: capacity released`,
    );
    assert.equal(appliedCalls(fake, 'instanceGroupManagers.delete', g.groupPath).length, 1, `${db}: MIG deleted`);
    // The target: deleted by the platform's own request after the job's delete (DMS did not: the
    // request found it), and only where this (migration, database) owns it.
    const targetDelete = fake.log.filter(
      (r) => applied(r) && /(sql\.instances|clusters)\.delete$/.test(r.rpc!) && r.resource === target.created,
    );
    if (db === 'ledger') {
      assert.equal(targetDelete.length, 1, 'ledger: the AlloyDB cluster this run created is deleted');
      assert.ok(fake.log.indexOf(targetDelete[0]) > order(`${JOBS}.delete`, n.jobName));
      assert.deepEqual(keysOf(fake, target.key), [], 'ledger: no cluster or instance left');
    } else {
      assert.deepEqual(targetDelete, [], 'billing: an instance no longer this database’s is not deleted');
      assert.equal(target.state(), 'RUNNABLE', 'billing: the handed-over instance stays');
    }
  }
  assert.ok(fake.resources.has(targetOf(plan, 'orders').key), 'the promoted orders target stays');
  console.log(`# fleet with two rejected cutovers: ${ms} ms`);
});

test('without faults the dry run lists exactly the changing requests each database sends, in order', async () => {
  const w = await freshWorld('dry-run');
  const plan = fleetPlan('dry-run-vs-fake', { approval: { policy: 'auto' } });
  const planned = planOperations(plan, plan.migrationId!, { gcp: w.platform });
  assert.deepEqual(
    planned.map((p) => p.database.name),
    DATABASES,
  );
  const { report, ms } = await runFleet(w, plan);
  assertCompleted(plan, report, DATABASES);
  const { byDatabase, monitoring, unplanned } = requestsOf(w.fake, planned);
  assert.deepEqual(unplanned, [], 'every changing request was planned for some database');
  for (const p of planned) {
    const calls = plannedCalls(p);
    assert.ok(calls.length >= 10, `${p.database.name}: the dry run lists the requests (${calls.length})`);
    // Every request sent, not only those that took effect: with no faults nothing is sent twice.
    assert.deepEqual(byDatabase.get(p.database.name)!.sent, calls, `${p.database.name}: requests sent = planned`);
  }
  // The monitoring step, per migration: by method, in order (alert policy ids are the server's).
  const fleet: FleetTask = { migrationId: plan.migrationId!, platform: 'gcp', databases: DATABASES, gcp: plan.gcp };
  const { prepare, finish } = describeMonitoring(fleet);
  assert.deepEqual(
    monitoring,
    [...prepare, ...finish].flatMap((o) => (o.calls ?? []).map((c) => c.method)),
    'monitoring requests sent = requests planned (by method)',
  );
  console.log(
    `# dry run vs fake: ${ms} ms; ${planned.map((p) => `${p.database.name} ${plannedCalls(p).length}`).join(', ')} ` +
      `requests per database, ${monitoring.length} monitoring`,
  );
});
