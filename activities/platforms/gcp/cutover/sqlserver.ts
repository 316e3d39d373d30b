// The cutover of a SQL Server database (engine sqlserver): DMS restores backups, so the last write
// reaches the target in the final transaction log backup, the TAIL-LOG backup (BACKUP LOG ... WITH
// NORECOVERY: it leaves the source database RESTORING, so it takes no write after it). Google's
// procedure: "stop all writes ... upload the last transaction log file ... determine when Database
// Migration Service processed all files ... promote"
// (https://cloud.google.com/database-migration/docs/sqlserver/finalize-migration).
//
//   gate      the job is RUNNING in CDC and the database's object restores log backups (CDC or
//             READY_FOR_PROMOTE; dms/sqlserver-objects.ts).
//   tail log  backups.tailLog worker: the worker takes it over TDS and uploads it (deps.takeTailLog);
//             operator: the approval says the operator did (announced in the progress line, and
//             in the docs' runbook), as dms-only says the writes were stopped.
//   restored  the object must be READY_FOR_PROMOTE (every uploaded backup restored) after the tail
//             log reached the bucket: its updateTime at or after the tail-log backup's upload (the
//             worker's, or the newest log backup in the bucket where deps.newestLogBackupAt reads
//             it); without either, READY_FOR_PROMOTE read twice settleMs apart, unchanged. Waited
//             for until cutover.timeout, then CutoverNotReady (nothing promoted; retry).
//   promote   the target is marked as taken over, then migrationJobs.promote: the point of no return.
import { formatDuration } from '../../../../common/durations';
import { cutoverLimits } from '../../../../common/plan';
import { MigrationError } from '../../../../common/failures';
import { type DatabaseTask } from '../../../steps';
import { describeJob, finishPromoted, promoted, promoteOrSeePromoted, type GcpCutoverDeps } from './dms';
import { fenceJob } from './fence';

type Progress = (step: string) => void;

/** The database's MigrationJobObject, as the cutover reads it. */
export interface ObjectReading {
  state?: string;
  phase?: string;
  updateTime?: string;
}

/** A tail-log backup the worker took and uploaded. */
export interface TailLogBackup {
  /** The object's name in the bucket. */
  object: string;
  /** When it was in the bucket (its upload finished). */
  uploadedAt: Date;
}

