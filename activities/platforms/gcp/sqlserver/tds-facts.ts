// What a SQL Server source's catalog rows (tds-sql.ts) mean for a DMS migration, as findings in the
// assessment's vocabulary. Pure: tested on realistic rows (test/gcp-sqlserver-source.test.ts).
//
// The rules and where they come from:
// - recovery model: "Your source SQL Server instance can't use the simple recovery model"
//   (https://cloud.google.com/database-migration/docs/sqlserver/export-backup-files, Requirements);
//   log backups need FULL or BULK_LOGGED, and a log backup holding minimally logged changes cannot
//   be restored to a point, so BULK_LOGGED is a warning and SIMPLE an error.
// - version: a backup restores only onto the same or a newer major version ("The BAK file's database
//   major version number ... must not be higher than the current database major version number",
//   https://cloud.google.com/database-migration/docs/sqlserver/diagnose-issues); SQL Server 2017, the
//   oldest Cloud SQL for SQL Server offers, restores backups from 2008 (10.0) on
//   (https://learn.microsoft.com/sql/t-sql/statements/restore-statements-transact-sql, Compatibility support).
// - encryption: backup encryption needs the certificate and its private key in the bucket
//   (SqlServerDatabaseBackup.encryptionOptions: certPath, pvkPath, pvkPassword) for every backup of the
//   database (https://cloud.google.com/database-migration/docs/sqlserver/export-backup-files, "Use
//   encrypted backups"); the plan carries no such files, so it is refused by name (rule 6). A TDE
//   database's backups restore only where its certificate exists, so it is refused by name as well:
//   https://learn.microsoft.com/sql/relational-databases/security/encryption/move-a-tde-protected-database-to-another-sql-server
// - the chain: DMS restores the full backup, then each log backup in turn; a log backup continues the
//   chain when its first_lsn is the previous log backup's last_lsn, and the first one after the full
//   backup must hold the full backup's last_lsn (first_lsn <= full.last_lsn < last_lsn)
//   (https://learn.microsoft.com/sql/relational-databases/backup-restore/log-sequence-numbers-and-restore-planning).
import type { Finding } from '../../../steps';
import type { BackupSetRow, DatabaseRow, ServerRow } from './tds-sql';

/** SQL Server's ProductVersion major → its release name (10.50 is 2008 R2). */
const RELEASES: Record<number, string> = {
  10: '2008',
  11: '2012',
  12: '2014',
  13: '2016',
  14: '2017',
  15: '2019',
  16: '2022',
  17: '2025',
};
export const MIN_SOURCE_MAJOR = 10;

export function sqlServerMajor(productVersion: string): number {
  return Number(productVersion.split('.')[0]);
}

export function releaseName(productVersion: string): string {
  const [major, minor] = productVersion.split('.').map(Number);
  if (major === 10 && minor >= 50) return 'SQL Server 2008 R2';
  return RELEASES[major] ? `SQL Server ${RELEASES[major]}` : `SQL Server ${productVersion}`;
}

