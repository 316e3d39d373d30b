// The gcp cutover's fence for MySQL sources the worker reaches (source.access 'direct'): the shape
// of cutover.ts's PostgreSQL fence, in MySQL's terms. The block is gh-ost's cut-over
// (github/gh-ost go/logic/applier.go, AtomicCutOverMagicLock / LockOriginalTableAndWait: one session
// sets a short lock_wait_timeout and takes LOCK TABLES; the work that must not race writers runs
// under it; UNLOCK TABLES ends it):
//
//   gate      the job is RUNNING in CDC, the target shows this job's dbmig_fence row (cutover/fence.ts:
//             the table is created in the source database before the job starts), a token written now
//             reaches the target within cutover.maxLagSeconds, and a DMS lag sample taken after the
//             cutover began reads at most cutover.maxLagSeconds. A failure leaves it replicating.
//   block     ONE fence session: lock_wait_timeout of a few seconds (a long transaction holding a
//             table makes the LOCK fail fast instead of queueing every writer behind it), wait_timeout
//             and interactive_timeout set to what is left of cutover.timeout, so the SERVER drops the
//             session, and its locks with it, if this worker hangs or is cut off (rule 2: a source is
//             never blocked past a deadline; a worker that dies outright closes the TCP connection,
//             which ends the session at once). It takes a user-level lock (GET_LOCK) naming the job,
//             by which a retry finds and kills a session a hung attempt left, then LOCK TABLES every
//             base table of the database READ. The session stays idle until the switch, so the idle
//             timeout is the deadline.
//   drain     a fresh token, written into dbmig_fence after the LOCK returned, must show on the TARGET
//             (over SQL: replication applies in commit order, so every write committed before the
//             lock is there: rule 3). The token is written by the control session, not the fence
//             session: dbmig_fence is left out of the LOCK (see below).
//   close     still under the lock: this job's close record (engines/mysql/close.ts), then SET GLOBAL
//             read_only = ON (and super_read_only where the server has it: MySQL 5.7+, not MariaDB),
//             every other client session ended (writers queued behind the lock exit without writing).
//   promote   migrationJobs.promote: its acceptance is the POINT OF NO RETURN. The source stays read-only
//             until DMS's answer is known (promote-outcome.ts), even past the block's deadline: accepted,
//             for good; refused, it is reopened (what the record says read_only was) and the block ends.
//             Before the promote is asked for, any failure reopens what was closed and UNLOCKs.
//   switch    UNLOCK TABLES. The write-block window ends here; the source no longer takes writes.
//
// read_only is instance-wide, where PostgreSQL's close (revoking CONNECT on one database) is not:
// MySQL has no per-database read-only. The job carries this database alone (its objectsConfig,
// dms/job.ts), so the close stops more than it must: the other databases of the instance stop
// taking writes too. It errs on the side that loses nothing; a per-database close (REVOKE of the
// application users' write grants) would need every grant recorded and given back.
//
// Why dbmig_fence is not in the LOCK (gh-ost locks its magic table WRITE in the same statement):
// SET GLOBAL read_only takes the global read lock, which waits for every session holding a write
// lock, including a LOCK TABLES ... WRITE; and a session holding LOCK TABLES may not set read_only
// itself. A fence session holding dbmig_fence WRITE would make the close wait for the very lock it
// has to close under. So the fence session locks READ only and the token is written by the control
// session once the LOCK has returned: it commits after every write the lock let through.
// For the same reason, writers queued behind the lock hold the global intention lock that read_only
// waits for: they are ended first, and read_only is set with a short lock_wait_timeout, retried
// (ending the newest queued writers again) until the deadline.
//
// A retry first kills a fence session an earlier attempt left. If the job is past the point of no
// return (PROMOTE_IN_PROGRESS or COMPLETED) it never blocks again: it makes sure the source is read
// only, ends the other sessions, and awaits the promotion. If it finds a close record with the job
// not promoting, it waits for DMS's answer to the earlier attempt's promote before it reopens.
//
// Privileges the source user needs beyond DMS's: LOCK TABLES and SELECT on the database, INSERT and
// UPDATE on dbmig_fence, PROCESS (to see the sessions), CONNECTION ADMIN or SUPER (to end them), and
// SYSTEM_VARIABLES_ADMIN or SUPER (MySQL) / READ_ONLY ADMIN (MariaDB 10.11+) to set read_only.
import { randomUUID } from 'node:crypto';
import type mysql from 'mysql2/promise';
import { formatDuration } from '../../../../common/durations';
import { cutoverLimits } from '../../../../common/plan-settings';
import type { ConnectionParams } from '../../../engines/postgres/sessions';
import { blockEndedError } from '../../../engines/write-block';
import { MigrationError } from '../../../../common/failures';
import { type DatabaseTask } from '../../../steps';
import {
  promoted,
  promoteTimeoutMs,
  requireDeadlineCoversPromote,
  requireFreshLag,
  requireReplicating,
  switchMargin,
  type GcpCutoverDeps,
} from './dms';
import {
  endStaleMysqlFences,
  MYSQL_FENCE_TABLE,
  mysqlFenceLockName,
  mysqlTargetToken,
  removeMysqlFence,
  requireMysqlTargetFence,
} from '../../../engines/mysql/fence';
import { fenceJob } from './fence';
import { withMysql } from '../../../engines/mysql/sessions';
import {
  baseTables,
  closeMysqlSource,
  FenceSession,
  lostFence,
  mysqlSourceReadOnly,
} from '../../../engines/mysql/fence-session';
import { earlierPromoteOutcome, promoteUntilKnown } from '../dms/promote-outcome';
import {
  readMysqlAccess,
  readMysqlCloseRecord,
  reopenMysqlSource,
  writeMysqlCloseRecord,
  type MysqlCloseRecord,
} from '../../../engines/mysql/close';

