// The SQL Server part of `dbmig gcp check`: per database with engine sqlserver, the backup bucket
// DMS will restore from, read and judged as the assessment judges it (sqlserver/backups.ts: the
// bucket exists in the migration's region, the database's folder holds a full backup, log backups
// are arriving, their names follow the job's backupFilePattern). Reads only: Cloud Storage
// buckets.get and objects.list (https://cloud.google.com/storage/docs/json_api/v1/buckets/get,
// https://cloud.google.com/storage/docs/json_api/v1/objects/list). The source itself is not
// reached here: the check never logs in to a source (index.ts).
import type { DatabasePlan } from '../../../../common/plan';
import type { DatabaseTask } from '../../../steps';
import { BACKUP_FILE_PATTERN } from '../dms/job-sqlserver';
import { evaluateBucket, readBackupBucket } from '../sqlserver/backups';
import { sqlServerBackups } from '../sqlserver/plan';
import { failedRead, row, type CheckContext, type CheckResult } from './checks';

const CHECK = 'SQL Server backups';

/** The API methods only a SQL Server database sends (permissions.ts lists them with the rest). */
export const SQLSERVER_METHODS = [
  'storage.buckets.get',
  'storage.objects.list',
  'datamigration.projects.locations.migrationJobs.objects.list',
];

export const hasSqlServer = (databases: DatabasePlan[]): boolean => databases.some((d) => d.engine === 'sqlserver');

export async function checkSqlServerBackups(ctx: CheckContext): Promise<CheckResult[]> {
  const databases = ctx.plan.databases.filter((d) => d.engine === 'sqlserver');
  return Promise.all(databases.map((d) => checkDatabase(ctx, d)));
}

async function checkDatabase(ctx: CheckContext, d: DatabasePlan): Promise<CheckResult> {
  // sqlServerBackups reads the database's plan only: its defaults, as the platform applies them.
  const backups = sqlServerBackups({ database: d } as DatabaseTask);
  const where = `gs://${backups.bucket}/${backups.prefix}`;
  let findings;
  try {
    const reading = await readBackupBucket(ctx.c.storage, backups, BACKUP_FILE_PATTERN);
    findings = evaluateBucket(reading, { region: ctx.gcp.region, database: d.source.database, now: Date.now() });
  } catch (err) {
    return failedRead(CHECK, `read ${where}`, err, 'storage.objects.list');
  }
  const errors = findings.filter((f) => f.severity === 'error');
  const warnings = findings.filter((f) => f.severity === 'warning');
  const say = (fs: typeof findings) => fs.map((f) => `${f.code}: ${f.message}`).join('; ');
  if (errors.length)
    return row(CHECK, 'FIX', `${d.name}: ${say(errors)}`, `put the backups DMS restores in ${where} (full/ and log/)`);
  if (warnings.length) return row(CHECK, 'WARN', `${d.name}: ${say(warnings)}`);
  const info = findings.map((f) => f.message).join('; ');
  return row(CHECK, 'OK', `${d.name}: ${where}${info ? `: ${info}` : ''}`);
}
