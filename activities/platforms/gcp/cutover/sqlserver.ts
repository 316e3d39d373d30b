// The cutover of a SQL Server database (engine sqlserver): DMS restores backups, so the last write
// reaches the target in the final transaction log backup, the TAIL-LOG backup (BACKUP LOG ... WITH
// NORECOVERY: it leaves the source database RESTORING, so it takes no write after it). Google's
// procedure: "stop all writes ... upload the last transaction log file ... determine when Database
// Migration Service processed all files ... promote"
// (https://cloud.google.com/database-migration/docs/sqlserver/finalize-migration).
//
//   gate      the job is RUNNING in CDC and the database's object restores log backups (CDC or
//             READY_FOR_PROMOTE; dms/sqlserver-objects.ts).
//   tail log  backups.tailLog worker: the worker closes the source with it over TDS, under a
//             deadline armed on the source first, and promotes once DMS restored it
//             (sqlserver-tail.ts). operator: the approval says the operator did (announced in the
//             progress line, and in the docs' runbook), as dms-only says the writes were stopped.
//   restored  operator: the object must be READY_FOR_PROMOTE (every uploaded backup restored) with
//             its updateTime at or after the newest log backup's upload in the bucket
//             (deps.newestLogBackupAt); without it, READY_FOR_PROMOTE read twice settleMs apart,
//             unchanged (sqlserver-restored.ts). Waited for until cutover.timeout, then
//             CutoverNotReady (nothing promoted; retry).
//   promote   the target is marked as taken over, then migrationJobs.promote: the point of no return.
//
// Past it, a retry only finishes the promote; with the worker's tail log it first makes sure no
// reopen job is left on the source (rule 1), and a source found ONLINE after DMS promoted (a promote
// by hand) is a failure naming the gap.
import { cutoverLimits } from '../../../../common/plan-settings';
import { MigrationError } from '../../../../common/failures';
import { type DatabaseTask } from '../../../steps';
import { disarmSql, reopenNames } from '../sqlserver/tail-log-sql';
import { describeJob, finishPromoted, promoted, promoteOrSeePromoted, type GcpCutoverDeps } from './dms';
import { fenceJob } from './fence';
import { waitRestored, type ObjectReading } from './sqlserver-restored';
import { settleTailLogClose, workerTailLogCutover, type TailLogPort } from './sqlserver-tail';

export type { ObjectReading } from './sqlserver-restored';
export type { TailLogPort } from './sqlserver-tail';

type Progress = (step: string) => void;

export interface SqlServerCutoverDeps {
  /** The database's job object (migrationJobs.objects.list). */
  databaseObject(): Promise<ObjectReading | undefined>;
  /** The source over TDS and the bucket, where the worker takes the tail-log backup (backups.tailLog worker). */
  tailLog?: TailLogPort;
  /** When the newest transaction log backup in the bucket was written, when the bucket can be read. */
  newestLogBackupAt?(): Promise<Date | undefined>;
  /** The fallback's interval between two READY_FOR_PROMOTE reads (default 60 s). */
  settleMs?: number;
}

const RESTORING_LOGS = new Set(['CDC', 'READY_FOR_PROMOTE']);

/** The dry run's words for this cutover. */
export function sqlServerPromoteDetail(task: DatabaseTask): string {
  const b = task.database.backups;
  const where = b ? `gs://${b.bucket}/${b.prefix}log/` : 'the log folder';
  return b?.tailLog === 'worker'
    ? 'the worker arms a reopen deadline (a SQL Server Agent job), takes the tail-log backup WITH NORECOVERY into ' +
        `${where}, and promotes once DMS shows the database READY_FOR_PROMOTE after it (migrationJobs.objects.list)`
    : `the operator takes (before approving) the tail-log backup WITH NORECOVERY into ${where}; promotes once DMS ` +
        'shows the database READY_FOR_PROMOTE after it (migrationJobs.objects.list)';
}

