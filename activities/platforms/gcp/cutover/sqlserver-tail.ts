// The SQL Server cutover where the worker takes the tail-log backup (backups.tailLog worker), in the
// order the safety rules need (the T-SQL is sqlserver/tail-log.ts and tail-log-sql.ts):
//
//   budget    cutover.timeout must hold Agent's slack, a wait for DMS's restore, DMS's answer to the
//             promote (gcp.promoteTimeout) and a reopen; else refused before anything is closed.
//   close     the reopen job armed (SQL Server Agent running, scheduled before the deadline), then
//             BACKUP LOG ... WITH NORECOVERY: the source is RESTORING and takes no write.
//   arrive    the tail's object in the bucket: at once by BACKUP TO URL, after the operator's
//             shipper uploads it from backups.tailLogDirectory otherwise.
//   restored  DMS shows the database READY_FOR_PROMOTE after that upload (sqlserver-restored.ts).
//             Both waits end by `promoteBy`: the job's fire time less DMS's answer and a reopen, so
//             the promote's outcome is known before the deadline. Anything that fails up to here
//             reopens the source: the promote was never asked.
//   disarm    the job deleted under the reopen lock. 'closed': the promote may be asked; 'reopened':
//             Agent reached the deadline first (nothing promoted, replication on); anything else:
//             not promoted.
//   promote   the target marked as taken over, then migrationJobs.promote until DMS's answer is
//             known (dms/promote-outcome.ts). Accepted: the source stays RESTORING for good, and no
//             job is left to reopen it (rule 1). Refused: the source is reopened, CutoverNotReady.
//             Unknown at the deadline: the source stays closed until it is known (a write DMS never
//             reads is lost; a source closed a little longer is not).
//
// A retry that finds the source RESTORING by this migration's tail log resumes forward (rule 5):
// while its job is still armed the promote was never asked (the disarm precedes it), so the steps go
// on; a job present but unable to fire (Agent stopped, schedule past) means the deadline no longer
// holds, so the source is reopened at once; a job gone means an earlier attempt disarmed it and may
// have asked, so DMS's answer is awaited before anything reopens (settleTailLogClose, also the
// compensation's).
import { formatDuration } from '../../../../common/durations';
import { cutoverLimits } from '../../../../common/plan-settings';
import { TAIL_LOG_BUDGET, tailLogBudgetMs } from '../../../../common/plan-sqlserver';
import { MigrationError } from '../../../../common/failures';
import { type DatabaseTask } from '../../../steps';
import { earlierPromoteOutcome, promoteUntilKnown } from '../dms/promote-outcome';
import { sqlServerBackups } from '../sqlserver/plan';
import {
  databaseState,
  disarmBeforePromote,
  findTailLogClose,
  holdLock,
  releaseLock,
  reopenIfArmed,
  reopenSource,
  takeTailLogBackup,
  type TailLogRecord,
} from '../sqlserver/tail-log';
import { AGENT_SLACK_MS, disarmSql, reopenNames } from '../sqlserver/tail-log-sql';
import type { TdsSession } from '../sqlserver/tds-session';
import { promoteTimeoutMs, type GcpCutoverDeps } from './dms';
import { waitRestored, type RestoreReader } from './sqlserver-restored';

type Progress = (step: string) => void;

/** What the worker's tail-log cutover needs of the world beyond DMS. */
export interface TailLogPort {
  /** A TDS session to the source, as the plan's source user. */
  open(): Promise<TdsSession>;
  /** When the object reached the bucket (objects.get timeCreated), or undefined while it has not. */
  uploadedAt(objectName: string): Promise<Date | undefined>;
}

export type TailLogCutoverDeps = GcpCutoverDeps & RestoreReader & { tailLog: TailLogPort };

/** Time kept after DMS's answer to reopen the source should it refuse. */
const REOPEN_MARGIN_MS = TAIL_LOG_BUDGET.reopenMarginMs;
/** The least time the close must leave for the tail to arrive and be restored. */
const MIN_RESTORE_WAIT_MS = TAIL_LOG_BUDGET.minRestoreWaitMs;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Closes the source with its tail-log backup and promotes once DMS restored it. Returns how long
 * the source was closed before DMS accepted the promote (ms). The caller finishes the promote.
 */
