// The SQL Server part of a DMS migration job (MigrationJob.sqlserverHomogeneousMigrationJobConfig,
// SqlServerHomogeneousMigrationJobConfig in the datamigration v1 discovery document;
// https://cloud.google.com/database-migration/docs/sqlserver/create-migration-job):
// - backupFilePattern: how DMS orders the backup files of a database. Capture group set #2 of the
//   field's description, a unix timestamp (`TestDB.1691448254.trn`): the names the worker's tail-log
//   backup and the operator's scripts write (backupFileName below), ordered by time as DMS requires
//   ("The specified pattern should ensure lexicographical order of backups").
// - databaseBackups: the one database this job migrates (the plan's source.database), without
//   encryptionOptions: encrypted backups are refused at the assessment, not configured here.
// - promoteWhenReady false: the cutover decides when to promote, after the final (tail-log) backup
//   is restored (cutover/sqlserver.ts); DMS promoting on its own would skip the approval.
// - useDiffBackup false: the chain is one full backup then transaction log backups; nothing takes
//   differential backups.
// - no connectivity: DMS reads the backups from Cloud Storage, never the source
//   (https://cloud.google.com/database-migration/docs/sqlserver/guide has no connectivity step).
import type { DatabaseTask } from '../../../steps';
import type { Job } from './common';

/** Capture group set #2 (unix timestamp) of SqlServerHomogeneousMigrationJobConfig.backupFilePattern. */
export const BACKUP_FILE_PATTERN = String.raw`(?<database>.*)\.(?<timestamp>\d*)\.(?:bak|trn)`;

/** A backup file's name under BACKUP_FILE_PATTERN: `orders.1691448254.trn` (log) or `.bak` (full). */
export function backupFileName(database: string, at: Date, kind: 'full' | 'log'): string {
  return `${database}.${Math.floor(at.getTime() / 1000)}.${kind === 'full' ? 'bak' : 'trn'}`;
}

/** The job body for a SQL Server database: `base` with SQL Server's config and no connectivity. */
export function withSqlServerConfig(task: DatabaseTask, base: Job): Job {
  if (task.database.engine !== 'sqlserver') return base;
  // DMS restores backup files from the bucket: it never connects to the source (no connectivity),
  // takes no dump (no performanceConfig), and the databases are databaseBackups' (no objectsConfig).
  const {
    vpcPeeringConnectivity,
    reverseSshConnectivity,
    staticIpConnectivity,
    performanceConfig,
    objectsConfig,
    ...rest
  } = base;
  void [vpcPeeringConnectivity, reverseSshConnectivity, staticIpConnectivity, performanceConfig, objectsConfig];
  return {
    ...rest,
    sqlserverHomogeneousMigrationJobConfig: {
      backupFilePattern: BACKUP_FILE_PATTERN,
      databaseBackups: [{ database: task.database.source.database }],
      promoteWhenReady: false,
      useDiffBackup: false,
    },
  };
}

/** What an existing SQL Server job must match to be reused. */
export const SQLSERVER_JOB_FIELDS: [string, (j: Job) => unknown][] = [
  [
    'sqlserverHomogeneousMigrationJobConfig.backupFilePattern',
    (j) => j.sqlserverHomogeneousMigrationJobConfig?.backupFilePattern,
  ],
  [
    'sqlserverHomogeneousMigrationJobConfig.databaseBackups',
    (j) => j.sqlserverHomogeneousMigrationJobConfig?.databaseBackups?.map((d) => d.database).join(','),
  ],
  [
    'sqlserverHomogeneousMigrationJobConfig.promoteWhenReady',
    (j) => j.sqlserverHomogeneousMigrationJobConfig?.promoteWhenReady,
  ],
];
