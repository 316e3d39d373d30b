// The fenced cutover of a PostgreSQL source the worker reaches (source.access 'direct'): see
// cutover.ts for the sequence and why. This file is its steps.
import { formatDuration } from '../../../../common/durations';
import { cutoverLimits } from '../../../../common/plan-settings';
import type pg from 'pg';
import type { ConnectionParams } from '../../../engines/postgres/sessions';
import { backendAlive, writeFence } from '../../../engines/postgres/cutover';
import { blockEndedError } from '../../../engines/write-block';
import { endOtherSessions, Fence, preparedTransactions } from '../../../engines/postgres/fence';
import { closeSource, readSourceAccess, reopenSource, type SourceAccess } from '../../../engines/postgres/close-source';
import { preparedError } from '../../../engines/postgres/cutover-checks';
import { removeOwnedObjects } from '../../../engines/postgres/owned';
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
import { carriedTables, endStaleFences, fenceJob, requireTargetFence, sourceClosed, targetToken } from './fence';
import { refuseDmsSetChange } from '../dms/migrated-set';
import { earlierPromoteOutcome, promoteUntilKnown } from '../dms/promote-outcome';
import { clearCloseRecord, readCloseRecord, writeCloseRecord } from './source-close-record';

type Progress = (step: string) => void;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Ending sessions, reopening and releasing the lock need a moment: the least margin kept for each. */
const SWITCH_MARGIN_MS = 500;

export class FencedCutover {
  private readonly job: string;
  private readonly limits: { maxLagSeconds: number; timeoutMs: number };
  private readonly margin: number;

  constructor(
    private readonly task: DatabaseTask,
    private readonly deps: GcpCutoverDeps,
    private readonly source: ConnectionParams,
    private readonly h: pg.Client,
    private readonly t: pg.Client,
    private readonly progress: Progress,
  ) {
    this.job = fenceJob(task);
    this.limits = cutoverLimits(task.settings);
    this.margin = switchMargin(this.limits.timeoutMs, SWITCH_MARGIN_MS);
  }

  /** Returns the write-block window in ms (0 when a retry found the job past the point of no return). */
  async run(): Promise<number> {
    // An earlier attempt may have closed the source: this session must still be able to reopen it.
    await this.h.query('set default_transaction_read_only = off');
    const stale = await endStaleFences(this.h);
    if (stale) this.progress(`ended ${stale} fence session(s) an earlier attempt left behind`);
    let job = await this.deps.jobState();
    if (!promoted(job)) job = await this.settleEarlierClose(job);
    if (promoted(job)) return this.resumePastPointOfNoReturn();
    requireDeadlineCoversPromote(this.task, this.limits.timeoutMs, SWITCH_MARGIN_MS);
    await this.gate(job);
    // The mark goes on the target before anything is blocked and before the promote is asked for.
    await this.deps.markTookOver?.();
    const blockMs = await this.blockAndPromote();
    await this.afterPointOfNoReturn(() => this.deps.waitPromoted());
    await this.removeFenceFromTarget();
    return blockMs;
  }

  /** An earlier attempt's close, settled (settleSourceClose); returns the job as it is then. */
  private async settleEarlierClose(job: { state: string; phase?: string }) {
    const settled = await settleSourceClose(this.task, this.deps, this.h, this.progress);
    return settled === 'none' ? job : this.deps.jobState();
  }

  private async gate(job: { state: string; phase?: string }): Promise<void> {
    const notReady = (why: string) =>
      new MigrationError('CutoverNotReady', `not cutting over: ${why}; nothing was blocked`);
    requireReplicating(job, this.job, this.task.database.source.database);
    await requireTargetFence(this.t, this.job);
    await refuseDmsSetChange(this.h, this.t, this.job);
    const prepared = await preparedTransactions(this.h);
    if (prepared.length) throw preparedError(prepared);
    const maxMs = this.limits.maxLagSeconds * 1000;
    this.progress(`checking the lag: a fence token must reach the target within ${formatDuration(maxMs)}`);
    const mark = await writeFence(this.h, this.job);
    if (!(await this.tokenArrives(mark.token, Date.now() + maxMs)))
      throw notReady(`lag is over cutover.maxLagSeconds: fence ${mark.token} did not reach the target within it`);
    await requireFreshLag(this.deps, this.limits.maxLagSeconds, this.progress);
  }

  private async tokenArrives(token: string, until: number, fence?: Fence): Promise<boolean> {
    for (;;) {
      if ((await targetToken(this.t, this.job)) === token) return true;
      if (fence && !(fence.alive() && (await backendAlive(this.h, fence)))) throw lostFence(fence);
      if (Date.now() >= until) return false;
      await sleep(10);
    }
  }

