// One SQL Server database through the real MultiDatabaseMigration / DatabaseMigration on the strict
// fake (test/fakes/gcp): Cloud SQL for SQL Server as the target, the `sqlserver` connection
// profiles, the job restoring backups from the fake's bucket (routes-dms-sqlserver.ts), progress per
// database, and a cutover that promotes only once the tail-log backup is restored. Twice: with a
// dms-only source (an RFC 5737 address) the operator takes the tail log (the test uploads it before
// it approves); with a direct one the worker takes it over TDS from the scripted SQL Server, under a
// deadline armed on the source. Then the cutover's rules alone (cutover/sqlserver.ts), with stub deps.
/* eslint-disable @typescript-eslint/no-explicit-any -- the fake's resources are the JSON Google answers */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { gcpNames } from '../activities/platforms/gcp/names';
import { backupFileName } from '../activities/platforms/gcp/dms/job-sqlserver';
import { sqlServerCutover, type ObjectReading } from '../activities/platforms/gcp/cutover/sqlserver';
import { approveCutoverUpdate, statusQuery } from '../common/messages';
import { MigrationError } from '../common/failures';
import { validatePlan, type Plan } from '../common/plan';
import { startDevServer } from '../worker/dev-server';
import { bucketObjects, putBackupFile } from './fakes/gcp/routes-dms-sqlserver';
import { CHANNEL, createGcpWorld, taskOf, type GcpWorld } from './helpers/gcp-world';
import { PROJECT } from './helpers/gcp-plan';
import { sqlServerPlan, SQLSERVER_BUCKET } from './helpers/gcp-sqlserver-plan';
import { CHAIN, HEALTHY_DB, scriptedSqlServer, SERVER_2019 } from './helpers/scripted-sqlserver';

let env: TestWorkflowEnvironment;
let world: GcpWorld | undefined;

before(async () => {
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

const FOLDER = 'sqlserver/inventory/';
/** Each log backup takes the fake's DMS this long to restore: the promote must come after the tail's. */
const LOG_RESTORE_MS = 800;

function plan(migrationId: string): Plan {
  const base = sqlServerPlan();
  return validatePlan({
    ...base,
    migrationId,
    gcp: { ...base.gcp!, monitoring: { notificationChannels: [CHANNEL] } },
    defaults: { lagThresholdSeconds: 5, stableWindow: '1s', noPrimaryKey: 'fail' },
  });
}

const JOBS = 'datamigration.projects.locations.migrationJobs';

test('SQL Server moves onto Cloud SQL for SQL Server from its backups, promoted after the tail log', async () => {
  world = await createGcpWorld(env, 'sqlserver', { platform: { sqlServerSettleMs: 300 } });
  const w = world;
  (w.behaviour as any).logRestoreMs = LOG_RESTORE_MS;
  const p = plan('mssql-one');
  const task = taskOf(p, 'inventory');
  const jobKey = `dms/${gcpNames(task).jobName}`;
  const upload = (kind: 'full' | 'log', at = new Date()) => {
    const name = `${FOLDER}${kind}/${backupFileName('inventory', at, kind)}`;
    putBackupFile(w.fake, SQLSERVER_BUCKET, name, at.getTime());
    return name;
  };
  upload('full', new Date(Date.now() - 60_000));
  // The source's log backups, every second, until the operator takes the tail log.
  let logs = 0;
  let seq = Date.now();
  const shipping = setInterval(() => {
    seq += 1000; // names stay in time order even when two land in one second
    upload('log', new Date(seq));
    logs++;
  }, 1000);
  // What the job and its database showed, and when the promote was accepted.
  let promotedAt: number | undefined;
  const watching = setInterval(() => {
    promotedAt ??= w.fake.resources.get(jobKey)?._promotedAt;
  }, 10);
  let tailAt: number | undefined;
  let progress: { phase: string; detail?: string; lagSeconds: number | null } | undefined;
  try {
    const handle = await w.startFleet(p);
    for (;;) {
      const status = await handle.query(statusQuery);
      const db = status.databases.find((d) => d.database === 'inventory');
      if (db?.state === 'FAILED') assert.fail(`inventory failed: ${db.lastError}`);
      if (db?.state === 'AWAITING_APPROVAL' && tailAt === undefined) {
        progress = await w.platform.getReplicationStatus(task);
        // The operator: stop the shipping, take the tail-log backup (WITH NORECOVERY), upload it, approve.
        clearInterval(shipping);
        tailAt = Date.now();
        upload('log', new Date(Math.max(tailAt, seq + 1000)));
        await handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'inventory', approver: 'dba' }] });
      }
      if (db?.state === 'COMPLETED') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const report = await handle.result();
    assert.equal(report.databases.find((d) => d.database === 'inventory')?.state, 'COMPLETED');
  } finally {
    clearInterval(shipping);
    clearInterval(watching);
  }
  assert.ok(logs >= 1, 'log backups were shipped while it replicated');
  // Progress per database: the job's object for inventory, restoring log backups.
  assert.equal(progress?.phase, 'CDC');
  assert.match(progress?.detail ?? '', /^RUNNING\/CDC; database inventory: RUNNING\/(CDC|READY_FOR_PROMOTE)/);
  assert.ok(progress!.lagSeconds !== null && progress!.lagSeconds < 5, `lag ${progress?.lagSeconds}`);
  // The promote came only once the tail-log backup was restored.
  assert.ok(promotedAt && tailAt, 'the job was promoted');
  assert.ok(promotedAt! - tailAt! >= LOG_RESTORE_MS, `promoted ${promotedAt! - tailAt!} ms after the tail-log upload`);
  // The target: Cloud SQL for SQL Server, edition and version by plan, taken over and kept.
  const inst = w.fake.resources.get(`sql/${PROJECT}/inventory-mssql`);
  assert.equal(inst.databaseVersion, 'SQLSERVER_2022_ENTERPRISE');
  // The requests: sqlserver profiles and job, no demote; the job and profiles deleted after it.
  const rpcs = w.fake.log.filter((r) => r.rpc && !r.faulted && (r.status ?? 0) < 300).map((r) => r.rpc!);
  assert.ok(!rpcs.includes(`${JOBS}.demoteDestination`), 'SQL Server is not demoted');
  for (const rpc of [`${JOBS}.create`, `${JOBS}.verify`, `${JOBS}.start`, `${JOBS}.promote`, `${JOBS}.objects.list`])
    assert.ok(rpcs.includes(rpc), `${rpc} was sent`);
  assert.equal(w.fake.log.filter((r) => (r.violations ?? []).length).length, 0, 'no request broke the definitions');
  assert.ok(!w.fake.resources.has(jobKey), 'the job is deleted after the cutover');
});

