// The cutover's final log backup of a SQL Server source, taken by the worker over TDS where it
// reaches the source (backups.tailLog 'worker'), in the order the safety rules need:
//
//   arm      the reopen deadline, an Agent job on the source scheduled before the deadline
//            (tail-log-sql.ts), created and read back BEFORE anything is closed (rule 2);
//   close    BACKUP LOG ... WITH NORECOVERY: the log not yet backed up goes to the bucket (or the
//            shipper's folder) and the database is RESTORING: no write can follow it;
//   record   msdb's row of that backup (its LSNs): the proof of what the target must apply;
// then, in the DMS side's cutover, once DMS has applied it:
//   disarm   the job disabled and deleted under the reopen lock; the promote may be asked for only
//            if the database is still RESTORING then (rule 1: nothing reopens it afterwards);
//   reopen   only when the promote is known refused (or never asked): RESTORE ... WITH RECOVERY,
//            then the job deleted (a reopen that fails leaves the job armed, so the deadline holds).
//
// Nothing is closed unless SQL Server Agent is running: the job is the deadline only if Agent runs
// it. A retry that finds the database RESTORING does not back up again (rule 5: past a close, resume
// forward): it reads the earlier attempt's backup from msdb and whether its job is still armed. A
// job still there means the promote was never asked (the disarm precedes it); a job gone means an
// earlier attempt disarmed it and may have asked (cutover/sqlserver-tail.ts settles that with DMS).
import { MigrationError } from '../../../../common/failures';
import type { DatabaseTask } from '../../../steps';
import { tailLogName } from './naming';
import type { SqlServerBackups } from './plan';
import { DATABASE_SQL, SERVER_SQL, type DatabaseRow, type ServerRow } from './tds-sql';
import { sqlServerMajor } from './tds-facts';
import type { TdsSession } from './tds-session';
import {
  AGENT_SLACK_MS,
  armSql,
  deviceOf,
  disarmSql,
  holdLockSql,
  jobStateSql,
  releaseLockSql,
  reopenIfArmedSql,
  type ReopenIfArmedRow,
  readArmed,
  readDisarm,
  reopenNames,
  reopenSql,
  TAIL_RECORD_SQL,
  tailLogBackupSql,
  tailLogDescription,
  tailLogDestination,
  type DisarmVerdict,
  type JobStateRow,
  type TailLogDestination,
  type TailRecordRow,
} from './tail-log-sql';

export interface TailLogRecord {
  database: string;
  /** The tail-log backup's object in the bucket (where DMS reads it). */
  objectName: string;
  destination: TailLogDestination;
  job: string;
  lock: string;
  takenAt: number;
  firstLsn: string;
  lastLsn: string;
  /** The deadline the reopen job was armed for (ms since the epoch). */
  deadline: number;
  /** Whether the reopen job exists on the server: the promote cannot have been asked while it does. */
  jobPresent: boolean;
  /** Whether it will fire: present, enabled, scheduled in the future, and SQL Server Agent running. */
  armed: boolean;
  /** When it fires, by this worker's clock (ms since the epoch), where armed. */
  reopenAt?: number;
  /** Why it is not armed, where it is not. */
  notArmedWhy?: string;
  /** An earlier attempt's close, found RESTORING. */
  resumed: boolean;
}

export interface TailLogOptions {
  /** The block's deadline (ms since the epoch), from the cutover's timeout. */
  deadline: number;
  /** The folder on the source the operator's shipper uploads from; default backups.tailLogDirectory. */
  directory?: string;
  now?: () => number;
}

/** The least time the close may hold before the reopen job fires: less is refused before anything is closed. */
export const MIN_BLOCK_MS = 30_000;

const one = async <T>(s: TdsSession, text: string, params: Record<string, string | number>) =>
  (await s.query<T>(text, params))[0];

