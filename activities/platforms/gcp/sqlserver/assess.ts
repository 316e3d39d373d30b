// The assessment of a SQL Server source for DMS: always its backup bucket (what DMS will restore
// from: backups.ts), and where the worker reaches the source over TDS (source.access direct) the
// source itself (version, recovery model, encryption, the backup chain in msdb, and what the
// tail-log backup needs: tds-facts.ts). Where it does not, the bucket is the whole assessment and
// DMS's verify is what checks the rest.
import type { Storage } from '@google-cloud/storage';
import { activityCancellation, throwIfCancelled } from '../../../cancellation';
import type { AssessmentResult, DatabaseTask, Finding } from '../../../steps';
import { evaluateBucket, readBackupBucket } from './backups';
import { DEFAULT_BACKUP_FILE_PATTERN, tailLogName } from './naming';
import { sqlServerBackups } from './plan';
import { tailLogDestination } from './tail-log-sql';
import { BACKUP_CHAIN_SQL, DATABASE_SQL, SERVER_SQL, URL_CREDENTIAL_SQL } from './tds-sql';
import type { BackupSetRow, DatabaseRow, ServerRow } from './tds-sql';
import { evaluateSqlServer, sqlServerMajor, type SourceFacts } from './tds-facts';
import { openTds, type TdsSession } from './tds-session';

export interface SqlServerAssessDeps {
  storage: Storage;
  /** Opens the TDS session (tests pass a scripted one). */
  open?: (task: DatabaseTask) => Promise<TdsSession>;
  now?: () => number;
  /** The job's backupFilePattern (naming.ts DEFAULT_BACKUP_FILE_PATTERN unless the plan says). */
  backupFilePattern?: string;
  /** The target's SQL Server major version (14, 15, 16), where the plan says it. */
  targetMajor?: number;
  /** The tail-log folder on the source; default backups.tailLogDirectory. */
  tailLogDirectory?: string;
}

/** Reads the source's facts over one TDS session (the SQL is tds-sql.ts; their meaning tds-facts.ts). */
export async function readSqlServerFacts(s: TdsSession, database: string, urlForTail?: string): Promise<SourceFacts> {
  const [server] = await s.query<ServerRow>(SERVER_SQL);
  const [db] = await s.query<DatabaseRow>(DATABASE_SQL, { db: database });
  const chain = await s.query<BackupSetRow>(BACKUP_CHAIN_SQL, { db: database });
  const urlCredential = urlForTail
    ? ((await s.query<{ name: string }>(URL_CREDENTIAL_SQL, { url: urlForTail }))[0]?.name ?? null)
    : undefined;
  return { server, database: db, chain, urlCredential };
}

export async function assessSqlServerSource(task: DatabaseTask, deps: SqlServerAssessDeps): Promise<AssessmentResult> {
  const now = deps.now ?? Date.now;
  const backups = sqlServerBackups(task);
  const source = task.database.source;
  const findings: Finding[] = [];
  const bucket = await readBackupBucket(deps.storage, backups, deps.backupFilePattern ?? DEFAULT_BACKUP_FILE_PATTERN);
  findings.push(...evaluateBucket(bucket, { region: task.gcp?.region, database: source.database, now: now() }));
  let serverVersion = source.version ?? 'unknown';
  if (source.access === 'dms-only')
    findings.push({
      code: 'SOURCE_NOT_REACHED_BY_WORKER',
      severity: 'info',
      message:
        `the worker does not reach ${source.host}:${source.port} (source.access dms-only): the bucket was read, the ` +
        'source (recovery model, encryption, backup chain) is checked by DMS when the job is verified, and the ' +
        'operator takes the tail-log backup at cutover',
    });
  else {
    const signal = activityCancellation();
    let s: TdsSession | undefined;
    try {
      s = await (deps.open ?? ((t) => openTds(t)))(task);
      const [server] = await s.query<ServerRow>(SERVER_SQL);
      const major = sqlServerMajor(server.product_version);
      const to =
        backups.tailLog === 'worker'
          ? tailLogDestination(
              major,
              backups.bucket,
              tailLogName(backups.prefix, source.database, now()),
              deps.tailLogDirectory ?? backups.tailLogDirectory,
            )
          : undefined;
      const facts = await readSqlServerFacts(
        s,
        source.database,
        to && 'kind' in to && to.kind === 'url' ? to.url : undefined,
      );
      serverVersion = server.product_version;
      findings.push(
        ...evaluateSqlServer(facts, {
          database: source.database,
          targetMajor: deps.targetMajor,
          workerTakesTailLog: backups.tailLog === 'worker',
          tailLogTo: to && 'kind' in to ? to.kind : undefined,
        }),
      );
      if (to && 'error' in to) findings.push({ code: 'TAIL_LOG_DESTINATION', severity: 'error', message: to.error });
    } catch (err) {
      throwIfCancelled(signal);
      findings.push({
        code: 'SOURCE_UNREACHABLE',
        severity: 'error',
        message: `the worker could not read ${source.host}:${source.port} over TDS: ${(err as Error).message}`,
      });
    } finally {
      await s?.close();
    }
  }
  return {
    serverVersion,
    tables: [],
    estimatedRows: 0,
    findings,
    blocked: findings.some((f) => f.severity === 'error'),
  };
}
