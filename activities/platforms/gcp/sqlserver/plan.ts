// The plan fields the SQL Server source side reads, as the shared contract with the DMS side
// (branch h-gcp-mssql, which adds them to common/plan.ts) defines them. Until that schema is
// merged, the shape is declared here and read from the database plan without a cast of the plan
// type itself; once common/plan.ts has `backups`, `backupsPlanOf` reads the same field.
import { MigrationError } from '../../../../common/failures';
import type { DatabaseTask } from '../../../steps';

/** A SQL Server database's backup bucket (database `backups` in the plan). */
export interface SqlServerBackupsPlan {
  /** The Cloud Storage bucket DMS restores from (the connection profile's backups.gcsBucket). */
  bucket: string;
  /** The database's folder in the bucket, ending in '/'. Default: the database name + '/'. */
  prefix?: string;
  /**
   * Who takes the final (tail-log) backup at cutover: the worker over TDS ('worker', the default
   * where source.access is direct) or the operator, told to ('operator', the default for dms-only).
   */
  tailLog?: 'worker' | 'operator';
  /**
   * backups.tailLogDirectory (common/plan-sqlserver.ts): the folder on the source (as SQL Server writes paths) the
   * operator's log shipper uploads from. SQL Server before 2022 cannot write to Cloud Storage itself,
   * so the worker's tail-log backup goes there and the cutover waits for it in the bucket.
   */
  tailLogDirectory?: string;
}

export interface SqlServerBackups {
  bucket: string;
  /** The database's folder, ending in '/': `<gcsPrefix><database>/`. */
  prefix: string;
  /**
   * The folder holding every database folder, as DMS's connection profile takes it
   * (SqlServerBackups.gcsPrefix): "every folder present at the bucket's root level represents one
   * database" (https://cloud.google.com/database-migration/docs/sqlserver/storage-buckets), the root
   * being gcsPrefix. Empty for the bucket's root.
   */
  gcsPrefix: string;
  /** The database folder's own name: DMS reads it as the database's name. */
  folder: string;
  tailLog: 'worker' | 'operator';
  tailLogDirectory?: string;
}

export function backupsPlanOf(task: DatabaseTask): SqlServerBackupsPlan | undefined {
  return (task.database as { backups?: SqlServerBackupsPlan }).backups;
}

/** The database's backup settings with their defaults, or InvalidPlan naming what is missing. */
export function sqlServerBackups(task: DatabaseTask): SqlServerBackups {
  const plan = backupsPlanOf(task);
  const db = task.database.source.database;
  if (!plan?.bucket)
    throw new MigrationError(
      'InvalidPlan',
      `database ${db}: a SQL Server source needs backups.bucket (the Cloud Storage bucket DMS restores from)`,
    );
  const prefix = plan.prefix ? (plan.prefix.endsWith('/') ? plan.prefix : `${plan.prefix}/`) : `${db}/`;
  const parts = prefix.slice(0, -1).split('/');
  const folder = parts.pop()!;
  return {
    bucket: plan.bucket,
    prefix,
    gcsPrefix: parts.length ? `${parts.join('/')}/` : '',
    folder,
    // As the plan fills it (common/plan-sqlserver.ts): the worker's where it reaches the source.
    tailLog: plan.tailLog ?? (task.database.source.access === 'dms-only' ? 'operator' : 'worker'),
    ...(plan.tailLogDirectory ? { tailLogDirectory: plan.tailLogDirectory } : {}),
  };
}
