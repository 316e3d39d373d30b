// The gcp cutover: DMS carries the writes, the worker stops them and proves they arrived, then DMS
// promotes. Google's procedure for a loss-less promotion is "stop all writes ... wait until the
// replication delay is at zero ... promote" (https://cloud.google.com/database-migration/docs/postgres/promote-migration,
// .../postgresql-to-alloydb/promote-migration, .../mysql/promote-migration). Where the worker reaches a
// PostgreSQL source (source.access 'direct') it does the first two steps itself, with the local
// platform's fence (local/fence.ts, local/close-source.ts):
//
//   gate      the job is RUNNING in CDC, the target has dbmig.fence (cutover-fence.ts: created on the
//             source before the job started, or DMS would not carry it), no prepared transactions,
//             a token written now reaches the target within cutover.maxLagSeconds, and a DMS lag
//             sample taken after the cutover began reads at most cutover.maxLagSeconds (Google's
//             "replication delay at zero"). The metric is sampled every 60 s and published up to
//             180 s late, so this waits minutes; it does so here, before anything is blocked,
//             which keeps the block short. A failure leaves the database replicating.
//   block     a fence session locks every table DMS carries IN SHARE MODE; PostgreSQL ends it at the
//             deadline (cutover.timeout from the LOCK) whatever happens to this worker (rule 2).
//   drain     a fresh token in dbmig.fence, written after the lock, must show on the TARGET (read
//             over SQL: DMS applies in commit order, so every write committed before the lock is
//             there, rule 3). The token is the proof; no time or lag is guessed.
//   close     a second session (also a fence: the same server-side deadline) runs closeSource:
//             CONNECT revoked, read-only by default. Uncommitted: nobody sees it yet.
//   promote   migrationJobs.promote. Its acceptance is the POINT OF NO RETURN: DMS stops reading
//             the source. Until promote() returns, any failure (or a dead worker) ends both
//             sessions: writes come back, nothing was closed, replication runs on. A promote that
//             fails is checked against the job's phase: a lost reply to an accepted promote is
//             accepted.
//   switch    the close commits (new sessions are refused or read-only) while the lock still holds;
//             every other session is ended (writers queued behind the lock exit rolled back, so
//             none of their writes lands on the source where DMS no longer reads); then the lock
//             is released. The write-block window ends here. Then the promote is awaited.
//
// A retry first ends fence sessions an earlier attempt left (a hung worker). If the job is past
// the point of no return (phase PROMOTE_IN_PROGRESS, or COMPLETED) it never blocks again: it makes
// sure the source is closed (closing is idempotent), ends the sessions that connected before the
// close, and awaits the promotion. A worker killed between the promote's acceptance and the close's
// commit leaves a gap: the fence's deadline ends the block, the source takes writes that DMS no
// longer reads, until the retry closes it. Those writes are on the source only; the retry says so.
//
// Without SQL access (source.access 'dms-only') no fence is possible: the operator stops the
// writes before approving, and the cutover promotes only after a lag sample taken after it began
// reads at most cutover.maxLagSeconds. MySQL sources with 'direct' access get the same shape with
// MySQL's means (LOCK TABLES, read_only): cutover-mysql.ts.
import { formatDuration } from '../../../common/durations';
import { cutoverLimits } from '../../../common/plan';
import type pg from 'pg';
import { withClient, type ConnectionParams } from '../local/clusters';
import { backendAlive, writeFence } from '../local/cutover';
import { blockEndedError, endOtherSessions, Fence, preparedTransactions } from '../local/fence';
import { closeSource, readSourceAccess } from '../local/close-source';
import { preparedError } from '../local/cutover-checks';
import { removeOwnedObjects } from '../local/owned';
import { MigrationError, type CutoverResult, type DatabaseTask } from '../platform';
import {
  describeJob,
  promoted,
  requireFreshLag,
  requireReplicating,
  SAMPLE_DELAY_MS,
  waitForLag,
  type GcpCutoverDeps,
} from './cutover-dms';
import { mysqlFencedCutover } from './cutover-mysql';

export { promoted, type GcpCutoverDeps, type LagReading } from './cutover-dms';
import {
  carriedTables,
  closeSourceNow,
  endStaleFences,
  fenceJob,
  fencesOverSql,
  requireTargetFence,
  sourceClosed,
  sourceParams,
  targetToken,
} from './cutover-fence';

type Progress = (step: string) => void;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Ending sessions and releasing the lock need a moment after the close commits. */
const SWITCH_MARGIN_MS = 500;

/**
 * Why this task cannot have a fenced cutover, or undefined: for the assessment, so a plan learns
 * it before the migration runs rather than at the cutover.
 */
export function cutoverRefusal(task: DatabaseTask): string | undefined {
  void task; // every engine has a fence now (MySQL: cutover-mysql.ts); kept for the assessment's call
  return undefined;
}