/** Arms the deadline, closes the source with its tail-log backup, and answers the backup's record. */
export async function takeTailLogBackup(
  s: TdsSession,
  task: DatabaseTask,
  backups: SqlServerBackups,
  opts: TailLogOptions,
): Promise<TailLogRecord> {
  const now = opts.now ?? Date.now;
  const db = task.database.source.database;
  const { job, lock } = reopenNames(task.migrationId, db);
  const server = await one<ServerRow>(s, SERVER_SQL, {});
  const state = await one<DatabaseRow>(s, DATABASE_SQL, { db });
  if (!state) throw new MigrationError('NotFound', `database ${db} does not exist on the source`);
  if (state.state_desc === 'RESTORING') {
    const found = await resume(s, task, backups, { ...opts, agent: server.agent_status });
    if (!found)
      throw new MigrationError(
        'CutoverNotReady',
        `database ${db} is RESTORING, but not by a tail-log backup of this migration; dbmig leaves it as it is`,
      );
    return found;
  }
  if (state.state_desc !== 'ONLINE')
    throw new MigrationError('CutoverNotReady', `database ${db} is ${state.state_desc}; nothing was closed`);
  if (server.agent_status !== 'Running')
    throw new MigrationError(
      'CutoverNotReady',
      `SQL Server Agent is ${server.agent_status ?? 'not visible to the source user (VIEW SERVER STATE)'}: the ` +
        'reopen deadline is an Agent job, so the source cannot be closed with a deadline; nothing was closed',
    );
  const objectName = tailLogName(backups.prefix, db, now());
  const directory = opts.directory ?? backups.tailLogDirectory;
  const to = tailLogDestination(sqlServerMajor(server.product_version), backups.bucket, objectName, directory);
  if ('error' in to) throw new MigrationError('InvalidPlan', to.error);

  const left = opts.deadline - now();
  if (left - AGENT_SLACK_MS < MIN_BLOCK_MS)
    throw new MigrationError(
      'CutoverNotReady',
      `only ${Math.round(left / 1000)} s are left before the deadline; nothing was closed`,
    );
  // The worker's clock when the arm is sent: the job's schedule counts from the server's now then,
  // so the fire time read back is not later than this plus its seconds (the backup's length is not added).
  const armSentAt = now();
  let armed;
  try {
    armed = readArmed(
      await s.query<JobStateRow>(armSql(db, job, lock, (left - AGENT_SLACK_MS) / 1000), {}),
      left / 1000,
    );
  } catch (err) {
    await s.query(disarmSql(db, job, lock, 10_000), {}).catch(() => undefined);
    throw new MigrationError(
      'CutoverNotReady',
      `the reopen deadline could not be armed (${(err as Error).message}); nothing was closed`,
    );
  }
  if (!armed.armed) {
    await s.query(disarmSql(db, job, lock, 10_000), {}).catch(() => undefined);
    throw new MigrationError(
      'CutoverNotReady',
      `the reopen deadline could not be armed: ${armed.why}; nothing was closed`,
    );
  }
  try {
    await s.query(tailLogBackupSql(db, to, tailLogDescription(task.migrationId)), {});
  } catch (err) {
    // Read the failure by how far it got (rule 5): still ONLINE, nothing was closed.
    const after = await one<DatabaseRow>(s, DATABASE_SQL, { db }).catch(() => undefined);
    if (after?.state_desc === 'ONLINE') {
      await s.query(disarmSql(db, job, lock, 10_000), {}).catch(() => undefined);
      throw new MigrationError(
        'CutoverNotReady',
        `the tail-log backup failed (${(err as Error).message}); the source was not closed`,
      );
    }
    // RESTORING: the backup completed and only its answer was lost; anything else is unknown and
    // the armed job reopens the source at the deadline.
    if (after?.state_desc !== 'RESTORING') throw err;
  }
  const reopenAt = armSentAt + armed.secondsLeft * 1000;
  const job0 = { jobPresent: true, armed: true, reopenAt, resumed: false };
  return record(s, task, { job, lock, to, objectName, deadline: opts.deadline, ...job0 });
}

type RecordInput = Pick<
  TailLogRecord,
  'job' | 'lock' | 'objectName' | 'deadline' | 'jobPresent' | 'armed' | 'reopenAt' | 'notArmedWhy' | 'resumed'
> & { to: TailLogDestination };