test('the worker takes the tail-log backup over TDS: closed under a deadline, promoted once restored', async (t) => {
  // The source over TDS is the scripted SQL Server 2019 (test/helpers/scripted-sqlserver.ts: there is
  // none here). Before 2022 it writes the tail to a folder the operator's shipper uploads from: the
  // shipper is this test, which also ships the log backups until the source is closed.
  // The plan as a user writes it: a direct source, no tailLog (the worker's by default), and a
  // cutover.timeout that holds Agent's slack, the restore, the promote and a reopen.
  const input = sqlServerPlan();
  const p = validatePlan({
    ...input,
    migrationId: 'mssql-worker',
    gcp: { ...input.gcp!, monitoring: { notificationChannels: [CHANNEL] } },
    defaults: { lagThresholdSeconds: 5, stableWindow: '1s', noPrimaryKey: 'fail' },
    cutover: { timeout: '130s' },
    databases: input.databases!.map((d) => ({
      ...d,
      source: { ...d.source, access: 'direct' as const },
      backups: { ...d.backups!, tailLogDirectory: 'D:\\LogShip' },
    })),
  });
  assert.equal(p.databases[0].backups?.tailLog, 'worker', 'the default where the worker reaches the source');
  const shipped: string[] = [];
  const holder: { world?: GcpWorld } = {};
  const server = scriptedSqlServer({
    server: SERVER_2019,
    database: { ...HEALTHY_DB, name: 'inventory' },
    chain: CHAIN,
    onBackup: (to) => {
      if (to.kind !== 'disk') return;
      const name = `${FOLDER}log/${to.path.slice(to.path.lastIndexOf('\\') + 1)}`;
      setTimeout(() => {
        putBackupFile(holder.world!.fake, SQLSERVER_BUCKET, name);
        shipped.push(name);
      }, 300);
    },
  });
  const w = (holder.world = await createGcpWorld(env, 'sqlserver-worker', {
    platform: { sqlServerSettleMs: 300, openSqlServer: async () => server },
  }));
  (w.behaviour as any).logRestoreMs = LOG_RESTORE_MS;
  const task = taskOf(p, 'inventory');
  const jobKey = `dms/${gcpNames(task).jobName}`;
  const upload = (kind: 'full' | 'log', at: Date) =>
    putBackupFile(w.fake, SQLSERVER_BUCKET, `${FOLDER}${kind}/${backupFileName('inventory', at, kind)}`, at.getTime());
  upload('full', new Date(Date.now() - 60_000));
  // Log backups every second, named a minute back so the tail (named at the close) sorts after them,
  // until the tail-log backup closes the source: a RESTORING database takes no more log backups.
  let seq = Date.now() - 60_000;
  const shipping = setInterval(() => {
    if (server.state() === 'ONLINE') upload('log', new Date((seq += 1000)));
  }, 1000);
  let promotedAt: number | undefined;
  let closedAt: number | undefined;
  const watching = setInterval(() => {
    promotedAt ??= w.fake.resources.get(jobKey)?._promotedAt;
    if (server.state() === 'RESTORING') closedAt ??= Date.now();
  }, 10);
  try {
    const handle = await w.startFleet(p);
    let approved = false;
    for (;;) {
      const status = await handle.query(statusQuery);
      const db = status.databases.find((d) => d.database === 'inventory');
      if (db?.state === 'FAILED') assert.fail(`inventory failed: ${db.lastError}`);
      if (db?.state === 'AWAITING_APPROVAL' && !approved) {
        assert.equal(server.state(), 'ONLINE', 'nothing is closed before the approval');
        await handle.executeUpdate(approveCutoverUpdate, { args: [{ database: 'inventory', approver: 'dba' }] });
        approved = true;
      }
      if (db?.state === 'COMPLETED') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await handle.result()).databases[0].state, 'COMPLETED');
  } finally {
    clearInterval(shipping);
    clearInterval(watching);
    await w.close();
  }
  // What reached the source: the assessment's reads, then the deadline armed BEFORE the close, the
  // close, its record, and the disarm; one tail-log backup, and no reopen (the target took over).
  const cut = server.sent.slice(server.sent.indexOf('arm'));
  assert.deepEqual(cut.slice(0, 3), ['arm', 'backup', 'tail-record']);
  assert.equal(server.sent.filter((k) => k === 'backup').length, 1);
  assert.equal(server.sent.filter((k) => k === 'reopen').length, 0);
  assert.equal(server.state(), 'RESTORING', 'the source stays closed after the promote');
  assert.equal(server.job(), undefined, 'no reopen job is left on the source');
  // The promote came after the tail reached the bucket and DMS restored it.
  const tail = shipped.at(-1)!;
  assert.match(tail, /^sqlserver\/inventory\/log\/inventory\.\d+\.trn$/);
  const tailCreated = bucketObjects(w.fake, SQLSERVER_BUCKET, FOLDER).find((o) => o.name === tail)!.created;
  assert.ok(promotedAt && closedAt, 'closed and promoted');
  assert.ok(promotedAt! - tailCreated >= LOG_RESTORE_MS, `promoted ${promotedAt! - tailCreated} ms after the upload`);
  assert.ok(promotedAt! - closedAt! >= 300 + LOG_RESTORE_MS, `promoted ${promotedAt! - closedAt!} ms after the close`);
  const closedFor = promotedAt! - closedAt!;
  t.diagnostic(
    `source closed ${closedFor} ms before the promote; tail uploaded ${promotedAt! - tailCreated} ms before`,
  );
});

