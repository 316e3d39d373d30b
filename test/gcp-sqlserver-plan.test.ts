// The plan's SQL Server fields (common/plan-sqlserver.ts) and the requests they become: the Cloud SQL
// for SQL Server version, the `sqlserver` connection profiles and the job's
// sqlserverHomogeneousMigrationJobConfig. Pure: no server runs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectiveSettings } from '../common/plan-settings';
import { InvalidPlanError, validatePlan, type PlanInput } from '../common/plan';
import type { DatabaseTask } from '../activities/steps';
import { resolveVersion } from '../activities/platforms/gcp/sql/versions';
import { instanceBody, wantedInstance } from '../activities/platforms/gcp/sql/cloudsql';
import { jobBody } from '../activities/platforms/gcp/dms/job';
import { sourceConnection } from '../activities/platforms/gcp/dms/profiles';
import { gcsPrefixOf, sqlServerSource } from '../activities/platforms/gcp/dms/profiles-sqlserver';
import { sqlServerPlan, SQLSERVER_BUCKET } from './helpers/gcp-sqlserver-plan';
import { estimateCost } from '../common/cost';
import { describeGcp } from '../activities/platforms/gcp/describe';

type Db = NonNullable<PlanInput['databases']>[number];

function issues(input: PlanInput): string[] {
  try {
    validatePlan(input);
    return [];
  } catch (err) {
    if (!(err instanceof InvalidPlanError)) throw err;
    return err.issues.map((i) => `${i.field}: ${i.message}`);
  }
}

const withDb = (patch: (db: Db) => Db, extra: Partial<PlanInput> = {}) => {
  const p = sqlServerPlan(extra);
  return { ...p, databases: p.databases.map(patch) };
};

function task(input: PlanInput = sqlServerPlan()): DatabaseTask {
  const plan = validatePlan(input);
  const db = plan.databases[0];
  return { migrationId: 'mig', platform: 'gcp', database: db, settings: effectiveSettings(plan, db), gcp: plan.gcp };
}

test('a SQL Server database validates; its defaults: port 1433, prefix, who takes the tail log by access', () => {
  assert.deepEqual(issues(sqlServerPlan()), []);
  const db = validatePlan(withDb((d) => ({ ...d, backups: { bucket: SQLSERVER_BUCKET } }))).databases[0];
  assert.equal(db.source.port, 1433);
  assert.equal(db.backups?.prefix, 'inventory/');
  assert.equal(db.backups?.tailLog, 'operator', 'dms-only: the worker cannot reach the source');
  const direct = (extra: Partial<PlanInput> = {}) =>
    withDb((d) => ({ ...d, source: { ...d.source, access: 'direct', port: 14330 } }), extra);
  // Where it reaches the source the worker takes it, given a cutover.timeout that holds Agent's
  // slack (60 s), the restore (30 s), DMS's answer (gcp.promoteTimeout, 10 s by default) and a reopen (30 s).
  const roomy = validatePlan(direct({ cutover: { timeout: '130s' } }));
  assert.equal(roomy.databases[0].backups?.tailLog, 'worker');
  assert.equal(roomy.databases[0].source.port, 14330, 'a port the plan names is kept');
  // The default 30 s cannot hold it: refused by name, with both ways out, before anything runs.
  const tight = issues(direct());
  assert.equal(tight.length, 1, tight.join('\n'));
  assert.match(tight[0], /^databases\[0\]\.backups\.tailLog: is worker \(the default where source\.access is direct\)/);
  assert.match(
    tight[0],
    /needs cutover\.timeout of at least 130s.*not 30s\. Raise cutover\.timeout, or set backups\.tailLog: operator$/,
  );
  assert.deepEqual(issues(direct({ cutover: { timeout: '129s' } })).length, 1);
  const withOperator = validatePlan(
    withDb((d) => ({
      ...d,
      source: { ...d.source, access: 'direct' },
      backups: { ...d.backups!, tailLog: 'operator' },
    })),
  );
  assert.equal(withOperator.databases[0].backups?.tailLog, 'operator', 'the plan may keep it by hand');
  // A worker that cannot reach the source cannot take it.
  const unreachable = issues(
    withDb((d) => ({ ...d, backups: { ...d.backups!, tailLog: 'worker' } }), { cutover: { timeout: '5m' } }),
  );
  assert.equal(unreachable.length, 1, unreachable.join('\n'));
  assert.match(
    unreachable[0],
    /^databases\[0\]\.backups\.tailLog: worker takes the tail-log backup over TDS, which source\.access dms-only/,
  );
});

