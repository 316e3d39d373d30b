// The T-SQL of the cutover's tail-log backup and of the source's reopening, and the reading of
// what the server answers. Pure (tail-log.ts runs it). Why each piece is the way it is:
//
// - The tail-log backup is `BACKUP LOG db TO ... WITH NORECOVERY`: it backs up the log not yet
//   backed up and leaves the database RESTORING, so no write can follow it
//   (https://learn.microsoft.com/sql/relational-databases/backup-restore/tail-log-backups-sql-server).
//   It needs exclusive access (error 3101 otherwise), so the same server-side batch ends the
//   database's other sessions and backs up at once, retried within the batch while a session slips
//   in. Not SINGLE_USER: that setting is logged, would be restored onto the target with the tail,
//   and would have to be undone on both sides.
// - Where it is written: SQL Server 2022 writes straight into the bucket with BACKUP TO URL on an
//   S3-compatible endpoint
//   (https://learn.microsoft.com/sql/relational-databases/backup-restore/sql-server-backup-to-url-s3-compatible-object-storage;
//   Cloud Storage answers S3 requests signed with an HMAC key, https://cloud.google.com/storage/docs/interoperability),
//   with a server credential the operator created: the worker never holds the key. Older versions
//   write to a folder on the source (`backups.tailLogDirectory`) that the operator's shipper already
//   uploads log backups from; the worker waits for the file to reach the bucket.
// - Rule 2 (never blocked past a deadline armed before the block): the deadline is a SQL Server
//   Agent job, created and scheduled BEFORE the backup, that runs RESTORE DATABASE ... WITH RECOVERY
//   (which brings the database back online with every committed write; the tail stays a valid log
//   backup, so the chain DMS reads continues) unless it was disarmed. It runs on the server whatever
//   happens to the worker.
// - Rule 1 (never reopened after the target took over): the worker disarms the job before it asks
//   DMS to promote, and promotes only if the database is still RESTORING once disarmed. Job and
//   worker serialise on an application lock (sp_getapplock,
//   https://learn.microsoft.com/sql/relational-databases/system-stored-procedures/sp-getapplock-transact-sql),
//   and the job reopens only while it is still enabled, so a job that fires during the disarm either
//   reopened first (the worker sees ONLINE and does not promote) or finds itself disabled.
//   Agent schedules are in the server's local time and checked about every 20 s, so the job is
//   scheduled from the server's own clock (DATEADD on GETDATE()) AGENT_SLACK_MS before the deadline.
// T-SQL as SQL Server 2008 has it (the oldest source): RAISERROR rather than THROW (2012+).
import { TAIL_LOG_BUDGET } from '../../../../common/plan-sqlserver';
import { literal, quoteName } from './tds-sql';

/** How early the reopen job is scheduled before the deadline: Agent's schedule granularity and a margin. */
export const AGENT_SLACK_MS = TAIL_LOG_BUDGET.agentSlackMs;

export type TailLogDestination = { kind: 'url'; url: string } | { kind: 'disk'; path: string };

/** Where the tail-log backup is written, by the server's version and the plan. */
export function tailLogDestination(
  major: number,
  bucket: string,
  objectName: string,
  directory?: string,
): TailLogDestination | { error: string } {
  const file = objectName.slice(objectName.lastIndexOf('/') + 1);
  if (directory) {
    const sep = directory.includes('\\') ? '\\' : '/';
    return { kind: 'disk', path: `${directory.replace(/[\\/]+$/, '')}${sep}${file}` };
  }
  if (major >= 16) return { kind: 'url', url: `s3://storage.googleapis.com/${bucket}/${objectName}` };
  return {
    error:
      'SQL Server before 2022 cannot write a backup to Cloud Storage itself: ' +
      'set backups.tailLogDirectory (the folder ' +
      'on the source your log backup shipper uploads from) or backups.tailLog: operator',
  };
}

/** The Agent job's and the lock's names: one per migration and database, so a retry finds them. */
export function reopenNames(migrationId: string, database: string): { job: string; lock: string } {
  const tag = `${migrationId}-${database}`.slice(0, 100);
  return { job: `dbmig-reopen-${tag}`, lock: `dbmig-reopen-${tag}`.slice(0, 255) };
}