type Progress = (step: string) => void;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Closing the source before the promote, and reopening it after a refusal, each need a moment. */
const SWITCH_MARGIN_MS = 1_000;

/** The fenced cutover of a MySQL source: the write-block window in ms (0 on a retry past the point of no return). */
export async function mysqlFencedCutover(
  task: DatabaseTask,
  deps: GcpCutoverDeps,
  source: ConnectionParams,
  target: ConnectionParams,
  progress: Progress,
): Promise<number> {
  return withMysql(source, (h) =>
    withMysql(target, (t) => new MysqlFencedCutover(task, deps, source, h, t, progress).run()),
  );
}

class MysqlFencedCutover {
  private readonly job: string;
  private readonly limits: { maxLagSeconds: number; timeoutMs: number };

  constructor(
    private readonly task: DatabaseTask,
    private readonly deps: GcpCutoverDeps,
    private readonly source: ConnectionParams,
    private readonly h: mysql.Connection,
    private readonly t: mysql.Connection,
    private readonly progress: Progress,
  ) {
    this.job = fenceJob(task);
    this.limits = cutoverLimits(task.settings);
  }

  async run(): Promise<number> {
    if (await endStaleMysqlFences(this.h, this.job))
      this.progress('ended a fence session an earlier attempt left behind');
    const job = await this.deps.jobState();
    if (promoted(job)) return this.resumePastPointOfNoReturn();
    if (await this.settleEarlierClose()) return this.resumePastPointOfNoReturn();
    requireDeadlineCoversPromote(this.task, this.limits.timeoutMs, SWITCH_MARGIN_MS);
    await this.gate(job);
    // The mark goes on the target before anything is blocked and before the promote is asked for.
    await this.deps.markTookOver?.();
    const blockMs = await this.blockAndPromote();
    await this.afterPointOfNoReturn(() => this.deps.waitPromoted());
    await this.removeFenceFromTarget();
    return blockMs;
  }

