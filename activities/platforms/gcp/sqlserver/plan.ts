// A SQL Server database's backups as the DMS side reads them: the plan's `backups`
// (common/plan-sqlserver.ts) with its defaults, and the folders DMS's connection profile names.
import { MigrationError } from '../../../../common/failures';
import type { DatabaseTask } from '../../../steps';

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

/** The database's backup settings with their defaults, or InvalidPlan naming what is missing. */
export function sqlServerBackups(task: DatabaseTask): SqlServerBackups {
  const plan = task.database.backups;
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