const lockSql = (lock: string, timeoutMs: number) =>
  `DECLARE @got int; EXEC @got = sp_getapplock @Resource = ${literal(lock)}, @LockMode = N'Exclusive', ` +
  `@LockOwner = N'Session', @LockTimeout = ${Math.max(0, Math.floor(timeoutMs))};`;
const unlockSql = (lock: string) => `EXEC sp_releaseapplock @Resource = ${literal(lock)}, @LockOwner = N'Session';`;

/** The reopen, as the worker runs it and as the Agent job's step runs it. */
export function reopenSql(database: string): string {
  return `RESTORE DATABASE ${quoteName(database)} WITH RECOVERY;`;
}

/** The Agent job's step: reopen under the lock, only while the job is enabled and the database closed. */
export function reopenStepSql(database: string, job: string, lock: string): string {
  return [
    'SET NOCOUNT ON;',
    lockSql(lock, 10 * 60_000),
    `IF @got >= 0 AND EXISTS (SELECT 1 FROM msdb.dbo.sysjobs WHERE name = ${literal(job)} AND enabled = 1)`,
    `   AND EXISTS (SELECT 1 FROM sys.databases WHERE name = ${literal(database)} AND state_desc = N'RESTORING')`,
    `  ${reopenSql(database)}`,
    unlockSql(lock),
  ].join('\n');
}

/**
 * Creates the reopen job, scheduled once `secondsFromNow` seconds after the SERVER's now, and
 * answers its schedule as the server stored it. An existing job of that name (an earlier attempt)
 * is replaced: its schedule was for an earlier deadline.
 */
export function armSql(database: string, job: string, lock: string, secondsFromNow: number): string {
  return [
    'SET NOCOUNT ON;',
    `IF EXISTS (SELECT 1 FROM msdb.dbo.sysjobs WHERE name = ${literal(job)})`,
    `  EXEC msdb.dbo.sp_delete_job @job_name = ${literal(job)};`,
    `DECLARE @at datetime = DATEADD(second, ${Math.floor(secondsFromNow)}, GETDATE());`,
    'DECLARE @d int = CONVERT(int, CONVERT(char(8), @at, 112));',
    'DECLARE @t int = DATEPART(hour, @at) * 10000 + DATEPART(minute, @at) * 100 + DATEPART(second, @at);',
    `EXEC msdb.dbo.sp_add_job @job_name = ${literal(job)}, @enabled = 1, ` +
      "@description = N'dbmig: reopens the database its tail-log backup closed " +
      "if the cutover has not promoted by the deadline';",
    `EXEC msdb.dbo.sp_add_jobstep @job_name = ${literal(job)}, @step_name = N'reopen', @subsystem = N'TSQL', ` +
      `@database_name = N'master', @command = ${literal(reopenStepSql(database, job, lock))};`,
    `EXEC msdb.dbo.sp_add_jobschedule @job_name = ${literal(job)}, @name = ${literal(job)}, @freq_type = 1, ` +
      '@active_start_date = @d, @active_start_time = @t;',
    `EXEC msdb.dbo.sp_add_jobserver @job_name = ${literal(job)};`,
    jobStateSql(job),
  ].join('\n');
}

/** The job as the server has it: enabled, and when it runs (local date and time, as Agent keeps them). */
export function jobStateSql(job: string): string {
  return (
    'SELECT j.enabled, s.active_start_date, s.active_start_time, DATEDIFF(second, GETDATE(), ' +
    // Agent keeps the start as yyyymmdd and hhmmss integers (sysschedules); the date-time is rebuilt
    // here rather than with the undocumented msdb.dbo.agent_datetime.
    'DATEADD(second, (s.active_start_time / 10000) * 3600 + (s.active_start_time / 100 % 100) * 60 + ' +
    's.active_start_time % 100, CONVERT(datetime, CONVERT(char(8), s.active_start_date), 112))) AS seconds_left ' +
    'FROM msdb.dbo.sysjobs AS j JOIN msdb.dbo.sysjobschedules AS js ON js.job_id = j.job_id ' +
    `JOIN msdb.dbo.sysschedules AS s ON s.schedule_id = js.schedule_id WHERE j.name = ${literal(job)};`
  );
}

