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
      'Who takes the final (tail-log) backup at the cutover: worker (over TDS: it arms a reopen deadline as a ' +
        'SQL Server Agent job, closes the source WITH NORECOVERY, and promotes once DMS restored it; needs ' +
        "source.access direct and a cutover.timeout that holds Agent's slack, the restore, the promote and a " +
        'reopen) or operator (announced; the operator takes it before approving and the cutover waits until DMS ' +
        'has restored it). Default: worker when source.access is direct, operator when dms-only.',
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

/**
 * What the worker's tail-log cutover keeps of cutover.timeout besides DMS's answer to the promote
 * (activities/platforms/gcp/cutover/sqlserver-tail.ts): SQL Server Agent's schedule slack (its
 * schedules are checked about every 20 s, and the job is scheduled this long before the deadline),
 * the least wait for DMS to restore the tail, and a reopen should DMS refuse.
 */
export const TAIL_LOG_BUDGET = { agentSlackMs: 60_000, minRestoreWaitMs: 30_000, reopenMarginMs: 30_000 } as const;

/** The cutover.timeout the worker's tail-log cutover needs with DMS answering within `promoteMs`. */
export function tailLogBudgetMs(promoteMs: number): number {
  return TAIL_LOG_BUDGET.agentSlackMs + TAIL_LOG_BUDGET.minRestoreWaitMs + promoteMs + TAIL_LOG_BUDGET.reopenMarginMs;
}

/** Who takes the tail-log backup: as the plan says, else the worker where it reaches the source. */
function tailLogOf(db: { source: { access?: string }; backups?: { tailLog?: string } }): 'worker' | 'operator' {
  const set = db.backups?.tailLog;
  if (set === 'worker' || set === 'operator') return set;
  return db.source.access === 'dms-only' ? 'operator' : 'worker';
}

/** SQL Server's default TCP port (the plan's source.port defaults to PostgreSQL's 5432). */
export const SQLSERVER_PORT = 1433;

interface DbShape {
  engine: string;
  source: { database: string; access?: string };
  target: { kind: string; edition?: string };
  backups?: { prefix?: string; tailLog?: string };
}

/** What a database's SQL Server fields break, each with its path under the database and why. */
export function sqlserverIssues(
  platform: string,
  db: DbShape,
  cutover: { timeoutMs: number; promoteMs: number },
): { path: (string | number)[]; message: string }[] {
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
  else if (db.backups.tailLog === 'worker' && db.source.access === 'dms-only')
    out.push({
      path: ['backups', 'tailLog'],
      message:
        'worker takes the tail-log backup over TDS, which source.access dms-only says the worker cannot reach: ' +
        'use operator, or source.access direct',
    });
  else if (tailLogOf(db) === 'worker' && cutover.timeoutMs < tailLogBudgetMs(cutover.promoteMs))
    out.push({
      path: ['backups', 'tailLog'],
      message:
        `is worker${db.backups.tailLog ? '' : ' (the default where source.access is direct)'}, which needs ` +
        `cutover.timeout of at least ${tailLogBudgetMs(cutover.promoteMs) / 1000}s: SQL Server Agent's schedule ` +
        `slack (${TAIL_LOG_BUDGET.agentSlackMs / 1000}s), DMS's restore of the tail-log backup (at least ` +
        `${TAIL_LOG_BUDGET.minRestoreWaitMs / 1000}s), its answer to the promote (${cutover.promoteMs / 1000}s) ` +
        `and a reopen (${TAIL_LOG_BUDGET.reopenMarginMs / 1000}s), not ${cutover.timeoutMs / 1000}s. Raise ` +
        'cutover.timeout, or set backups.tailLog: operator',
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
 * schema's default is PostgreSQL's), backups.prefix source.database/, and backups.tailLog by source.access.
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
          tailLog: tailLogOf(d),
        },
      };
    }),
  };
}
