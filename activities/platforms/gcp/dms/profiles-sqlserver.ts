// The `sqlserver` connection profiles (SqlServerConnectionProfile, clouddms_resources.proto; REST
// https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.connectionProfiles#SqlServerConnectionProfile).
// DMS migrates SQL Server into Cloud SQL for SQL Server from backup files, so the source profile
// names where they are: `backups {gcsBucket, gcsPrefix}` ("The Cloud Storage bucket that stores
// backups for all replicated databases"; gcloud's `connection-profiles create sqlserver
// --gcs-bucket --gcs-prefix`). The destination profile names the instance by `cloudSqlId` (gcloud's
// `--cloudsql-instance`). The discovery document marks host, port, username, password and database
// "Required." on every SqlServerConnectionProfile, so both profiles carry them as well: the source's
// from the plan, the destination's as for the other engines (its private IP, user and password).
import type { DatabaseTask } from '../../../steps';
import type { Profile } from './common';

/**
 * The folder DMS reads databases under (gcsPrefix), from the plan's backups.prefix, whose last
 * folder is the database's own (https://cloud.google.com/database-migration/docs/sqlserver/storage-buckets:
 * "every folder present at the bucket's root level represents one database to migrate").
 */
export function gcsPrefixOf(task: DatabaseTask): string {
  const prefix = task.database.backups?.prefix ?? `${task.database.source.database}/`;
  return prefix.split('/').filter(Boolean).slice(0, -1).join('/');
}

/** The source's SQL Server fields: the database and the backups' place. Empty for other engines. */
export function sqlServerSource(task: DatabaseTask): Record<string, unknown> {
  const { engine, backups, source } = task.database;
  if (engine !== 'sqlserver' || !backups) return {};
  const gcsPrefix = gcsPrefixOf(task);
  return { database: source.database, backups: { gcsBucket: backups.bucket, ...(gcsPrefix ? { gcsPrefix } : {}) } };
}

/** The destination's SQL Server field: the database on the instance. Empty for other engines. */
export function sqlServerDestination(task: DatabaseTask): Record<string, unknown> {
  return task.database.engine === 'sqlserver' ? { database: task.settings.targetDatabase } : {};
}

/** What a reused sqlserver profile must match beyond host, port, user and instance. */
export const SQLSERVER_COMPARED = ['database', 'gcsBucket', 'gcsPrefix'];

/** A sqlserver profile's fields on one level, for the comparison of profiles. */
export function flatSqlServer(p: Profile['sqlserver']): Record<string, unknown> {
  if (!p) return {};
  const { backups, ...rest } = p;
  return { ...rest, gcsBucket: backups?.gcsBucket, gcsPrefix: backups?.gcsPrefix || undefined };
}

/** The dry run's words for the source's backups. */
export function describeSqlServerSource(task: DatabaseTask): string {
  const b = task.database.backups;
  if (task.database.engine !== 'sqlserver' || !b) return '';
  return `; backups from gs://${b.bucket}/${b.prefix ?? `${task.database.source.database}/`} (full/ and log/)`;
}