export async function sqlServerCutover(
  task: DatabaseTask,
  deps: GcpCutoverDeps & Partial<SqlServerCutoverDeps>,
  progress: Progress,
): Promise<number> {
  if (!deps.databaseObject) throw new Error('sqlServerCutover: the platform passes no databaseObject reader');
  const reader = { ...deps, databaseObject: deps.databaseObject };
  const b = task.database.backups!;
  const worker = b.tailLog === 'worker';
  if (worker && !deps.tailLog)
    throw new MigrationError(
      'PlatformUnavailable',
      `not cutting over ${task.database.name}: this worker cannot take the tail-log backup over TDS; ` +
        'nothing was done. Set backups.tailLog: operator and take it by hand',
    );
  const job = await deps.jobState();
  let blockMs = 0;
  let done = promoted(job);
  if (!done) {
    try {
      await gate(task, job, reader);
    } catch (err) {
      // A refusal must not leave behind a close an earlier attempt made (rule 5: settle it first).
      if (!worker) throw err;
      const settled = await settleOwnClose(task, deps, deps.tailLog!, progress);
      if (settled === 'reopened')
        throw new MigrationError(
          'CutoverNotReady',
          `${(err as Error).message.replace(/; nothing was done$/, '')}; an earlier attempt had closed ` +
            `${task.database.source.database} with its tail-log backup and DMS did not promote: it was reopened`,
        );
      if (settled !== 'promoted') throw err;
      done = true;
    }
  }
  if (!done) {
    if (worker) blockMs = await workerTailLogCutover(task, { ...reader, tailLog: deps.tailLog! }, progress);
    else {
      const where = `gs://${b.bucket}/${b.prefix}log/`;
      const after = await deps.newestLogBackupAt?.();
      progress(
        `backups.tailLog is operator: the tail-log backup (BACKUP LOG [${task.database.source.database}] ... WITH ` +
          `NORECOVERY) must already be in ${where}; waiting for DMS to restore every uploaded backup` +
          (after ? ` (the newest is from ${after.toISOString()})` : ''),
      );
      await waitRestored(task, reader, after, Date.now() + cutoverLimits(task.settings).timeoutMs, progress);
      await deps.markTookOver?.();
      progress('every backup restored: promoting (the point of no return)');
      await promoteOrSeePromoted(deps);
    }
  } else if (worker) await noReopenAfterPromote(task, deps.tailLog!, progress);
  await finishPromoted(deps);
  return blockMs;
}

/** Before anything is closed: the job replicates, and the database's object restores log backups. */
async function gate(
  task: DatabaseTask,
  job: { state: string; phase?: string },
  reader: { databaseObject(): Promise<ObjectReading | undefined> },
): Promise<void> {
  if (job.state !== 'RUNNING' || !RESTORING_LOGS.has(job.phase ?? ''))
    throw new MigrationError(
      'CutoverNotReady',
      `not cutting over: DMS job ${fenceJob(task)} is ${describeJob(job)}, not RUNNING/CDC; nothing was done`,
    );
  const first = await reader.databaseObject();
  if (!first || !RESTORING_LOGS.has(first.phase ?? ''))
    throw new MigrationError(
      'CutoverNotReady',
      `not cutting over: database ${task.database.source.database} is ${first?.phase ?? 'not listed'} in DMS, ` +
        'not restoring log backups yet; nothing was done',
    );
}

/** An earlier attempt's close of the source, settled (cutover/sqlserver-tail.ts settleTailLogClose). */
async function settleOwnClose(
  task: DatabaseTask,
  deps: GcpCutoverDeps,
  port: TailLogPort,
  progress: Progress,
): Promise<'promoted' | 'reopened' | 'none'> {
  const s = await port.open();
  try {
    return await settleTailLogClose(task, deps, s, progress);
  } finally {
    await s.close();
  }
}

/**
 * DMS promoted (this attempt's promote, an earlier one's, or a person's): no reopen job of this
 * migration may stay on the source (rule 1), and a source that is ONLINE now took writes DMS will
 * never restore.
 */
async function noReopenAfterPromote(task: DatabaseTask, port: TailLogPort, progress: Progress): Promise<void> {
  const db = task.database.source.database;
  const { job, lock } = reopenNames(task.migrationId, db);
  let state: string | undefined;
  try {
    const s = await port.open();
    try {
      const rows = await s.query<{ state_desc: string }>(disarmSql(db, job, lock, 30_000), {});
      state = rows[0]?.state_desc;
    } finally {
      await s.close();
    }
  } catch (err) {
    throw new MigrationError(
      'CutoverIncomplete',
      `DMS accepted the promote (the point of no return), but the source could not be read to make sure no ` +
        `reopen job is left on it (${(err as Error).message}): a retry resumes`,
    );
  }
  if (state === 'ONLINE')
    throw new MigrationError(
      'TargetVerificationFailed',
      `DMS promoted while ${db} was ONLINE on the source (a promote by hand, before the tail-log backup): writes ` +
        'committed on the source after the last log backup DMS restored are on the source only. The target is the ' +
        'database of record: compare the two and carry the missing writes by hand',
    );
  progress(`DMS promoted; ${db} is ${state ?? 'not found'} on the source and no reopen job is left`);
}