const cmp = (a: string, b: string): number => {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

export interface ChainVerdict {
  full?: BackupSetRow;
  logs: BackupSetRow[];
  /** Where the chain breaks: the log backup that does not continue it, and why. */
  gap?: { after: string; at: BackupSetRow; why: string };
  encrypted: BackupSetRow[];
  damaged: BackupSetRow[];
}

/** Reads msdb's backup history since the newest full backup (BACKUP_CHAIN_SQL's rows, in order). */
export function readChain(rows: BackupSetRow[]): ChainVerdict {
  const full = rows.find((r) => r.type === 'D');
  const encrypted = rows.filter((r) => r.key_algorithm || (r.encryptor_type && r.encryptor_type !== 'NONE'));
  const damaged = rows.filter((r) => r.is_damaged);
  if (!full) return { logs: [], encrypted, damaged };
  const logs = rows.filter((r) => r.type === 'L' && r.backup_start_date >= full.backup_start_date);
  // Log backups that ended before the full backup's last LSN hold nothing the restore needs.
  const needed = logs.filter((l) => cmp(l.last_lsn, full.last_lsn) > 0);
  let gap: ChainVerdict['gap'];
  let previous: BackupSetRow | undefined;
  for (const l of needed) {
    if (!previous) {
      if (cmp(l.first_lsn, full.last_lsn) > 0)
        gap = {
          after: `the full backup of ${iso(full.backup_start_date)}`,
          at: l,
          why: `its first LSN ${l.first_lsn} is past the full backup's last LSN ${full.last_lsn}`,
        };
    } else if (cmp(l.first_lsn, previous.last_lsn) !== 0)
      gap = {
        after: `the log backup of ${iso(previous.backup_start_date)}`,
        at: l,
        why: `its first LSN ${l.first_lsn} is not the previous log backup's last LSN ${previous.last_lsn}`,
      };
    if (gap) break;
    previous = l;
  }
  return { full, logs: needed, gap, encrypted, damaged };
}

const iso = (d: Date) => new Date(d).toISOString();

export interface SourceFacts {
  server: ServerRow;
  database?: DatabaseRow;
  chain: BackupSetRow[];
  /** The server credential BACKUP TO URL would use for the tail-log, where that is the way. */
  urlCredential?: string | null;
}

export interface SourceJudgement {
  database: string;
  /** The target's SQL Server major version (14 = 2017, 15 = 2019, 16 = 2022), where the plan says it. */
  targetMajor?: number;
  /** The worker takes the tail-log backup (backups.tailLog 'worker'). */
  workerTakesTailLog: boolean;
  /** How the worker would write it: to a URL in the bucket (2022+) or to a folder the shipper uploads. */
  tailLogTo?: 'url' | 'disk';
}

export function evaluateSqlServer(f: SourceFacts, j: SourceJudgement): Finding[] {
  const out: Finding[] = [];
  const version = f.server.product_version;
  const major = sqlServerMajor(version);
  // Azure SQL Database has no BACKUP LOG; Managed Instance takes only COPY_ONLY backups to URL.
  if (f.server.engine_edition === 5 || f.server.engine_edition === 8)
    out.push({
      code: 'SOURCE_KIND_UNSUPPORTED',
      severity: 'error',
      message:
        `the source is ${f.server.edition}: ` +
        'DMS migrates SQL Server from native backup files, which it does not take',
    });
  if (major < MIN_SOURCE_MAJOR)
    out.push({
      code: 'SOURCE_VERSION_UNSUPPORTED',
      severity: 'error',
      message: `${releaseName(version)} is older than SQL Server 2008, the oldest whose backups Cloud SQL restores`,
    });
  if (j.targetMajor !== undefined && major > j.targetMajor)
    out.push({
      code: 'TARGET_OLDER_THAN_SOURCE',
      severity: 'error',
      message:
        `the source is ${releaseName(version)}; its backups cannot be restored ` +
        `onto the older target (major ${j.targetMajor})`,
    });
  const db = f.database;
  if (!db) {
    out.push({
      code: 'DATABASE_MISSING',
      severity: 'error',
      message: `database ${j.database} does not exist on the source`,
    });
    return out;
  }
  if (db.state_desc !== 'ONLINE')
    out.push({
      code: 'DATABASE_NOT_ONLINE',
      severity: 'error',
      message:
        `database ${db.name} is ${db.state_desc}` +
        (db.state_desc === 'RESTORING' ? ' (closed by a tail-log backup?)' : ''),
    });
  if (db.recovery_model_desc === 'SIMPLE')
    out.push({
      code: 'RECOVERY_MODEL_SIMPLE',
      severity: 'error',
      message:
        `database ${db.name} uses the SIMPLE recovery model: it has no log backups for DMS to apply ` +
        '(ALTER DATABASE ... SET RECOVERY FULL, then take a full backup)',
    });
  else if (db.recovery_model_desc === 'BULK_LOGGED')
    out.push({
      code: 'RECOVERY_MODEL_BULK_LOGGED',
      severity: 'warning',
      message:
        `database ${db.name} uses BULK_LOGGED: log backups holding bulk operations restore only whole; ` +
        'FULL is the model DMS documents',
    });
  if (db.is_encrypted || (db.encryption_state ?? 0) >= 2)
    out.push({
      code: 'TDE_ENCRYPTED',
      severity: 'error',
      message:
        `database ${db.name} uses transparent data encryption: its backups restore only where its ` +
        'certificate is imported, which this plan does not do',
    });
  const chain = readChain(f.chain);
  if (!chain.full)
    out.push({ code: 'FULL_BACKUP_NEVER_TAKEN', severity: 'error', message: `msdb has no full backup of ${db.name}` });
  else {
    if (chain.full.is_copy_only)
      out.push({
        code: 'FULL_BACKUP_COPY_ONLY',
        severity: 'info',
        message:
          `the newest full backup (${iso(chain.full.backup_start_date)}) is COPY_ONLY; ` +
          'log backups continue from it by LSN',
      });
    if (chain.gap)
      out.push({
        code: 'LOG_CHAIN_BROKEN',
        severity: 'error',
        message:
          `the log backup chain breaks after ${chain.gap.after}: the log backup of ` +
          `${iso(chain.gap.at.backup_start_date)} (${chain.gap.at.device ?? 'unknown device'}) does not ` +
          `continue it, ${chain.gap.why}. Take a new full backup`,
      });
    else if (!chain.logs.length)
      out.push({
        code: 'LOG_BACKUPS_NEVER_TAKEN',
        severity: 'warning',
        message:
          `no log backup of ${db.name} since the full backup of ${iso(chain.full.backup_start_date)}: ` +
          'schedule log backups so the target follows the source',
      });
  }
  if (chain.encrypted.length)
    out.push({
      code: 'ENCRYPTED_BACKUPS',
      severity: 'error',
      message:
        `${chain.encrypted.length} backup(s) of ${db.name} are encrypted ` +
        `(${chain.encrypted[0].key_algorithm ?? chain.encrypted[0].encryptor_type}): DMS needs the ` +
        'certificate and private key for them (encryptionOptions), which this plan does not carry',
    });
  if (chain.damaged.length)
    out.push({
      code: 'BACKUP_DAMAGED',
      severity: 'error',
      message: `${chain.damaged.length} backup(s) of ${db.name} are marked damaged in msdb`,
    });
  if (j.workerTakesTailLog) out.push(...tailLogFindings(f, j, db));
  return out;
}

/** What the worker needs to take the tail-log backup and to reopen the source if the promote fails. */
function tailLogFindings(f: SourceFacts, j: SourceJudgement, db: DatabaseRow): Finding[] {
  const out: Finding[] = [];
  const canRestore = !!f.server.is_sysadmin || !!f.server.is_dbcreator || db.is_owner === 1;
  const missing = [
    !db.can_backup_log && 'BACKUP LOG on the database',
    !canRestore && 'RESTORE (sysadmin, dbcreator or the database owner)',
    !f.server.can_kill && 'ALTER ANY CONNECTION (to end the sessions the backup needs exclusive access against)',
    !f.server.can_add_job && 'EXECUTE on msdb.dbo.sp_add_job (SQLAgentUserRole) for the reopen deadline',
  ].filter(Boolean);
  if (missing.length)
    out.push({
      code: 'TAIL_LOG_PRIVILEGES',
      severity: 'error',
      message: `the source user cannot take ${db.name}'s tail-log backup and reopen it: it lacks ${missing.join('; ')}`,
    });
  // The reopen deadline is an Agent job (tail-log-plan.ts): without a running Agent no deadline can
  // be armed on the server, and the worker never blocks without one (rule 2).
  const agent =
    f.server.engine_edition === 4
      ? 'not part of Express'
      : (f.server.agent_status ?? 'not visible (VIEW SERVER STATE?)');
  if (f.server.engine_edition === 4 || (f.server.agent_status ?? '') !== 'Running')
    out.push({
      code: 'AGENT_NOT_RUNNING',
      severity: 'error',
      message:
        `SQL Server Agent is ${agent}: ` +
        'the worker arms the source’s reopen deadline as an Agent job before it closes the source, so without one it ' +
        'cannot take the tail-log backup (set backups.tailLog: operator)',
    });
  if (j.tailLogTo === 'url' && !f.urlCredential)
    out.push({
      code: 'TAIL_LOG_CREDENTIAL_MISSING',
      severity: 'error',
      message:
        'the tail-log backup goes to the bucket by BACKUP TO URL (s3://storage.googleapis.com/<bucket>/...), ' +
        'which needs a ' +
        'server credential named for the bucket holding a Cloud Storage HMAC key (CREATE CREDENTIAL); none matches',
    });
  return out;
}