export interface JobStateRow {
  enabled: number;
  active_start_date: number;
  active_start_time: number;
  seconds_left: number;
}

export type ArmedReading = { armed: true; secondsLeft: number } | { armed: false; why: string };

/** Armed: exactly one enabled schedule, due before the deadline and not already past. */
export function readArmed(rows: JobStateRow[], secondsToDeadline: number): ArmedReading {
  if (rows.length !== 1) return { armed: false, why: `the reopen job has ${rows.length} schedules, not 1` };
  const r = rows[0];
  if (!r.enabled) return { armed: false, why: 'the reopen job is disabled' };
  if (r.seconds_left <= 0) return { armed: false, why: 'the reopen job is scheduled in the past' };
  if (r.seconds_left > secondsToDeadline)
    return { armed: false, why: `the reopen job runs in ${r.seconds_left} s, after the deadline` };
  return { armed: true, secondsLeft: r.seconds_left };
}

/**
 * The tail-log backup: the database's other sessions ended and the log backed up WITH NORECOVERY
 * in one batch; error 3101 (exclusive access could not be obtained: a session connected in
 * between) is retried `attempts` times. Any other error ends the batch.
 */
/** The backup's description in msdb: how a retry tells this migration's tail-log backup from any other. */
export const tailLogDescription = (migrationId: string): string => `dbmig tail-log ${migrationId}`.slice(0, 255);

export function tailLogBackupSql(database: string, to: TailLogDestination, description: string, attempts = 20): string {
  const target = to.kind === 'url' ? `URL = ${literal(to.url)}` : `DISK = ${literal(to.path)}`;
  const compression = to.kind === 'url' ? ', COMPRESSION' : '';
  return [
    'SET NOCOUNT ON;',
    `DECLARE @try int = 0, @kill nvarchar(max), @err nvarchar(2048), @num int;`,
    `WHILE 1 = 1 BEGIN`,
    `  SET @try += 1; SET @kill = N'';`,
    `  SELECT @kill += N'KILL ' + CAST(session_id AS nvarchar(10)) + N'; ' FROM sys.dm_exec_sessions`,
    `   WHERE database_id = DB_ID(${literal(database)}) AND session_id <> @@SPID AND is_user_process = 1;`,
    `  EXEC (@kill);`,
    `  BEGIN TRY`,
    `    BACKUP LOG ${quoteName(database)} TO ${target} WITH NORECOVERY, CHECKSUM${compression}, ` +
      `DESCRIPTION = ${literal(description)};`,
    `    BREAK;`,
    `  END TRY`,
    `  BEGIN CATCH`,
    `    IF ERROR_NUMBER() <> 3101 OR @try >= ${attempts} BEGIN`,
    `      SET @err = ERROR_MESSAGE(); SET @num = ERROR_NUMBER();`,
    `      RAISERROR(N'BACKUP LOG failed (error %d): %s', 16, 1, @num, @err);`,
    `      RETURN;`,
    `    END`,
    `    WAITFOR DELAY '00:00:00.100';`,
    `  END CATCH`,
    `END`,
  ].join('\n');
}

/**
 * Disarms the reopen job under the lock and answers the database's state then: RESTORING means
 * still closed by the tail-log backup (the promote may be asked for), ONLINE that the deadline
 * reopened it first.
 */
export function disarmSql(database: string, job: string, lock: string, lockTimeoutMs: number): string {
  return [
    'SET NOCOUNT ON;',
    lockSql(lock, lockTimeoutMs),
    `IF @got < 0 BEGIN RAISERROR(N'dbmig: the reopen lock was not granted in time', 16, 1); RETURN; END`,
    `IF EXISTS (SELECT 1 FROM msdb.dbo.sysjobs WHERE name = ${literal(job)}) BEGIN`,
    `  EXEC msdb.dbo.sp_update_job @job_name = ${literal(job)}, @enabled = 0;`,
    `  EXEC msdb.dbo.sp_delete_job @job_name = ${literal(job)};`,
    `END`,
    `SELECT state_desc FROM sys.databases WHERE name = ${literal(database)};`,
    unlockSql(lock),
  ].join('\n');
}