async function record(s: TdsSession, task: DatabaseTask, r: RecordInput): Promise<TailLogRecord> {
  const db = task.database.source.database;
  const row = await one<TailRecordRow>(s, TAIL_RECORD_SQL, {
    db,
    device: deviceOf(r.to),
    description: tailLogDescription(task.migrationId),
  });
  if (!row)
    throw new MigrationError(
      'CutoverNotReady',
      `database ${db} is closed but msdb has no log backup to ${deviceOf(r.to)}; ` +
        'the reopen job reopens it at the deadline',
    );
  return {
    database: db,
    objectName: r.objectName,
    destination: r.to,
    job: r.job,
    lock: r.lock,
    takenAt: new Date(row.backup_finish_date).getTime(),
    firstLsn: row.first_lsn,
    lastLsn: row.last_lsn,
    deadline: r.deadline,
    jobPresent: r.jobPresent,
    armed: r.armed,
    ...(r.reopenAt !== undefined ? { reopenAt: r.reopenAt } : {}),
    ...(r.notArmedWhy ? { notArmedWhy: r.notArmedWhy } : {}),
    resumed: r.resumed,
  };
}

/** The newest log backup of the database and where it went, to resume an earlier attempt. */
const NEWEST_LOG_SQL = `
SELECT TOP (1) f.physical_device_name AS device, b.backup_finish_date, b.description
  FROM msdb.dbo.backupset AS b JOIN msdb.dbo.backupmediafamily AS f ON f.media_set_id = b.media_set_id
 WHERE b.database_name = @db AND b.type = 'L' ORDER BY b.backup_finish_date DESC`;

/**
 * The database is RESTORING: an earlier attempt's tail-log backup if msdb says it is ours (else
 * undefined), with whether its reopen job is still there and would still fire.
 */
async function resume(
  s: TdsSession,
  task: DatabaseTask,
  backups: SqlServerBackups,
  opts: TailLogOptions & { agent: string | null },
): Promise<TailLogRecord | undefined> {
  const now = opts.now ?? Date.now;
  const db = task.database.source.database;
  const { job, lock } = reopenNames(task.migrationId, db);
  const newest = await one<{ device: string; backup_finish_date: Date; description: string | null }>(
    s,
    NEWEST_LOG_SQL,
    { db },
  );
  // Ours only if msdb says so: the shipper's folder holds the regular log backups too.
  if (newest?.description !== tailLogDescription(task.migrationId)) return undefined;
  const file = newest?.device.slice(Math.max(newest.device.lastIndexOf('/'), newest.device.lastIndexOf('\\')) + 1);
  const objectName = file ? `${backups.prefix}log/${file}` : '';
  const to = newest && tailLogDestination(16, backups.bucket, objectName, opts.directory ?? backups.tailLogDirectory);
  if (!newest || !to || 'error' in to || deviceOf(to) !== newest.device) return undefined;
  const rows = await s.query<JobStateRow>(jobStateSql(job), {});
  const reading = readArmed(rows, Number.MAX_SAFE_INTEGER);
  const agentRuns = opts.agent === 'Running';
  const armed = reading.armed && agentRuns;
  const notArmedWhy = !reading.armed
    ? reading.why
    : agentRuns
      ? undefined
      : `SQL Server Agent is ${opts.agent ?? 'not visible to the source user'}, so the reopen job cannot fire`;
  return record(s, task, {
    job,
    lock,
    to,
    objectName,
    deadline: reading.armed ? now() + reading.secondsLeft * 1000 + AGENT_SLACK_MS : opts.deadline,
    jobPresent: rows.length > 0,
    armed,
    ...(reading.armed ? { reopenAt: now() + reading.secondsLeft * 1000 } : {}),
    ...(notArmedWhy ? { notArmedWhy } : {}),
    resumed: true,
  });
}

/**
 * Where the database is RESTORING by this migration's tail-log backup (an attempt that closed it
 * and did not finish): its record, for the compensation to settle; else undefined.
 */
export async function findTailLogClose(
  s: TdsSession,
  task: DatabaseTask,
  backups: SqlServerBackups,
  opts: { directory?: string; now?: () => number } = {},
): Promise<TailLogRecord | undefined> {
  const db = task.database.source.database;
  const state = await one<DatabaseRow>(s, DATABASE_SQL, { db });
  if (state?.state_desc !== 'RESTORING') return undefined;
  const server = await one<ServerRow>(s, SERVER_SQL, {});
  return resume(s, task, backups, { deadline: 0, ...opts, agent: server.agent_status });
}

/**
 * Before the promote: disarms the reopen job. 'closed' means the promote may be asked for;
 * 'reopened' that the deadline came first (the cutover fails, retryably, with replication running);
 * 'unknown' that the promote must not be asked for.
 */