test('SQL Server without backups, onto AlloyDB, or on another platform is refused by field and name', () => {
  assert.deepEqual(
    issues(withDb((d) => ({ ...d, backups: undefined }))).map((s) => s.split(':')[0]),
    ['databases[0].backups'],
  );
  const alloy = issues(withDb((d) => ({ ...d, target: { ...d.target, kind: 'alloydb' } })));
  assert.ok(
    alloy.some((s) => /^databases\[0\]\.target\.kind: must be cloudsql for engine sqlserver/.test(s)),
    alloy.join('\n'),
  );
  const local = issues(sqlServerPlan({ platform: 'local', gcp: undefined }));
  assert.ok(
    local.some((s) => /databases\[0\]\.engine: sqlserver is not supported by the local platform/.test(s)),
    local.join('\n'),
  );
  const sim = issues(sqlServerPlan({ platform: 'sim', gcp: undefined }));
  assert.ok(
    sim.some((s) => /databases\[0\]\.engine: sqlserver is migrated by the gcp platform only/.test(s)),
    sim.join('\n'),
  );
});

test('backups and edition are refused for other engines; a prefix must end in the database folder', () => {
  const pg = issues(
    withDb((d) => ({ ...d, engine: 'postgresql', target: { ...d.target, version: '16', edition: 'standard' } })),
  );
  assert.ok(
    pg.some((s) => /^databases\[0\]\.backups: is for engine sqlserver/.test(s)),
    pg.join('\n'),
  );
  assert.ok(
    pg.some((s) => /^databases\[0\]\.target\.edition: is a SQL Server edition/.test(s)),
    pg.join('\n'),
  );
  const prefix = issues(withDb((d) => ({ ...d, backups: { bucket: SQLSERVER_BUCKET, prefix: 'sqlserver/other/' } })));
  assert.deepEqual(prefix, [
    "databases[0].backups.prefix: must end in the database's own folder, inventory/ (DMS reads one folder per " +
      'database, named after it), not other/',
  ]);
  const bucket = issues(withDb((d) => ({ ...d, backups: { bucket: 'gs://x' } })));
  assert.ok(bucket.some((s) => /^databases\[0\]\.backups\.bucket: must be a Cloud Storage bucket name/.test(s)));
});

test('version and edition become SqlDatabaseVersion SQLSERVER_<year>_<EDITION>; shared-core tiers are refused', () => {
  assert.equal(resolveVersion(task()).enumName, 'SQLSERVER_2022_ENTERPRISE');
  const std = task(withDb((d) => ({ ...d, target: { ...d.target, edition: undefined, version: undefined } })));
  assert.equal(resolveVersion(std).enumName, 'SQLSERVER_2019_STANDARD', 'from source.version, edition standard');
  assert.equal(resolveVersion(std, '16.0.4135.4').enumName, 'SQLSERVER_2019_STANDARD');
  const fromServer = task(
    withDb((d) => ({
      ...d,
      source: { ...d.source, version: undefined },
      target: { ...d.target, version: undefined, edition: 'web' },
    })),
  );
  assert.equal(resolveVersion(fromServer, '16.0.4135.4').enumName, 'SQLSERVER_2022_WEB');
  assert.throws(
    () => resolveVersion(task(withDb((d) => ({ ...d, target: { ...d.target, version: '2012' } })))),
    /Cloud SQL for SQL Server does not offer version 2012; it offers 2017, 2019, 2022/,
  );
  const body = instanceBody(task(), wantedInstance(task(), 'SQLSERVER_2022_ENTERPRISE'));
  assert.equal(body.databaseVersion, 'SQLSERVER_2022_ENTERPRISE');
  assert.throws(
    () => wantedInstance(task(withDb((d) => ({ ...d, target: { ...d.target, tier: 'db-g1-small' } }))), 'x'),
    /shared-core tier, which Cloud SQL for SQL Server does not offer/,
  );
});

