// The plan's SQL Server part: engine sqlserver moves onto Cloud SQL for SQL Server through DMS,
// which restores backup files from Cloud Storage (a full backup, then transaction log backups), not
// by reading the source (https://cloud.google.com/database-migration/docs/sqlserver/guide). Pure (zod
// only), like plan.ts, which uses it.
import { z } from 'zod';

/**
 * SQL Server's backup files in Cloud Storage. DMS reads one folder per database holding `full/` (the
 * full backup) and `log/` (transaction log backups), named after the database
 * (https://cloud.google.com/database-migration/docs/sqlserver/storage-buckets).
 */
export const backupsSchema = z.strictObject({
  bucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/, 'must be a Cloud Storage bucket name (no gs://)')
    .describe('The Cloud Storage bucket holding the backups, by name (no gs://), in the region of the target.'),
  prefix: z
    .string()
    .regex(/^([^/]+\/)+$/, "must be a folder path ending in '/', e.g. orders/ or sqlserver/orders/")
    .optional()
    .describe(
      "The folder in the bucket holding this database's full/ and log/ folders; its last folder is named after " +
        "source.database, as DMS requires. Default: source.database + '/'.",
    ),
  tailLog: z
    .enum(['worker', 'operator'])
    .optional()
    .describe(
      'Who takes the final (tail-log) backup at the cutover: operator (announced; the cutover waits until DMS ' +
        'has restored it). worker (over TDS, where it reaches the source) is refused for now: its tail-log ' +
        'backup and deadline are built (activities/platforms/gcp/sqlserver/) but not yet part of the cutover. ' +
        'Default: operator.',
    ),
  tailLogDirectory: z
    .string()
    .min(1)
    .optional()
    .describe(
      'tailLog worker, SQL Server before 2022 (which cannot write to Cloud Storage itself): the folder on the ' +
        "source, as SQL Server writes paths, that your log shipper uploads to the backups' log/ folder; the " +
        "worker's tail-log backup goes there and the cutover waits for it in the bucket.",
    ),
});

export type BackupsPlan = z.output<typeof backupsSchema>;

/** Cloud SQL for SQL Server's editions, as SqlDatabaseVersion SQLSERVER_<year>_<EDITION> names them. */
export const SQLSERVER_EDITIONS = ['standard', 'enterprise', 'express', 'web'] as const;
export type SqlServerEdition = (typeof SQLSERVER_EDITIONS)[number];

/** SQL Server's default TCP port (the plan's source.port defaults to PostgreSQL's 5432). */
export const SQLSERVER_PORT = 1433;

interface DbShape {
  engine: string;
  source: { database: string; access?: string };
  target: { kind: string; edition?: string };
  backups?: { prefix?: string; tailLog?: string };
}

/** What a database's SQL Server fields break, each with its path under the database and why. */
export function sqlserverIssues(platform: string, db: DbShape): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  if (db.engine !== 'sqlserver') {
    if (db.backups)
      out.push({
        path: ['backups'],
        message: `is for engine sqlserver (DMS restores SQL Server backup files), not ${db.engine}: remove it`,
      });
    if (db.target.edition)
      out.push({
        path: ['target', 'edition'],
        message: `is a SQL Server edition, for engine sqlserver, not ${db.engine}: remove it`,
      });
    return out;
  }
  if (platform !== 'gcp' && platform !== 'local')
    out.push({
      path: ['engine'],
      message: `sqlserver is migrated by the gcp platform only (DMS onto Cloud SQL for SQL Server), not ${platform}`,
    });
  if (db.target.kind !== 'cloudsql')
    out.push({
      path: ['target', 'kind'],
      message:
        'must be cloudsql for engine sqlserver (DMS migrates SQL Server into Cloud SQL for SQL Server), ' +
        `not ${db.target.kind}`,
    });
  if (!db.backups)
    out.push({
      path: ['backups'],
      message:
        'is required for engine sqlserver: DMS restores the database from backup files in Cloud Storage ' +
        '(backups.bucket, and backups.prefix when the folder is not source.database/)',
    });
  else if (db.backups.tailLog === 'worker')
    out.push({
      path: ['backups', 'tailLog'],
      message:
        "worker is not available yet: the worker's tail-log backup (WITH NORECOVERY, reopened at a deadline) is " +
        'not yet part of the cutover; use operator (the operator takes the tail-log backup before approving)',
    });
  if (db.backups?.prefix) {
    // "every folder present at the bucket's root level represents one database to migrate"
    // (https://cloud.google.com/database-migration/docs/sqlserver/storage-buckets): under gcsPrefix,
    // the database's folder carries its name.
    const last = db.backups.prefix.split('/').filter(Boolean).pop();
    if (last !== db.source.database)
      out.push({
        path: ['backups', 'prefix'],
        message:
          `must end in the database's own folder, ${db.source.database}/ (DMS reads one folder per database, ` +
          `named after it), not ${last}/`,
      });
  }
  return out;
}

type WithDatabases<P> = P & {
  databases: (DbShape & { source: { port: number; access: string }; backups?: BackupsPlan })[];
};

/**
 * Fills what SQL Server's defaults depend on: source.port 1433 where the input names none (the
 * schema's default is PostgreSQL's), backups.prefix source.database/, and backups.tailLog operator.
 */
export function withSqlServerDefaults<P>(input: unknown, plan: WithDatabases<P>): WithDatabases<P> {
  if (!plan.databases.some((d) => d.engine === 'sqlserver')) return plan;
  const given = (input as { databases?: { source?: { port?: unknown } }[] }).databases ?? [];
  return {
    ...plan,
    databases: plan.databases.map((d, i) => {
      if (d.engine !== 'sqlserver' || !d.backups) return d;
      const port = given[i]?.source?.port === undefined ? SQLSERVER_PORT : d.source.port;
      return {
        ...d,
        source: { ...d.source, port },
        backups: {
          ...d.backups,
          prefix: d.backups.prefix ?? `${d.source.database}/`,
          tailLog: d.backups.tailLog ?? 'operator',
        },
      };
    }),
  };
}