// ---- the cutover's rules, with stub deps (no server).

function stubDeps(readings: () => ObjectReading | undefined, extra: Record<string, unknown> = {}) {
  const calls: string[] = [];
  return {
    calls,
    deps: {
      jobState: async () => ({ state: calls.includes('promote') ? 'COMPLETED' : 'RUNNING', phase: 'CDC' }),
      freshLag: async () => undefined,
      promote: async () => void calls.push('promote'),
      waitPromoted: async () => void calls.push('waitPromoted'),
      markTookOver: async () => void calls.push('mark'),
      databaseObject: async () => readings(),
      jobPollMs: 10,
      settleMs: 50,
      ...extra,
    },
  };
}

function cutoverTask(tailLog: 'worker' | 'operator', timeoutMs = 1000) {
  const t = taskOf(plan('mssql-rules'), 'inventory');
  return {
    ...t,
    settings: { ...t.settings, cutoverTimeoutMs: timeoutMs },
    database: { ...t.database, backups: { ...t.database.backups!, tailLog } },
  };
}

test('the cutover does not promote while the tail log waits to be restored (nothing sent)', async () => {
  const { deps, calls } = stubDeps(() => ({ state: 'RUNNING', phase: 'CDC', updateTime: new Date().toISOString() }));
  await assert.rejects(
    sqlServerCutover(cutoverTask('operator'), deps as any, () => undefined),
    (err: unknown) => err instanceof MigrationError && err.type === 'CutoverNotReady',
  );
  assert.deepEqual(calls, []);
});

test('tailLog worker where the worker cannot reach the source over TDS: refused before anything is done', async () => {
  const none = stubDeps(() => ({ state: 'RUNNING', phase: 'CDC' }));
  await assert.rejects(
    sqlServerCutover(cutoverTask('worker'), none.deps as any, () => undefined),
    /cannot take the tail-log backup over TDS/,
  );
  assert.deepEqual(none.calls, []);
});