export async function workerTailLogCutover(
  task: DatabaseTask,
  deps: TailLogCutoverDeps,
  progress: Progress,
): Promise<number> {
  const { timeoutMs } = cutoverLimits(task.settings);
  const promoteMs = promoteTimeoutMs(task);
  const need = tailLogBudgetMs(promoteMs);
  if (timeoutMs < need)
    throw new MigrationError(
      'InvalidPlan',
      `not cutting over: cutover.timeout ${formatDuration(timeoutMs)} cannot hold Agent's schedule slack ` +
        `(${formatDuration(AGENT_SLACK_MS)}), DMS's restore of the tail-log backup (at least ` +
        `${formatDuration(MIN_RESTORE_WAIT_MS)}), its answer to the promote (gcp.promoteTimeout ` +
        `${formatDuration(promoteMs)}) and a reopen (${formatDuration(REOPEN_MARGIN_MS)}); nothing was closed. ` +
        `Raise cutover.timeout to at least ${formatDuration(need)}`,
    );
  const s = await deps.tailLog.open();
  try {
    const deadline = Date.now() + timeoutMs;
    const db = task.database.source.database;
    progress(
      `arming the reopen deadline (${new Date(deadline).toISOString()}) as a SQL Server Agent job, then taking ` +
        `the tail-log backup of ${db} WITH NORECOVERY`,
    );
    const closing = Date.now();
    const rec = await takeTailLogBackup(s, task, sqlServerBackups(task), { deadline });
    if (rec.resumed && !rec.jobPresent) return await settleDisarmed(task, deps, s, rec, progress);
    if (rec.resumed && !rec.armed)
      return await reopenNeverAsked(s, rec, `the reopen deadline no longer holds (${rec.notArmedWhy})`);
    const closedAt = rec.resumed ? undefined : closing;
    const promoteBy = rec.reopenAt! - promoteMs - REOPEN_MARGIN_MS;
    progress(
      `${rec.resumed ? 'an earlier attempt closed' : 'closed'} ${db} with tail-log backup ${rec.objectName} ` +
        `(LSN ${rec.firstLsn}..${rec.lastLsn}); the reopen job fires at ${new Date(rec.reopenAt!).toISOString()}`,
    );
    try {
      const uploadedAt = await waitUploaded(task, deps, rec, promoteBy, progress);
      progress(`tail-log backup in the bucket since ${uploadedAt.toISOString()}; waiting for DMS to restore it`);
      await waitRestored(task, deps, uploadedAt, promoteBy, progress);
      if (Date.now() > promoteBy) throw new Error('DMS restored the tail-log backup too late to promote safely');
      await deps.markTookOver?.();
    } catch (err) {
      return await reopenNeverAsked(s, rec, (err as Error).message);
    }
    // From the disarm until DMS's answer is known this session holds the reopen lock: no other
    // attempt's reopen (a retry, the compensation) can run while this one may still promote.
    if (!(await holdLock(s, rec, 30_000)))
      throw new MigrationError(
        'CutoverInterrupted',
        `the reopen lock on ${db} was not granted (another attempt holds it); nothing was promoted and the ` +
          'reopen job is still armed',
      );
    try {
      let verdict;
      try {
        verdict = await disarmBeforePromote(s, rec);
      } catch (err) {
        throw new MigrationError(
          'CutoverInterrupted',
          `the reopen job could not be disarmed (${(err as Error).message}); nothing was promoted. A retry reads ` +
            'whether it is still armed; if it is, Agent reopens the source at the deadline',
        );
      }
      if (verdict === 'reopened')
        throw new MigrationError(
          'CutoverNotReady',
          `SQL Server Agent reopened ${db} at the deadline before the promote; nothing was promoted and ` +
            'replication runs on (the tail-log backup stays in the chain DMS restores)',
        );
      if (verdict === 'unknown')
        throw new MigrationError(
          'CutoverInterrupted',
          `after the disarm ${db} is neither RESTORING nor ONLINE; nothing was promoted: look at the source`,
        );
      // The job is gone now: the worker reopens, and only while it holds the lock.
      if (Date.now() > promoteBy || (await databaseState(s, db)) !== 'RESTORING')
        return await reopenAndThrow(s, rec, 'never-asked', 'too close to the deadline to promote', closedAt);
      progress(
        `DMS restored the tail-log backup and the reopen job is disarmed: promoting (the point of no return), ` +
          `answered within ${formatDuration(promoteMs)} by gcp.promoteTimeout`,
      );
      const outcome = await promoteUntilKnown(deps, {
        progress,
        unknownAt: rec.deadline,
        onUnknown: async () =>
          progress(
            "WARNING: DMS has not answered the promote by the deadline: the source stays closed until DMS's " +
              'answer is known (a promote DMS accepted must find no write after it)',
          ),
      });
      if (!outcome.accepted) return await reopenAndThrow(s, rec, 'refused', (outcome.err as Error)?.message, closedAt);
      progress(`${outcome.how}: ${db} stays closed (RESTORING) for good`);
      return closedAt === undefined ? 0 : Date.now() - closedAt;
    } finally {
      await releaseLock(s, rec);
    }
  } finally {
    await s.close();
  }
}