export type DisarmVerdict = 'closed' | 'reopened' | 'unknown';

export function readDisarm(rows: { state_desc: string }[]): DisarmVerdict {
  const state = rows[0]?.state_desc;
  return state === 'RESTORING' ? 'closed' : state === 'ONLINE' ? 'reopened' : 'unknown';
}

/** The tail-log backup as msdb recorded it: the newest log backup written to our destination. */
export const TAIL_RECORD_SQL = `
SELECT TOP (1) b.backup_start_date, b.backup_finish_date, CAST(b.first_lsn AS nvarchar(40)) AS first_lsn,
       CAST(b.last_lsn AS nvarchar(40)) AS last_lsn, b.begins_log_chain, b.has_incomplete_metadata
  FROM msdb.dbo.backupset AS b JOIN msdb.dbo.backupmediafamily AS f ON f.media_set_id = b.media_set_id
 WHERE b.database_name = @db AND b.type = 'L' AND f.physical_device_name = @device AND b.description = @description
 ORDER BY b.backup_finish_date DESC`;

export interface TailRecordRow {
  backup_start_date: Date;
  backup_finish_date: Date;
  first_lsn: string;
  last_lsn: string;
}

/** The device name msdb records for a destination (the URL or the file path as written). */
export const deviceOf = (to: TailLogDestination): string => (to.kind === 'url' ? to.url : to.path);

/**
 * Takes the reopen lock for this session and keeps it across batches (released by releaseLockSql
 * or when the session ends): the worker holds it from the disarm until DMS's answer to its promote
 * is known, so no other attempt's reopen can run in between. Answers the lock's grant (>= 0).
 */
export function holdLockSql(lock: string, timeoutMs: number): string {
  return ['SET NOCOUNT ON;', lockSql(lock, timeoutMs), 'SELECT @got AS got;'].join('\n');
}

export function releaseLockSql(lock: string): string {
  return ['SET NOCOUNT ON;', unlockSql(lock)].join('\n');
}

/**
 * The reopen of a close whose promote was never asked, in ONE batch under the reopen lock: only
 * while the job is still there (the disarm, which precedes any promote, deletes it) and the
 * database RESTORING; the job is deleted only once the database is open. Answers the state after
 * it and whether the job was there: a job gone means another attempt disarmed it and may promote.
 */
export function reopenIfArmedSql(database: string, job: string, lock: string, lockTimeoutMs: number): string {
  const jobThere = `EXISTS (SELECT 1 FROM msdb.dbo.sysjobs WHERE name = ${literal(job)})`;
  return [
    'SET NOCOUNT ON;',
    lockSql(lock, lockTimeoutMs),
    `IF @got < 0 BEGIN RAISERROR(N'dbmig: the reopen lock was not granted in time', 16, 1); RETURN; END`,
    `DECLARE @armed bit = CASE WHEN ${jobThere} THEN 1 ELSE 0 END, @err nvarchar(2048);`,
    `IF @armed = 1 AND EXISTS (SELECT 1 FROM sys.databases WHERE name = ${literal(database)} ` +
      `AND state_desc = N'RESTORING')`,
    `  BEGIN TRY ${reopenSql(database)} END TRY BEGIN CATCH SET @err = ERROR_MESSAGE(); END CATCH`,
    `IF @armed = 1 AND NOT EXISTS (SELECT 1 FROM sys.databases WHERE name = ${literal(database)} ` +
      `AND state_desc = N'RESTORING') BEGIN`,
    `  EXEC msdb.dbo.sp_update_job @job_name = ${literal(job)}, @enabled = 0;`,
    `  EXEC msdb.dbo.sp_delete_job @job_name = ${literal(job)};`,
    `END`,
    `SELECT state_desc, @armed AS armed, @err AS error FROM sys.databases WHERE name = ${literal(database)};`,
    unlockSql(lock),
  ].join('\n');
}

export interface ReopenIfArmedRow {
  state_desc: string;
  armed: boolean | number;
  error: string | null;
}