  /**
   * Block, drain, close (committed, with its record) and end every other session, then promote. The
   * source stays closed from the close until DMS's answer to the promote is known: accepted, it stays
   * closed for good; refused, it is reopened. Until the close commits, any failure ends the block
   * and nothing was closed.
   */
  private async blockAndPromote(): Promise<number> {
    const { timeoutMs } = this.limits;
    const promoteMs = promoteTimeoutMs(this.task);
    // Kept for the promote's answer and for closing and reopening around it: the drain gets the rest.
    const reserve = promoteMs + 2 * this.margin;
    const tables = await carriedTables(this.h);
    const startedAt = Date.now();
    const deadline = startedAt + timeoutMs;
    this.progress(
      `blocking writes: ${tables.length} tables locked IN SHARE MODE for at most ${formatDuration(timeoutMs)}, ` +
        `of which ${formatDuration(reserve)} are kept for closing the source, DMS's promote and a reopen`,
    );
    const fence = await Fence.open(this.source, tables, deadline, this.h);
    let closer: Fence | undefined;
    let access: SourceAccess;
    try {
      const prepared = await preparedTransactions(this.h);
      if (prepared.length) throw preparedError(prepared);
      const mark = await writeFence(this.h, this.job);
      this.progress(`draining to fence ${mark.token}`);
      if (!(await this.tokenArrives(mark.token, deadline - reserve, fence)))
        throw new MigrationError('CutoverTimedOut', `the target did not show fence ${mark.token} in time`);
      // Once more under the block: CREATE TABLE takes none of the fence's locks.
      await refuseDmsSetChange(this.h, this.t, this.job, true);
      this.progress(`the target has fence ${mark.token}: closing the source before the promote`);
      closer = await Fence.open(this.source, ['dbmig.fence'], deadline, this.h);
      access = await closer.within(async (c) => {
        const before = await readSourceAccess(c);
        await closeSource(c, this.source.database, before);
        await writeCloseRecord(c, this.job, { at: Date.now(), access: before });
        return before;
      });
      if (!fence.alive() || !closer.alive()) throw lostFence(fence);
      if (fence.left() < promoteMs + this.margin)
        throw new MigrationError('CutoverTimedOut', `too little of the deadline was left to promote`);
      await this.commitClose(closer);
    } catch (err) {
      const lost = !fence.alive();
      await closer?.end();
      await fence.end();
      const done = `writes were restored after a ${Date.now() - startedAt} ms block; nothing was promoted or closed`;
      throw blockEndedError(err, lost, deadline, done);
    }
    // The close is committed: new sessions are refused or read-only. Writers queued behind the lock
    // are ended while it still holds, so none of their writes lands once it is released.
    let ended: string[];
    try {
      const hPid = (await this.h.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
      ended = await endOtherSessions(this.h, [fence.ref.pid, hPid], deadline);
      if (!(fence.alive() && (await backendAlive(this.h, fence)))) throw lostFence(fence);
    } catch (err) {
      return this.reopenAndThrow(access, fence, startedAt, err);
    }
    this.progress(
      `the source is closed (${ended.length} other session(s) ended); promoting DMS job ${this.job}: the point ` +
        `of no return, answered within ${formatDuration(promoteMs)} by gcp.promoteTimeout`,
    );
    const outcome = await promoteUntilKnown(this.deps, {
      progress: this.progress,
      unknownAt: deadline - this.margin,
      onUnknown: async () => {
        this.progress(
          `WARNING: DMS has not answered the promote by the deadline (gcp.promoteTimeout ` +
            `${formatDuration(promoteMs)}): the source stays closed until DMS's answer is known ` +
            '(a promote DMS accepted must find no write after it)',
        );
        await fence.end(); // the close holds without it
      },
    });
    if (!outcome.accepted) return this.reopenAndThrow(access, fence, startedAt, outcome.err);
    await fence.end();
    const writeBlockMs = Date.now() - startedAt;
    this.progress(`${outcome.how}: the source stays closed; writes were blocked for ${writeBlockMs} ms`);
    return writeBlockMs;
  }

  /** Commits the close; a lost reply does not mean a lost commit: the record on the source decides. */
  private async commitClose(closer: Fence): Promise<void> {
    try {
      await closer.commit();
    } catch (err) {
      if (!(await readCloseRecord(this.h, this.job).catch(() => undefined))) throw err;
      this.progress(`the close's commit answered ${(err as Error).message}, but it committed`);
    }
  }

  /** DMS did not promote: the source gets its access back, then the block ends. */
  private async reopenAndThrow(access: SourceAccess, fence: Fence, startedAt: number, err: unknown): Promise<never> {
    try {
      await this.reopen(access);
    } catch (e) {
      await fence.end();
      throw new MigrationError(
        'CutoverInterrupted',
        `DMS did not promote (${(err as Error)?.message ?? String(err)}) but reopening the source failed ` +
          `(${(e as Error).message}); it stays closed with its record, and a retry reopens it first`,
      );
    }
    const lost = !fence.alive();
    await fence.end();
    const done =
      `DMS did not promote: the source was closed for the promote and reopened after a ${Date.now() - startedAt} ms ` +
      'block; replication runs on';
    throw blockEndedError(err, lost, fence.deadline, done);
  }

  private async reopen(access: SourceAccess): Promise<void> {
    await reopenSource(this.h, this.source.database, access);
    await clearCloseRecord(this.h, this.job);
  }

  /**
   * The retry past the point of no return: never blocks, makes sure the source is closed, awaits the
   * promote. A source found OPEN while DMS had promoted (a promote sent by hand, or by an attempt of
   * a version that closed only after the promote) may have taken writes DMS never read: after
   * closing it and finishing the promote, that is reported as a failure naming the gap, never only
   * as a progress line.
   */
  private async resumePastPointOfNoReturn(): Promise<number> {
    const record = await this.afterPointOfNoReturn(async () => {
      await this.deps.markTookOver?.();
      if (!(await sourceClosed(this.h))) {
        this.progress('WARNING: DMS is past the promote but the source was not closed: closing it now');
        await this.closeAfterPromote();
      }
      const hPid = (await this.h.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
      const ended = await endOtherSessions(this.h, [hPid], Date.now() + this.limits.timeoutMs);
      this.progress(`the source is closed (${ended.length} session(s) ended); awaiting the promotion`);
      await this.deps.waitPromoted();
      await this.removeFenceFromTarget();
      return readCloseRecord(this.h, this.job);
    });
    if (record?.openAfterPromote)
      throw new MigrationError(
        'TargetVerificationFailed',
        `DMS job ${this.job} had promoted (it no longer reads the source) while the source still took writes: ` +
          'writes committed on the source between the promote and this close are on the source only. The source is ' +
          'closed now and the target is the database of record: compare the two and carry the missing writes by hand',
      );
    return 0;
  }

  /** Closes a source found open past the promote, recording (in the same transaction) that it was. */
  private async closeAfterPromote(): Promise<void> {
    await this.h.query('begin');
    try {
      const before = await readSourceAccess(this.h);
      await closeSource(this.h, this.source.database, before);
      const earlier = await readCloseRecord(this.h, this.job);
      await writeCloseRecord(this.h, this.job, {
        at: Date.now(),
        access: earlier?.access ?? before,
        openAfterPromote: true,
      });
      await this.h.query('commit');
    } catch (err) {
      await this.h.query('rollback').catch(() => undefined);
      throw err;
    }
  }

  /** DMS carried dbmig's own tables to the target; the promoted database should not keep them. */
  private async removeFenceFromTarget(): Promise<void> {
    await removeOwnedObjects(this.t, this.job).catch((err: Error) =>
      this.progress(`dbmig.fence could not be removed from the target (${err.message}); drop schema dbmig by hand`),
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
          '(the point of no return): the source stays closed and a retry resumes',
      );
    }
  }
}

function lostFence(fence: Fence): MigrationError {
  return new MigrationError(
    'CutoverInterrupted',
    `the fence session (pid ${fence.ref.pid}) ended before the promote, and the lock with it`,
  );
}

/**
 * An earlier attempt closed the source for a promote whose answer it did not see (its worker died,
 * or DMS had not answered): nothing reopens it until DMS's answer is known. 'promoted': DMS accepted
 * it (the source stays closed); 'reopened': DMS did not promote, and the source has its access back;
 * 'none': no close is recorded. For a resumed cutover and for the compensation (rollbackCutover).
 */
export async function settleSourceClose(
  task: DatabaseTask,
  deps: GcpCutoverDeps,
  h: pg.Client,
  progress: Progress,
): Promise<'promoted' | 'reopened' | 'none'> {
  const job = fenceJob(task);
  await h.query('set default_transaction_read_only = off'); // the source may be closed: h must reopen it
  const record = await readCloseRecord(h, job);
  if (!record) return 'none';
  progress(
    `an earlier attempt closed the source at ${new Date(record.at).toISOString()} to promote DMS job ${job}: ` +
      "reading DMS until the promote's outcome is known; the source stays closed until then",
  );
  const outcome = await earlierPromoteOutcome(deps, record.at, promoteTimeoutMs(task), progress);
  if (outcome.accepted) return 'promoted';
  await reopenSource(h, task.database.source.database, record.access);
  await clearCloseRecord(h, job);
  progress(`DMS did not promote (job ${job} is not promoting): the source was reopened`);
  return 'reopened';
}