/** Until the tail-log backup's object is in the bucket, by `until`. */
async function waitUploaded(
  task: DatabaseTask,
  deps: TailLogCutoverDeps,
  rec: TailLogRecord,
  until: number,
  progress: Progress,
): Promise<Date> {
  const pollMs = Math.min(deps.jobPollMs ?? 1_000, 5_000);
  let told = false;
  for (;;) {
    const at = await deps.tailLog.uploadedAt(rec.objectName);
    if (at) return at;
    if (Date.now() + pollMs > until)
      throw new MigrationError(
        'CutoverNotReady',
        `the tail-log backup ${rec.objectName} did not reach gs://${task.database.backups!.bucket} in time` +
          (rec.destination.kind === 'disk' ? ` (is the shipper uploading from ${rec.destination.path}?)` : ''),
      );
    if (!told) progress(`waiting for ${rec.objectName} to reach gs://${task.database.backups!.bucket}`);
    told = true;
    await sleep(pollMs);
  }
}

/**
 * The promote was never asked, or DMS refused it, and this attempt holds the reopen lock (or its own
 * disarm deleted the job): the source is reopened, and the cutover fails retryably.
 */
async function reopenAndThrow(
  s: TdsSession,
  rec: TailLogRecord,
  promote: 'never-asked' | 'refused',
  why: string | undefined,
  closedAt?: number,
): Promise<never> {
  const closedFor = closedAt === undefined ? '' : ` after about ${formatDuration(Date.now() - closedAt)} closed`;
  let done;
  try {
    done = await reopenSource(s, rec, { promote });
  } catch (err) {
    throw new MigrationError(
      'CutoverInterrupted',
      `${why ?? 'DMS did not promote'}; reopening ${rec.database} failed (${(err as Error).message}): it stays ` +
        'closed, and a retry (or the compensation) reopens it first',
    );
  }
  throw new MigrationError(
    'CutoverNotReady',
    `${why ?? 'DMS did not promote'}; nothing was promoted (${promote === 'refused' ? 'DMS refused' : 'not asked'}) ` +
      `and ${rec.database} ${done === 'reopened' ? `was reopened${closedFor}` : 'was open again already'}; ` +
      'replication runs on',
  );
}

/**
 * Before any disarm: the promote was never asked while the reopen job is there. Reopened under the
 * lock only if it still is; if another attempt disarmed it meanwhile, that attempt decides.
 */