export async function disarmBeforePromote(
  s: TdsSession,
  rec: TailLogRecord,
  lockTimeoutMs = 30_000,
): Promise<DisarmVerdict> {
  return readDisarm(
    await s.query<{ state_desc: string }>(disarmSql(rec.database, rec.job, rec.lock, lockTimeoutMs), {}),
  );
}

/**
 * The reopen of a close whose promote was never asked: only while the reopen job is still there,
 * in one batch under the reopen lock (tail-log-sql.ts reopenIfArmedSql). 'job-gone': another
 * attempt disarmed it and may be promoting; nothing was reopened.
 */
export async function reopenIfArmed(
  s: TdsSession,
  rec: TailLogRecord,
  lockTimeoutMs = 30_000,
): Promise<'reopened' | 'already-open' | 'job-gone'> {
  const row = await one<ReopenIfArmedRow>(s, reopenIfArmedSql(rec.database, rec.job, rec.lock, lockTimeoutMs), {});
  if (!row?.armed) return row?.state_desc === 'RESTORING' ? 'job-gone' : 'already-open';
  if (row.state_desc === 'RESTORING')
    throw new MigrationError(
      'CutoverInterrupted',
      `RESTORE DATABASE ${rec.database} WITH RECOVERY failed (${row.error ?? 'no error given'}); its reopen job ` +
        'is still armed and reopens it at the deadline',
    );
  return row.error ? 'already-open' : 'reopened';
}

/** Holds the reopen lock on this session until releaseLock (or the session ends); false if not granted. */
export async function holdLock(s: TdsSession, rec: TailLogRecord, timeoutMs: number): Promise<boolean> {
  const row = await one<{ got: number }>(s, holdLockSql(rec.lock, timeoutMs), {});
  return (row?.got ?? -1) >= 0;
}

export async function releaseLock(s: TdsSession, rec: TailLogRecord): Promise<void> {
  await s.query(releaseLockSql(rec.lock), {}).catch(() => undefined);
}

/** The database's state now, on this session (also: the session still answers). */
export async function databaseState(s: TdsSession, database: string): Promise<string | undefined> {
  return (await one<DatabaseRow>(s, DATABASE_SQL, { db: database }))?.state_desc;
}

/**
 * Reopens the source after a promote KNOWN not to have happened (refused, or never asked), by a
 * caller that holds the reopen lock or whose own disarm deleted the job. The
 * argument is the caller's statement of that knowledge: no other path reopens (rule 1).
 */
export async function reopenSource(
  s: TdsSession,
  rec: TailLogRecord,
  known: { promote: 'refused' | 'never-asked' },
): Promise<'reopened' | 'already-open'> {
  void known;
  let done: 'reopened' | 'already-open' = 'already-open';
  const state = await one<DatabaseRow>(s, DATABASE_SQL, { db: rec.database });
  if (state?.state_desc === 'RESTORING') {
    try {
      await s.query(reopenSql(rec.database), {});
      done = 'reopened';
    } catch (err) {
      // The job may have reopened it first (a RESTORE of an online database fails): read how far it
      // got. Still closed: the error stands, and the job, not yet deleted, keeps the deadline.
      const after = await one<DatabaseRow>(s, DATABASE_SQL, { db: rec.database }).catch(() => undefined);
      if (after?.state_desc !== 'ONLINE') throw err;
    }
  }
  // Deleted only once the source is open: a job left over after a reopen would do nothing (it
  // reopens only a RESTORING database), and the next close arms a new one of the same name.
  await s.query(disarmSql(rec.database, rec.job, rec.lock, 30_000), {});
  return done;
}

/** What the operator is told to do where the worker does not take the tail-log backup itself. */
export function operatorTailLogInstructions(db: string, backups: SqlServerBackups, at: number): string {
  const name = tailLogName(backups.prefix, db, at);
  return (
    `take the final log backup of ${db} and close it: ` +
    `BACKUP LOG [${db}] TO DISK = '<folder>\\${name.split('/').pop()}' ` +
    `WITH NORECOVERY; then upload it as gs://${backups.bucket}/${name} (any name the job's backupFilePattern orders ` +
    'after the other log backups). The cutover promotes once DMS has applied it.'
  );
}