export interface SqlServerCutoverDeps {
  /** The database's job object (migrationJobs.objects.list). */
  databaseObject(): Promise<ObjectReading | undefined>;
  /** Takes the tail-log backup over TDS and uploads it (backups.tailLog worker). */
  takeTailLog?(): Promise<TailLogBackup>;
  /** When the newest transaction log backup in the bucket was written, when the bucket can be read. */
  newestLogBackupAt?(): Promise<Date | undefined>;
  /** The fallback's interval between two READY_FOR_PROMOTE reads (default 60 s). */
  settleMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RESTORING_LOGS = new Set(['CDC', 'READY_FOR_PROMOTE']);

/** The dry run's words for this cutover. */
export function sqlServerPromoteDetail(task: DatabaseTask): string {
  const b = task.database.backups;
  const where = b ? `gs://${b.bucket}/${b.prefix}log/` : 'the log folder';
  return (
    `${b?.tailLog === 'worker' ? 'the worker takes' : 'the operator takes (before approving)'} the tail-log backup ` +
    `WITH NORECOVERY into ${where}; promotes once DMS shows the database READY_FOR_PROMOTE after it ` +
    '(migrationJobs.objects.list)'
  );
}

export async function sqlServerCutover(
  task: DatabaseTask,
  deps: GcpCutoverDeps & Partial<SqlServerCutoverDeps>,
  progress: Progress,
): Promise<number> {
  if (!deps.databaseObject) throw new Error('sqlServerCutover: the platform passes no databaseObject reader');
  const readObject = deps.databaseObject;
  const { timeoutMs } = cutoverLimits(task.settings);
  const b = task.database.backups!;
  const where = `gs://${b.bucket}/${b.prefix}log/`;
  const job = await deps.jobState();
  let blockedAt: number | undefined;
  if (!promoted(job)) {
    if (job.state !== 'RUNNING' || job.phase !== 'CDC')
      throw new MigrationError(
        'CutoverNotReady',
        `not cutting over: DMS job ${fenceJob(task)} is ${describeJob(job)}, not RUNNING/CDC; nothing was done`,
      );
    const first = await readObject();
    if (!first || !RESTORING_LOGS.has(first.phase ?? ''))
      throw new MigrationError(
        'CutoverNotReady',
        `not cutting over: database ${task.database.source.database} is ${first?.phase ?? 'not listed'} in DMS, ` +
          'not restoring log backups yet; nothing was done',
      );
    let after: Date | undefined;
    if (b.tailLog === 'worker') {
      if (!deps.takeTailLog)
        throw new MigrationError(
          'PlatformUnavailable',
          `not cutting over ${task.database.name}: this worker cannot take the tail-log backup over TDS; ` +
            'nothing was done. Set backups.tailLog: operator and take it by hand',
        );
      progress(`taking the tail-log backup of ${task.database.source.database} (WITH NORECOVERY) into ${where}`);
      blockedAt = Date.now();
      const tail = await deps.takeTailLog();
      after = tail.uploadedAt;
      progress(
        `tail-log backup ${tail.object} uploaded ${tail.uploadedAt.toISOString()}; waiting for DMS to restore it`,
      );
    } else {
      after = await deps.newestLogBackupAt?.();
      progress(
        `backups.tailLog is operator: the tail-log backup (BACKUP LOG [${task.database.source.database}] ... WITH ` +
          `NORECOVERY) must already be in ${where}; waiting for DMS to restore every uploaded backup` +
          (after ? ` (the newest is from ${after.toISOString()})` : ''),
      );
    }
    await waitRestored(task, { ...deps, databaseObject: readObject }, after, Date.now() + timeoutMs, progress);
    await deps.markTookOver?.();
    progress('every backup restored: promoting (the point of no return)');
    await promoteOrSeePromoted(deps);
  }
  await finishPromoted(deps);
  return blockedAt === undefined ? 0 : Date.now() - blockedAt;
}

/** Until the database's object shows every backup up to `after` restored (see the header). */
async function waitRestored(
  task: DatabaseTask,
  deps: GcpCutoverDeps & SqlServerCutoverDeps,
  after: Date | undefined,
  until: number,
  progress: Progress,
): Promise<void> {
  const settleMs = deps.settleMs ?? 60_000;
  const pollMs = Math.min(deps.jobPollMs ?? 1_000, settleMs);
  let ready: { updateTime?: string; at: number } | undefined;
  for (;;) {
    const o = await deps.databaseObject();
    if (o?.state === 'FAILED')
      throw new MigrationError('ReplicationBroken', `DMS failed to restore ${task.database.source.database}`);
    const isReady = o?.phase === 'READY_FOR_PROMOTE';
    if (isReady && after && o.updateTime && Date.parse(o.updateTime) >= after.getTime()) return;
    if (isReady && !after) {
      if (ready && ready.updateTime === o.updateTime && Date.now() - ready.at >= settleMs) return;
      if (!ready || ready.updateTime !== o.updateTime) ready = { updateTime: o.updateTime, at: Date.now() };
    } else ready = undefined;
    if (Date.now() + pollMs > until)
      throw new MigrationError(
        'CutoverNotReady',
        `not promoting: within ${formatDuration(until - Date.now() + pollMs)} DMS did not show database ` +
          `${task.database.source.database} READY_FOR_PROMOTE after the tail-log backup ` +
          `(it is ${o?.phase ?? 'not listed'})`,
      );
    progress(`database ${task.database.source.database} is ${o?.phase ?? 'not listed'} in DMS`);
    await sleep(pollMs);
  }
}