export async function gcpCutover(
  task: DatabaseTask,
  deps: GcpCutoverDeps,
  onProgress: Progress,
): Promise<CutoverResult> {
  const endpoint = `${task.database.target.kind}://${task.gcp!.project}/${task.database.target.instance}`;
  const result = (writeBlockMs: number): CutoverResult => ({
    endpoint,
    finalLsn: 'n/a (DMS)',
    sequencesCopied: 0,
    writeBlockMs,
  });
  const refusal = cutoverRefusal(task);
  if (refusal) throw new MigrationError('InvalidPlan', refusal);
  if (!fencesOverSql(task)) return result(await dmsOnlyCutover(task, deps, onProgress));
  if (!deps.target)
    // Permanent: nothing changes between retries, and a guess (lag alone) is what rule 3 forbids.
    throw new MigrationError(
      'PlatformUnavailable',
      `not cutting over ${task.database.name}: the worker cannot reach the target over SQL, so it cannot see ` +
        'the fence arrive; nothing was blocked. Give the worker SQL access to the target (its private IP on the ' +
        "plan's network, target.user and target.passwordRef), or set source.access: dms-only and stop the " +
        'writes by hand',
    );
  const source = deps.source ?? (await sourceParams(task));
  if (task.database.engine === 'mysql')
    return result(await mysqlFencedCutover(task, deps, source, deps.target, onProgress));
  return withClient(source, (h) =>
    withClient(deps.target!, async (t) => {
      const cut = new FencedCutover(task, deps, source, h, t, onProgress);
      return result(await cut.run());
    }),
  );
}

class FencedCutover {
  private readonly job: string;
  private readonly limits: { maxLagSeconds: number; timeoutMs: number };

  constructor(
    task: DatabaseTask,
    private readonly deps: GcpCutoverDeps,
    private readonly source: ConnectionParams,
    private readonly h: pg.Client,
    private readonly t: pg.Client,
    private readonly progress: Progress,
  ) {
    this.job = fenceJob(task);
    this.limits = cutoverLimits(task.settings);
  }

  /** Returns the write-block window in ms (0 when a retry found the job past the point of no return). */
  async run(): Promise<number> {
    const stale = await endStaleFences(this.h);
    if (stale) this.progress(`ended ${stale} fence session(s) an earlier attempt left behind`);
    const job = await this.deps.jobState();
    if (promoted(job)) return this.resumePastPointOfNoReturn();
    await this.gate(job);
    const blockMs = await this.blockAndPromote();
    await this.afterPointOfNoReturn(() => this.deps.waitPromoted());
    await this.removeFenceFromTarget();
    return blockMs;
  }

