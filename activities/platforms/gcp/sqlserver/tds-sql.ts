// The T-SQL the worker sends a SQL Server source, and the rows it reads back, kept apart from the
// code that interprets them (tds-facts.ts, tail-log-plan.ts) so that interpretation is tested on
// realistic rows without a server. Every value a statement takes is a parameter (@db, ...) except
// identifiers and the literals of an Agent job's command, which are quoted by quoteName/literal.
// Catalog references: sys.databases, sys.dm_database_encryption_keys, sys.dm_server_services,
// sys.credentials (https://learn.microsoft.com/sql/relational-databases/system-catalog-views/),
// msdb.dbo.backupset and backupmediafamily
// (https://learn.microsoft.com/sql/relational-databases/system-tables/backupset-transact-sql).

/** [name] with ] doubled, as QUOTENAME does: https://learn.microsoft.com/sql/t-sql/functions/quotename-transact-sql */
export const quoteName = (name: string): string => `[${name.replace(/]/g, ']]')}]`;
/** N'text' with ' doubled. */
export const literal = (text: string): string => `N'${text.replace(/'/g, "''")}'`;

export const SERVER_SQL = `
SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS product_version,
       CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition,
       CAST(SERVERPROPERTY('EngineEdition') AS int) AS engine_edition,
       IS_SRVROLEMEMBER('sysadmin') AS is_sysadmin,
       IS_SRVROLEMEMBER('dbcreator') AS is_dbcreator,
       HAS_PERMS_BY_NAME(NULL, NULL, 'ALTER ANY CONNECTION') AS can_kill,
       HAS_PERMS_BY_NAME('msdb.dbo.sp_add_job', 'OBJECT', 'EXECUTE') AS can_add_job,
       (SELECT TOP (1) status_desc FROM sys.dm_server_services
         WHERE servicename LIKE N'SQL Server Agent%') AS agent_status`;

export interface ServerRow {
  product_version: string;
  edition: string;
  /** 2 Standard, 3 Enterprise/Developer, 4 Express (no Agent), 5 Azure SQL Database, 8 Managed Instance. */
  engine_edition: number;
  is_sysadmin: number | null;
  is_dbcreator: number | null;
  /** KILL (ending the database's other sessions before the tail-log backup). */
  can_kill: number | null;
  /** Creating the Agent job that is the reopen deadline (SQLAgentUserRole in msdb, or sysadmin). */
  can_add_job: number | null;
  /** 'Running', 'Stopped', ...; null without VIEW SERVER STATE or where no Agent service exists. */
  agent_status: string | null;
}

export const DATABASE_SQL = `
SELECT d.name, d.state_desc, d.recovery_model_desc, d.user_access_desc, d.is_read_only, d.is_encrypted,
       k.encryption_state,
       HAS_PERMS_BY_NAME(d.name, 'DATABASE', 'BACKUP LOG') AS can_backup_log,
       CASE WHEN d.owner_sid = SUSER_SID() THEN 1 ELSE 0 END AS is_owner
  FROM sys.databases AS d
  LEFT JOIN sys.dm_database_encryption_keys AS k ON k.database_id = d.database_id
 WHERE d.name = @db`;

export interface DatabaseRow {
  name: string;
  /** ONLINE, RESTORING, RECOVERING, OFFLINE, ... */
  state_desc: string;
  /** FULL, BULK_LOGGED, SIMPLE */
  recovery_model_desc: string;
  /** MULTI_USER, SINGLE_USER, RESTRICTED_USER */
  user_access_desc: string;
  is_read_only: boolean;
  /** Transparent data encryption is on (or being turned on). */
  is_encrypted: boolean;
  /** sys.dm_database_encryption_keys: 3 encrypted, 2 encryption in progress; null: no key or no VIEW SERVER STATE. */
  encryption_state: number | null;
  can_backup_log: number | null;
  is_owner: number;
}

/**
 * The backups of the database since (and including) its newest full backup that is not copy-only
 * or, failing that, its newest full backup of any kind; one row per backup set (a striped backup
 * has several media families: their count is `families`).
 */
export const BACKUP_CHAIN_SQL = `
WITH newest_full AS (
  SELECT TOP (1) backup_set_id, backup_start_date
    FROM msdb.dbo.backupset
   WHERE database_name = @db AND type = 'D'
   ORDER BY is_copy_only ASC, backup_start_date DESC)
SELECT TOP (500) b.backup_set_id, b.type, b.is_copy_only, b.backup_start_date, b.backup_finish_date,
       CAST(b.first_lsn AS nvarchar(40)) AS first_lsn, CAST(b.last_lsn AS nvarchar(40)) AS last_lsn,
       CAST(b.checkpoint_lsn AS nvarchar(40)) AS checkpoint_lsn,
       CAST(b.database_backup_lsn AS nvarchar(40)) AS database_backup_lsn,
       b.key_algorithm, b.encryptor_type, b.is_damaged,
       (SELECT COUNT(*) FROM msdb.dbo.backupmediafamily AS f WHERE f.media_set_id = b.media_set_id) AS families,
       (SELECT TOP (1) f.physical_device_name FROM msdb.dbo.backupmediafamily AS f
         WHERE f.media_set_id = b.media_set_id ORDER BY f.family_sequence_number) AS device
  FROM msdb.dbo.backupset AS b, newest_full AS n
 WHERE b.database_name = @db AND b.backup_start_date >= n.backup_start_date
 ORDER BY b.backup_start_date, b.backup_set_id`;

export interface BackupSetRow {
  backup_set_id: number;
  /** D full, I differential, L log. */
  type: 'D' | 'I' | 'L' | string;
  is_copy_only: boolean;
  backup_start_date: Date;
  backup_finish_date: Date;
  /** numeric(25,0) LSNs, as text: they exceed a double's exact range. */
  first_lsn: string;
  last_lsn: string;
  checkpoint_lsn: string;
  database_backup_lsn: string;
  /** Backup encryption (BACKUP ... WITH ENCRYPTION): AES_256, ...; null when not encrypted. */
  key_algorithm: string | null;
  encryptor_type: string | null;
  is_damaged: boolean;
  families: number;
  device: string | null;
}

/** A server credential whose name is a prefix of the URL: BACKUP TO URL picks it by that. */
export const URL_CREDENTIAL_SQL = `
SELECT TOP (1) name FROM sys.credentials
 WHERE @url LIKE REPLACE(REPLACE(REPLACE(name, '[', '[[]'), '%', '[%]'), '_', '[_]') + N'%'
 ORDER BY LEN(name) DESC`;