  private async gate(job: { state: string; phase?: string }): Promise<void> {
    const notReady = (why: string) =>
      new MigrationError('CutoverNotReady', `not cutting over: ${why}; nothing was blocked`);
    requireReplicating(job, this.job, this.task.database.source.database);
    await requireMysqlTargetFence(this.t, this.job);
    const maxMs = this.limits.maxLagSeconds * 1000;
    this.progress(`checking the lag: a fence token must reach the target within ${formatDuration(maxMs)}`);
    const token = await this.writeToken();
    if (!(await this.tokenArrives(token, Date.now() + maxMs)))
      throw notReady(`lag is over cutover.maxLagSeconds: fence ${token} did not reach the target within it`);
    await requireFreshLag(this.deps, this.limits.maxLagSeconds, this.progress);
  }

  /** A fresh token in this job's dbmig_fence row, written (autocommit) by the control session. */
  private async writeToken(): Promise<string> {
    const token = randomUUID();
    await this.h.query(`UPDATE ${MYSQL_FENCE_TABLE} SET token = ?, at = NOW(6) WHERE job = ?`, [token, this.job]);
    return token;
  }

  private async tokenArrives(token: string, until: number, fence?: FenceSession): Promise<boolean> {
    for (;;) {
      if ((await mysqlTargetToken(this.t, this.job)) === token) return true;
      if (fence && !(await fence.alive(this.h))) throw lostFence(fence);
      if (Date.now() >= until) return false;
      await sleep(10);
    }
  }

  /**
   * An earlier attempt closed the source for its promote and did not live to see DMS's answer: true
   * once DMS is known to have promoted; refused, the source is reopened and the cutover starts over.
   */
  private async settleEarlierClose(): Promise<boolean> {
    const closed = await readMysqlCloseRecord(this.h, this.job);
    if (!closed) return false;
    this.progress('an earlier attempt closed the source for its promote: asking DMS how it ended');
    const outcome = await earlierPromoteOutcome(this.deps, closed.at, promoteTimeoutMs(this.task), this.progress);
    if (outcome.accepted) return true;
    await reopenMysqlSource(this.h, this.job, closed);
    this.progress('DMS did not promote: the source is reopened; the cutover starts again from the gate');
    return false;
  }