  private async gate(job: { state: string; phase?: string }): Promise<void> {
    const notReady = (why: string) =>
      new MigrationError('CutoverNotReady', `not cutting over: ${why}; nothing was blocked`);
    requireReplicating(job, this.job);
    await requireTargetFence(this.t, this.job);
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

  /** Everything up to and including the promote's acceptance; before it, any failure ends the block. */
  private async blockAndPromote(): Promise<number> {
    const { timeoutMs } = this.limits;
    const tables = await carriedTables(this.h);
    const startedAt = Date.now();
    const deadline = startedAt + timeoutMs;
    this.progress(
      `blocking writes: ${tables.length} tables locked IN SHARE MODE for at most ${formatDuration(timeoutMs)}`,
    );
    const fence = await Fence.open(this.source, tables, deadline, this.h);
    let closer: Fence | undefined;
    // Promoting needs time for the request and for the switch after it: with less left, stop undoably.
    const margin = Math.max(SWITCH_MARGIN_MS, Math.min(5_000, Math.floor(timeoutMs / 4)));
    try {
      const prepared = await preparedTransactions(this.h);
      if (prepared.length) throw preparedError(prepared);
      const mark = await writeFence(this.h, this.job);
      this.progress(`draining to fence ${mark.token}`);
      if (!(await this.tokenArrives(mark.token, deadline - margin, fence)))
        throw new MigrationError('CutoverTimedOut', `the target did not show fence ${mark.token} in time`);
      this.progress(`the target has fence ${mark.token}: closing the source (uncommitted)`);
      closer = await Fence.open(this.source, ['dbmig.fence'], deadline, this.h);
      await closer.within(async (c) => closeSource(c, this.source.database, await readSourceAccess(c)));
      if (!fence.alive() || !closer.alive()) throw lostFence(fence);
      if (fence.left() < margin)
        throw new MigrationError('CutoverTimedOut', `too little of the deadline was left to promote and close`);
      this.progress(`promoting DMS job ${this.job}: the point of no return`);
      await this.promote();
    } catch (err) {
      const lost = !fence.alive();
      await closer?.end();
      await fence.end();
      const done = `writes were restored after a ${Date.now() - startedAt} ms block; nothing was promoted or closed`;
      throw blockEndedError(err, lost, deadline, done);
    }
    return this.switchOver(fence, closer, startedAt);
  }

  /** promote(); a failure whose request DMS applied anyway (a lost reply) counts as accepted. */
  private async promote(): Promise<void> {
    try {
      await this.deps.promote();
    } catch (err) {
      const job = await this.deps.jobState().catch(() => undefined);
      if (job && promoted(job)) {
        this.progress(`the promote request failed (${(err as Error).message}) but DMS is promoting: going on`);
        return;
      }
      throw err;
    }
  }

  /** Past the point of no return: commit the close under the lock, end every other session, release the lock. */
  private async switchOver(fence: Fence, closer: Fence, startedAt: number): Promise<number> {
    return this.afterPointOfNoReturn(async () => {
      await closer.commit().catch(async (err: Error) => {
        // A lost reply does not mean a lost commit; closing again is idempotent either way.
        if (!(await sourceClosed(this.h))) {
          this.progress(`the close did not commit (${err.message}): closing again`);
          await closeSourceNow(this.h, this.source.database);
        }
      });
      let ended: string[];
      let held: boolean;
      try {
        const hPid = (await this.h.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
        ended = await endOtherSessions(this.h, [fence.ref.pid, hPid], Math.max(fence.deadline, Date.now() + 5_000));
        held = fence.alive() && (await backendAlive(this.h, fence));
      } finally {
        await fence.end();
      }
      const writeBlockMs = Date.now() - startedAt;
      if (!held)
        this.progress(
          'WARNING: the write block ended (deadline) before every session was ended: writes made between its ' +
            'end and the close are on the source only (DMS had stopped reading it)',
        );
      this.progress(
        `the source is closed; ${ended.length} other session(s) ended; writes were blocked for ${writeBlockMs} ms`,
      );
      return writeBlockMs;
    });
  }

  /** The retry past the point of no return: never blocks, makes sure the source is closed, awaits the promote. */
  private async resumePastPointOfNoReturn(): Promise<number> {
    return this.afterPointOfNoReturn(async () => {
      if (!(await sourceClosed(this.h))) {
        this.progress(
          'WARNING: DMS is past the promote but the source was not closed (the worker stopped between the ' +
            'promote and the close): closing it now; writes made since the block ended are on the source only',
        );
        await closeSourceNow(this.h, this.source.database);
      }
      const hPid = (await this.h.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
      const ended = await endOtherSessions(this.h, [hPid], Date.now() + this.limits.timeoutMs);
      this.progress(`the source is closed (${ended.length} session(s) ended); awaiting the promotion`);
      await this.deps.waitPromoted();
      await this.removeFenceFromTarget();
      return 0;
    });
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
 * No SQL to the source: the operator stopped the writes before approving. Promotes once a lag
 * sample taken after the cutover began (so after the approval) reads at most cutover.maxLagSeconds.
 */
async function dmsOnlyCutover(task: DatabaseTask, deps: GcpCutoverDeps, progress: Progress): Promise<number> {
  const { maxLagSeconds } = cutoverLimits(task.settings);
  const job = await deps.jobState();
  if (!promoted(job)) {
    if (job.state !== 'RUNNING' || job.phase !== 'CDC')
      throw new MigrationError(
        'CutoverNotReady',
        `not cutting over: DMS job ${fenceJob(task)} is ${describeJob(job)}, not RUNNING/CDC`,
      );
    const since = new Date();
    const waitMs = deps.freshSampleWaitMs ?? SAMPLE_DELAY_MS + 60_000;
    progress(
      `source.access is dms-only: the writes must already be stopped by hand; waiting up to ` +
        `${formatDuration(waitMs)} for a DMS lag sample taken after ${since.toISOString()} at most ${maxLagSeconds} s`,
    );
    const { fresh, last } = await waitForLag(deps, since, maxLagSeconds, Date.now() + waitMs);
    if (!fresh) {
      const read = last ? `the newest lag sample since then reads ${last.seconds} s` : 'no lag sample since then';
      throw new MigrationError(
        'CutoverNotReady',
        `not promoting: ${read} (cutover.maxLagSeconds ${maxLagSeconds}); are the writes stopped on the source?`,
      );
    }
    progress(`DMS lag ${fresh.seconds} s sampled ${fresh.sampledAt.toISOString()}: promoting (the point of no return)`);
    try {
      await deps.promote();
    } catch (err) {
      const now = await deps.jobState().catch(() => undefined);
      if (!now || !promoted(now)) throw err;
    }
  }
  try {
    await deps.waitPromoted();
  } catch (err) {
    throw new MigrationError(
      'CutoverIncomplete',
      `${(err as Error).message}; DMS accepted the promote (the point of no return): a retry resumes`,
    );
  }
  // The write block was the operator's, outside what this worker can measure.
  return 0;
}