test('the source profile names the bucket and the folder above the database; the job restores that database', () => {
  const t = task();
  assert.equal(gcsPrefixOf(t), 'sqlserver');
  assert.deepEqual(sourceConnection(t), { host: '203.0.113.40', port: 1433, username: 'migrator' });
  assert.deepEqual(sqlServerSource(t), {
    database: 'inventory',
    backups: { gcsBucket: SQLSERVER_BUCKET, gcsPrefix: 'sqlserver' },
  });
  const rootFolder = task(withDb((d) => ({ ...d, backups: { bucket: SQLSERVER_BUCKET } })));
  assert.deepEqual(sqlServerSource(rootFolder).backups, { gcsBucket: SQLSERVER_BUCKET });
  const job = jobBody(t);
  assert.deepEqual(job.sourceDatabase, { engine: 'SQLSERVER' });
  assert.deepEqual(job.destinationDatabase, { engine: 'SQLSERVER', provider: 'CLOUDSQL' });
  assert.equal(job.vpcPeeringConnectivity, undefined, 'DMS reads the bucket, never the source');
  assert.deepEqual(job.sqlserverHomogeneousMigrationJobConfig?.databaseBackups, [{ database: 'inventory' }]);
  assert.equal(job.sqlserverHomogeneousMigrationJobConfig?.promoteWhenReady, false);
  const pattern = new RegExp(`^${job.sqlserverHomogeneousMigrationJobConfig!.backupFilePattern}$`);
  assert.equal(pattern.exec('inventory.1691448254.trn')?.groups?.timestamp, '1691448254');
});

test('the cost estimate adds the SQL Server license per vCPU-hour by edition (Express has none)', () => {
  const at = (edition: 'enterprise' | 'express' | 'standard') =>
    estimateCost(validatePlan(withDb((d) => ({ ...d, target: { ...d.target, edition } })))).databases[0].target;
  const ent = at('enterprise');
  const exp = at('express');
  const std = at('standard');
  assert.match(ent.spec, /SQL Server enterprise license/);
  // db-custom-4-16384: 4 vCPUs, 730 hours a month (the table's hoursPerMonth).
  assert.equal(Math.round((ent.monthlyUsd! - exp.monthlyUsd!) * 100), Math.round(4 * 0.47 * 730 * 100));
  assert.equal(Math.round((std.monthlyUsd! - exp.monthlyUsd!) * 100), Math.round(4 * 0.13 * 730 * 100));
});

test('the dry run of a SQL Server database: no demote, the sqlserver job, the promote after the tail log', () => {
  const ops = describeGcp(task());
  const calls = ops.flatMap((o) => (o.calls ?? []).map((c) => c.method));
  assert.ok(!calls.some((m) => m.endsWith('demoteDestination')), calls.join('\n'));
  assert.ok(calls.includes('datamigration.projects.locations.migrationJobs.start'));
  const create = ops.find((o) => (o.calls ?? []).some((c) => c.method.endsWith('migrationJobs.create')))!;
  assert.match(create.detail, /^CONTINUOUS SQLSERVER → CLOUDSQL, from backup files named .*promoteWhenReady false/);
  const source = ops.find((o) => o.detail.startsWith('source sqlserver'))!;
  assert.match(
    source.detail,
    /203\.0\.113\.40:1433 .*backups from gs:\/\/dbmig-contract-mssql-backups\/sqlserver\/inventory\//,
  );
  const promote = ops.find((o) => (o.calls ?? []).some((c) => c.method.endsWith('migrationJobs.promote')))!;
  assert.match(promote.detail, /the operator takes \(before approving\) the tail-log backup WITH NORECOVERY/);
  const insert = ops.find((o) => (o.calls ?? []).some((c) => c.method === 'sql.instances.insert'))!;
  assert.match(insert.detail, /^SQLSERVER_2022_ENTERPRISE \(from databases\[inventory\]\.target\.version\)/);
});