  /**
   * Block, drain, close (read_only under the lock, with its record, every other session ended), then
   * promote. The source stays read-only from the close until DMS's answer to the promote is known:
   * accepted, for good; refused, it is reopened. Until the promote is asked for, any failure ends the
   * block and reopens what was closed.
   */
  private async blockAndPromote(): Promise<number> {
    const { timeoutMs } = this.limits;
    const promoteMs = promoteTimeoutMs(this.task);
    const margin = switchMargin(timeoutMs, SWITCH_MARGIN_MS);
    // Kept for the close, DMS's answer and a reopen: the drain gets the rest.
    const reserve = promoteMs + 2 * margin;
    const tables = await baseTables(this.h);
    const fence = await FenceSession.open(this.source, mysqlFenceLockName(this.job), tables, timeoutMs);
    const { startedAt, deadline } = fence;
    this.progress(
      `blocking writes: ${tables.length} tables locked READ for at most ${formatDuration(timeoutMs)} ` +
        `(the server drops the fence session at the deadline), of which ${formatDuration(reserve)} are kept for ` +
        "closing the source, DMS's promote and a reopen",
    );
    let closed: MysqlCloseRecord | undefined;
    try {
      const token = await this.writeToken();
      this.progress(`draining to fence ${token}`);
      if (!(await this.tokenArrives(token, deadline - reserve, fence)))
        throw new MigrationError('CutoverTimedOut', `the target did not show fence ${token} in time`);
      if (!(await fence.alive(this.h))) throw lostFence(fence);
      this.progress(`the target has fence ${token}: closing the source before the promote`);
      closed = { at: Date.now(), ...(await readMysqlAccess(this.h)) };
      await writeMysqlCloseRecord(this.h, this.job, closed);
      const ended = await closeMysqlSource(this.h, [fence.id], deadline - promoteMs - margin);
      if (!(await fence.alive(this.h))) throw lostFence(fence);
      if (deadline - Date.now() < promoteMs + margin)
        throw new MigrationError('CutoverTimedOut', 'too little of the deadline was left to promote');
      this.progress(
        `the source is read-only (${ended} other session(s) ended); promoting DMS job ${this.job}: the point of ` +
          `no return, answered within ${formatDuration(promoteMs)} by gcp.promoteTimeout`,
      );
    } catch (err) {
      const lost = !fence.open;
      const reopened = closed ? await this.reopen(closed) : '';
      await fence.end();
      const done =
        `writes were restored after a ${Date.now() - startedAt} ms block; nothing was promoted` +
        (closed ? `; ${reopened}` : ' or closed');
      throw blockEndedError(err, lost, deadline, done);
    }
    const outcome = await promoteUntilKnown(this.deps, {
      progress: this.progress,
      unknownAt: deadline - margin,
      onUnknown: async () => {
        this.progress(
          `WARNING: DMS has not answered the promote by the deadline (gcp.promoteTimeout ` +
            `${formatDuration(promoteMs)}): the source stays read-only until DMS's answer is known ` +
            '(a promote DMS accepted must find no write after it)',
        );
        await fence.end(); // read_only holds without it
      },
    });
    if (!outcome.accepted) {
      const reopened = await this.reopen(closed);
      await fence.end();
      throw blockEndedError(
        outcome.err,
        false,
        deadline,
        `DMS did not promote: ${reopened} after a ${Date.now() - startedAt} ms block; replication runs on`,
      );
    }
    await fence.end();
    const writeBlockMs = Date.now() - startedAt;
    this.progress(`${outcome.how}: the source stays read-only; writes were blocked for ${writeBlockMs} ms`);
    return writeBlockMs;
  }

  /** DMS did not promote: the source gets back what the close took. Says how it went. */
  private async reopen(closed: MysqlCloseRecord): Promise<string> {
    try {
      await reopenMysqlSource(this.h, this.job, closed);
      return 'the source, closed for it, was reopened';
    } catch (err) {
      return (
        `the source, closed for it, could NOT be reopened (${(err as Error).message}): a retry reopens it once ` +
        "DMS's answer is known"
      );
    }
  }

  private async resumePastPointOfNoReturn(): Promise<number> {
    return this.afterPointOfNoReturn(async () => {
      await this.deps.markTookOver?.();
      if (!(await mysqlSourceReadOnly(this.h)))
        this.progress(
          'WARNING: DMS is past the promote but the source was not read-only (the worker stopped between the ' +
            'promote and the close): closing it now; writes made since the block ended are on the source only',
        );
      const ended = await closeMysqlSource(this.h, [], Date.now() + this.limits.timeoutMs);
      this.progress(`the source is read-only (${ended} session(s) ended); awaiting the promotion`);
      await this.deps.waitPromoted();
      await this.removeFenceFromTarget();
      return 0;
    });
  }

  /** DMS carried dbmig_fence to the target; the promoted database should not keep it. */
  private async removeFenceFromTarget(): Promise<void> {
    await removeMysqlFence(this.t, this.job).catch((err: Error) =>
      this.progress(`${MYSQL_FENCE_TABLE} could not be removed from the target (${err.message}); drop it by hand`),
    );
  }

  private async afterPointOfNoReturn<T>(steps: () => Promise<T>): Promise<T> {
    try {
      return await steps();
    } catch (err) {
      const e = err as { type?: string; message?: string };
      throw new MigrationError(
        'CutoverIncomplete',
        `${err instanceof MigrationError ? `${e.type}: ` : ''}${e.message ?? String(err)}; DMS accepted the promote ` +
          '(the point of no return): the source stays read-only and a retry resumes',
      );
    }
  }
}