async function reopenNeverAsked(s: TdsSession, rec: TailLogRecord, why: string): Promise<never> {
  let done;
  try {
    done = await reopenIfArmed(s, rec);
  } catch (err) {
    if (err instanceof MigrationError) throw err;
    throw new MigrationError(
      'CutoverInterrupted',
      `${why}; reopening ${rec.database} failed (${(err as Error).message}): its reopen job, still armed, ` +
        'reopens it at the deadline',
    );
  }
  if (done === 'job-gone')
    throw new MigrationError(
      'CutoverInterrupted',
      `${why}; meanwhile another attempt disarmed ${rec.database}'s reopen job, so it may be promoting: ` +
        "nothing was reopened, and a retry settles the close with DMS's answer",
    );
  throw new MigrationError(
    'CutoverNotReady',
    `${why}; nothing was promoted (not asked) and ${rec.database} ` +
      `${done === 'reopened' ? 'was reopened' : 'was open again already'}; replication runs on`,
  );
}

/**
 * An earlier attempt closed the source and disarmed its reopen job: it may have asked for the
 * promote. DMS's answer decides: accepted, the source stays closed; not promoted, it is reopened.
 */
async function settleDisarmed(
  task: DatabaseTask,
  deps: GcpCutoverDeps,
  s: TdsSession,
  rec: TailLogRecord,
  progress: Progress,
): Promise<number> {
  const outcome = await disarmedOutcome(task, deps, s, rec, progress);
  if (outcome === 'promoted') return 0;
  throw new MigrationError(
    'CutoverNotReady',
    `an earlier attempt closed ${rec.database} and disarmed its reopen job but DMS did not promote: the source ` +
      `${outcome === 'reopened' ? 'was reopened' : 'was open again already'}; replication runs on`,
  );
}

/**
 * A close whose reopen job an earlier attempt disarmed: under the reopen lock (an attempt still
 * deciding its promote holds it), DMS's answer to a promote it may have sent is awaited, then the
 * source stays closed (promoted) or is reopened.
 */
async function disarmedOutcome(
  task: DatabaseTask,
  deps: GcpCutoverDeps,
  s: TdsSession,
  rec: TailLogRecord,
  progress: Progress,
): Promise<'promoted' | 'reopened' | 'already-open'> {
  if (!(await holdLock(s, rec, 5_000)))
    throw new MigrationError(
      'CutoverInterrupted',
      `another attempt holds ${rec.database}'s reopen lock: it is deciding its promote. Nothing was done; a retry ` +
        'settles the close once it is done',
    );
  try {
    progress(
      `an earlier attempt closed ${rec.database} and disarmed its reopen job: reading DMS until its answer to a ` +
        'promote that attempt may have sent is known; the source stays closed until then',
    );
    // From now, not from the close: when the earlier attempt sent its promote is not known.
    const outcome = await earlierPromoteOutcome(deps, Date.now(), promoteTimeoutMs(task), progress);
    if (outcome.accepted) return 'promoted';
    return await reopenSource(s, rec, { promote: 'refused' });
  } finally {
    await releaseLock(s, rec);
  }
}

/**
 * For the compensation: a source this migration's tail-log backup left RESTORING is settled. The
 * promote never asked (its job still there) or known refused: reopened. Accepted: 'promoted', and
 * it stays closed. Nothing of ours closed it: 'none'.
 */
export async function settleTailLogClose(
  task: DatabaseTask,
  deps: GcpCutoverDeps,
  s: TdsSession,
  progress: Progress,
): Promise<'promoted' | 'reopened' | 'none'> {
  const rec = await findTailLogClose(s, task, sqlServerBackups(task));
  if (!rec) {
    // Not closed by us: a reopen job of ours left over must not reopen anyone's database later.
    const { job, lock } = reopenNames(task.migrationId, task.database.source.database);
    await s.query(disarmSql(task.database.source.database, job, lock, 30_000), {});
    return 'none';
  }
  if (rec.jobPresent) {
    const done = await reopenIfArmed(s, rec);
    if (done !== 'job-gone') {
      progress(`the promote was never asked: ${rec.database} ${done === 'reopened' ? 'was reopened' : 'is open'}`);
      return 'reopened';
    }
  }
  const outcome = await disarmedOutcome(task, deps, s, rec, progress);
  if (outcome !== 'promoted') progress(`DMS did not promote: ${rec.database} is open again`);
  return outcome === 'promoted' ? 'promoted' : 'reopened';
}
