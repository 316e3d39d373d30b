// The PostgreSQL cutover by native logical replication (local platform, existing servers), persisted
// step by step in the job record:
//
//   gate      fresh heartbeat lag <= cutover.maxLagSeconds, no new apply errors, every sequence
//             readable, populated materialized views present on the target, no prepared
//             transactions, every table and large object of the source carried (migrated-set.ts,
//             checked again under the block). Nothing is blocked yet: a failure leaves the database ready.
//   block     the fence session locks every published table (fence.ts); PostgreSQL ends it at
//             the deadline (cutover.timeout from the LOCK) whatever happens to this worker.
//   drain     a fresh token in dbmig.fence, written after the lock, reaches the target through
//             the same apply worker in commit order: once the target has it, it has every write
//             committed before the lock. No WAL position or subscriber feedback is involved.
//   close     inside the fence transaction: CONNECT revoked, read-only by default, the fence row
//             marked with a close token; then every other session is ended and has exited; then
//             COMMIT. That commit is the point of no return: it closes the source and releases
//             the lock at once. Before it, a failure (or a dead worker) rolls back everything.
//   switch    sessions that connected between the end of the sessions and the commit saw the old
//             ACL and defaults (a catalog change is visible only once committed), so they are
//             ended too and a last fence is drained: whatever they wrote after the lock went is on
//             the target. Then sequences (value and is_called) and populated materialized views
//             are carried, the subscription stops (its worker ended: nothing more arrives), both
//             sides' snapshots are taken for the final comparison at the fence (fence-snapshot.ts;
//             their two sessions connect before the block and are spared when sessions are ended),
//             the target is marked as cut over and reverse replication is set up (reverse.ts): the
//             target takes writes. The write-block window ends here.
//   remove    subscription, slot and publication are dropped.
//
// A retry reads the job record: before the point of no return it ends a fence session that
// outlived its worker, gates and blocks anew (never two blocks at once); after it, it resumes
// forward and never reopens the source. Every attempt takes the job's lease first (lease.ts) and
// ends older attempts' sessions before its first statement; an older attempt that resumes (a
// frozen worker, one cut off from Temporal) has its record writes refused and ends its sessions.
// The gate and the drain report live in cutover-checks.ts, the undo of a cutover that stopped
// (rollbackCutover) in cutover-undo.ts.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { formatDuration } from '../../../common/durations';
import { pauseAt } from '../../fault-pause';
import { cutoverLimits } from '../../../common/plan-settings';
import { MigrationError } from '../../../common/failures';
import { type CutoverResult } from '../../steps';
import { carrySequences, listSequences, populatedMaterializedViews, refreshMaterializedViews } from './carry';
import { closeSource, readSourceAccess } from './close-source';
import { checkGate, drainReport, forward, preparedError, type CutoverLimits, type Mark } from './cutover-checks';
import type { CutoverEnv } from './cutover-env';
import { withClient } from './sessions';
import { blockEndedError } from '../write-block';
import { endFence, endOtherSessions, Fence, preparedTransactions } from './fence';
import { endSnapshotSessions, openSnapshotSessions, takeFenceSnapshots, type SnapshotSessions } from './fence-snapshot';
import { pastPointOfNoReturn, type JobRecord } from './job-record';
import { Lease } from './lease';
import { dropSourceObjects, dropSubscription, setSubscriptionEnabled, stopSubscription } from './replication';
import { refuseChangedSet } from './migrated-set';
import { prepareReverse, setUpReverse } from './reverse';
import { startSourceWatch } from './reverse-watch';
import { markCutOver } from './target-mark';

type Progress = (step: string) => void;

/** Closing needs a moment (statements, sessions to exit): with less left, time out while it is still undoable. */
export const CLOSE_MARGIN_MS = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Cutover {
  private rec: JobRecord = {};
  /** The helper session's backend: the cutover's own, never ended with the others. */
  private hPid = 0;
  private readonly job: string;
  private readonly limits: CutoverLimits;
  /** The sessions that will hold the final comparison's snapshots (fence-snapshot.ts); taken: they hold them. */
  private snapshotSessions?: Promise<SnapshotSessions | undefined>;
  /** Once connected: nothing inside the block waits for a connection still being made. */
  private snapshotReady?: SnapshotSessions;
  private snapshotsTaken = false;

  constructor(
    private readonly env: CutoverEnv,
    private readonly lease: Lease,
    private readonly h: pg.Client,
    private readonly t: pg.Client,
    private readonly progress: Progress,
  ) {
    this.job = env.names.job;
    this.limits = cutoverLimits(env.task.settings);
  }

  private async save(patch: Partial<JobRecord>): Promise<void> {
    this.rec = { ...this.rec, ...patch };
    await this.lease.write(this.rec);
  }

  async run(rec: JobRecord): Promise<CutoverResult> {
    this.rec = rec;
    this.hPid = (await this.h.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
    await resolveClosing(this.h, this.job, this.rec, (p) => this.save(p));
    // Connected while nothing is blocked yet (they are ready by the switch, which only takes the
    // snapshots); spared when the other sessions are ended.
    if (this.rec.phase !== 'switched')
      this.snapshotSessions = this.openSnapshotSessions().then((x) => (this.snapshotReady = x));
    try {
      if (!pastPointOfNoReturn(this.rec)) await this.blockAndClose();
      // Past the point of no return whatever fails is CutoverIncomplete: the source stays closed and
      // a retry resumes from the job record, so the runbook never reports the source as restored.
      await this.pastPointOfNoReturn(async () => {
        if (this.rec.phase === 'closed') await this.switchOver();
        this.progress('removing replication');
        await dropSubscription(this.t, this.env.names.subscription);
        await dropSourceObjects(this.h, this.env.names);
      });
    } finally {
      if (!this.snapshotsTaken) await endSnapshotSessions(await this.snapshotSessions);
    }
    const s = this.rec.switched!;
    const reverse = this.rec.reverse;
    const result: CutoverResult = {
      endpoint: `postgresql://${this.env.target.host}:${this.env.target.port}/${this.env.target.database}`,
      finalLsn: s.finalLsn,
      sequencesCopied: s.sequences.length,
      writeBlockMs: s.writeBlockMs,
      sequences: s.sequences,
      materializedViews: s.materializedViews,
      ...(reverse
        ? {
            reverseReplication: {
              publication: reverse.publication,
              slot: reverse.slot,
              subscription: reverse.subscription,
            },
          }
        : {}),
    };
    await this.save({ result });
    return result;
  }

  private async pastPointOfNoReturn(steps: () => Promise<void>): Promise<void> {
    try {
      await steps();
    } catch (err) {
      const e = err as { type?: string; message?: string };
      const was = err instanceof MigrationError ? `${e.type}: ` : '';
      throw new MigrationError(
        'CutoverIncomplete',
        `${was}${e.message ?? String(err)}; past the point of no return the source stays closed ` +
          '(the target took over) and a retry resumes here',
      );
    }
  }

  /** Everything up to the point of no return; any failure ends the block before it is thrown. */
  private async blockAndClose(): Promise<void> {
    if (this.rec.block) await endFence(this.h, this.rec.block);
    this.progress('preparing reverse replication on the target (publication and slot), before any block');
    await prepareReverse(this.h, this.t, this.env.names, this.env.target.database, this.limits.timeoutMs);
    this.progress('checking the gate: lag, apply errors, sequences, prepared transactions');
    const gate = await checkGate(this.env, this.h, this.t, this.limits);
    const startedAt = Date.now();
    const deadline = startedAt + this.limits.timeoutMs;
    this.progress(
      `blocking writes: ${gate.tables.length} tables locked IN SHARE MODE ` +
        `for at most ${formatDuration(this.limits.timeoutMs)}`,
    );
    // The block is on record, deadline and session, before its LOCK is sent (fence.ts).
    const unblocked = { phase: this.rec.phase, blocks: this.rec.blocks };
    const fence = await Fence.open(this.env.source, gate.tables, deadline, this.h, (ref) =>
      this.save({
        phase: 'blocked',
        blocks: (this.rec.blocks ?? 0) + 1,
        block: { ...ref, startedAt, deadline },
        fence: undefined,
        close: undefined,
      }),
    ).catch(async (err: unknown) => {
      // A LOCK refused at its wait was never granted and its session is closed (fence.ts): nothing
      // was blocked, so the record says so again. Any other failure keeps the block for a retry to end.
      if (err instanceof MigrationError && err.type === 'CutoverNotReady')
        await this.save({ ...unblocked, block: undefined });
      throw err;
    });
    try {
      // The gate looked before the lock; a transaction prepared since would commit after the fence.
      const prepared = await preparedTransactions(this.h);
      if (prepared.length) throw preparedError(prepared);
      const mark = await writeFence(this.h, this.job);
      this.progress(`draining to fence ${mark.token}`);
      await this.waitForFence(mark, deadline - 50, fence);
      await this.save({ phase: 'drained', fence: mark });
      // Once more under the block: CREATE TABLE takes none of the fence's locks, so a deploy may
      // have made a table since the gate looked; refused now, the block ends and nothing is lost.
      await refuseChangedSet(forward(this.env, this.h, this.t), 'cutting over', true);
      // Carried once more after the close; here, while undoing is still possible, it shows it works.
      this.progress('carrying sequences under the block');
      await carrySequences(this.h, this.t, gate.sequences);
      if (fence.left() < CLOSE_MARGIN_MS)
        throw new MigrationError('CutoverTimedOut', `too little of the deadline was left to close the source`);
      const before = await readSourceAccess(this.h);
      const token = randomUUID();
      await this.save({ phase: 'closing', close: { token, before } });
      this.progress('closing the source: CONNECT revoked, read-only by default, other sessions ended');
      await fence.within(async (f) => {
        await closeSource(f, this.env.source.database, before);
        await f.query('update dbmig.fence set token = $2, at = clock_timestamp() where job = $1', [this.job, token]);
      });
      await endOtherSessions(this.h, [fence.ref.pid, this.hPid, ...this.snapshotPids()], fence.deadline);
      if (!fence.alive()) throw lostFence(fence, 'before the source was closed');
      await fence.commit().catch(async (err: Error) => {
        // A lost reply does not mean a lost commit: the close token says which.
        if (!(await closeCommitted(this.h, this.job, token))) throw err;
      });
    } catch (err) {
      throw await this.undoBlock(fence, startedAt, err);
    }
    // The close committed and is not recorded yet: a worker that dies here leaves 'closing', which
    // resolveClosing reads by the close token. Tests kill the worker at this instant.
    await pauseAt('cutover/close-committed');
    await this.save({ phase: 'closed' });
  }

  /**
   * Ends the block (writes come back), makes sure replication runs, and says so in the error. An
   * error of the fence session itself means PostgreSQL ended it: at the deadline, or by someone's
   * pg_terminate_backend.
   */
  private async undoBlock(fence: Fence, startedAt: number, err: unknown): Promise<unknown> {
    const lost = !fence.alive();
    await fence.end();
    const blocked = Date.now() - startedAt;
    const replication = await ensureReplicating(this.t, this.env.names.subscription).catch(
      (e: Error) => `replication could not be checked (${e.message})`,
    );
    const done = `writes were restored after a ${blocked} ms block; ${replication}`;
    return blockEndedError(err, lost, fence.deadline, done);
  }

  /**
   * Past the point of no return: end late sessions, drain a last fence, carry, stop replication,
   * then set up reverse replication. Once replication is stopped nothing more arrives from the
   * source, so a retry from there on does not drain again (it could not).
   */
  private async switchOver(): Promise<void> {
    const deadline = Date.now() + this.limits.timeoutMs;
    if (!this.rec.subscriptionDisabled) {
      // From the close on, a write on the source is someone else's (a superuser's, say): watched
      // from here, not from the watcher's first look (reverse-watch.ts). Never a reason to stop.
      const unwatched = await startSourceWatch(this.h, this.env.names, Math.min(5_000, deadline - Date.now()));
      if (unwatched) this.env.log(`cutover ${this.job}: ${unwatched}`);
      this.progress('ending sessions that connected while the source was closing');
      const keep = [this.hPid, ...this.snapshotPids()];
      // Named once; later rounds leave them too (the default would refuse them, past the point of no return).
      const superusers = (who: string[]) =>
        this.progress(
          `left connected: ${who.length} superuser session(s), which only a superuser may end (${who.join('; ')}); ` +
            'the source is closed to others, and their writes are watched until finalize',
        );
      for (let round = 0; round < 3; round++) {
        if (!(await endOtherSessions(this.h, keep, deadline, round ? () => undefined : superusers)).length) break;
      }
      const mark = await writeFence(this.h, this.job);
      this.progress(`draining to the final fence ${mark.token}`);
      await this.waitForFence(mark, deadline);
      const seqs = await listSequences(this.h);
      const views = await populatedMaterializedViews(this.h);
      this.progress(`carrying ${seqs.length} sequences and ${views.length} materialized views`);
      const sequences = await carrySequences(this.h, this.t, seqs);
      await refreshMaterializedViews(this.t, views);
      const final = { finalLsn: mark.lsn, sequences, materializedViews: views };
      await this.save({ subscriptionDisabled: true, final });
    }
    this.progress('stopping replication: nothing more arrives from the source');
    const setupStarted = Date.now();
    await stopSubscription(this.t, this.env.names.subscription, deadline);
    // From here the target's WAL holds only what others write (the forward apply has exited):
    // reverse replication starts at this position, not wherever the WAL is once it is set up.
    const reverseFrom = (await this.t.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0].lsn;
    // Both sides as of the fence, before reverse replication or an application changes either.
    this.progress("taking both sides' snapshots at the fence for the final validation");
    const atFence = await this.takeSnapshots(this.snapshotReady);
    this.snapshotsTaken = !!atFence;
    const { task } = this.env;
    await markCutOver(this.t, this.env.target.database, {
      migrationId: task.migrationId,
      database: task.database.name,
    });
    await pauseAt('cutover/switching'); // tests kill the worker inside the switch, not after it
    this.progress('setting up reverse replication (target to source, no copy): the target takes writes');
    const save = (p: Partial<JobRecord>) => this.save(p);
    const reverse = await setUpReverse(
      this.h,
      this.t,
      this.env.names,
      this.env.target,
      this.rec,
      save,
      deadline,
      reverseFrom,
    );
    const at = Date.now();
    const final = this.rec.final!;
    await this.save({
      phase: 'switched',
      ...(atFence ? { atFence } : {}),
      reverse: { ...reverse, at, setupMs: at - setupStarted },
      switched: { at, ...final, writeBlockMs: at - this.rec.block!.startedAt },
    });
  }

  /**
   * The sessions that will hold the snapshots at the fence. Never a reason for the cutover to stop
   * (past the point of no return): without them the final validation compares after the switch.
   */
  private openSnapshotSessions(): Promise<SnapshotSessions | undefined> {
    return openSnapshotSessions(this.env.source, this.env.target).catch((err: Error) => {
      this.env.log(`cutover ${this.job}: no snapshot at the fence for the final validation: ${err.message}`);
      return undefined;
    });
  }

  /** The source's snapshot session: ours, and read-only; never ended with the other sessions. */
  private snapshotPids(): number[] {
    return this.snapshotReady ? [this.snapshotReady.sourcePid] : [];
  }

  private async takeSnapshots(x: SnapshotSessions | undefined): Promise<JobRecord['atFence']> {
    if (!x) return undefined;
    try {
      return { snapshots: await takeFenceSnapshots(this.job, x) };
    } catch (err) {
      this.env.log(`cutover ${this.job}: no snapshot at the fence for the final validation: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Waits until the target has applied `mark`, the block (if any) is held, and `deadline` has not passed. */
  private async waitForFence(mark: Mark, deadline: number, fence?: Fence): Promise<void> {
    for (;;) {
      const { rows } = await this.t.query<{ token: string | null }>('select token from dbmig.fence where job = $1', [
        this.job,
      ]);
      if (rows[0]?.token === mark.token) return;
      if (fence && !(fence.alive() && (await backendAlive(this.h, fence))))
        throw lostFence(fence, `before the target applied fence ${mark.token}`);
      if (Date.now() >= deadline) {
        // Writes come back first; what is known about the drain is gathered after.
        await fence?.end();
        throw new MigrationError(
          'CutoverTimedOut',
          `the target did not apply fence ${mark.token} within ${formatDuration(this.limits.timeoutMs)}: ` +
            (await drainReport(this.env, this.h, this.t, mark)),
        );
      }
      await sleep(5); // the fence arrives in 1-3 ms: a coarse poll would add its whole period to the block
    }
  }
}

/** Runs the cutover, or returns the result a previous run recorded. */
export async function runCutover(env: CutoverEnv, onProgress: Progress): Promise<CutoverResult> {
  const done = (await env.records.read()).result;
  if (done) return done;
  return withLease(env, async (leased, lease, rec) => {
    if (rec.result) return rec.result;
    return withClient(leased.source, (h) =>
      withClient(leased.target, async (t) => {
        await lease.sweep(h);
        await lease.sweep(t);
        return new Cutover(leased, lease, h, t, onProgress).run(rec);
      }),
    );
  });
}

/**
 * Runs `fn` holding the job's lease (lease.ts), with `env`'s sessions opened under it: the record
 * `fn` gets is the one as of the lease, and only this attempt writes it until another takes over.
 */
export async function withLease<T>(
  env: CutoverEnv,
  fn: (leased: CutoverEnv, lease: Lease, rec: JobRecord) => Promise<T>,
): Promise<T> {
  const { lease, rec } = await Lease.take(env.records, env.names.job);
  try {
    return await fn({ ...env, source: lease.params(env.source), target: lease.params(env.target) }, lease, rec);
  } finally {
    lease.release();
  }
}

/** 'closing' is past the point of no return exactly when the close committed: its token says so. */
export async function resolveClosing(
  h: pg.Client,
  job: string,
  rec: JobRecord,
  save: (p: Partial<JobRecord>) => Promise<void>,
): Promise<void> {
  if (rec.phase === 'closing' && rec.close && (await closeCommitted(h, job, rec.close.token)))
    await save({ phase: 'closed' });
}

/** The close token is written in the fence transaction: visible exactly when that transaction committed. */
export async function closeCommitted(h: pg.Client, job: string, token: string): Promise<boolean> {
  const { rows } = await h.query('select 1 from dbmig.fence where job = $1 and token = $2', [job, token]);
  return rows.length > 0;
}

export async function writeFence(h: pg.Client, job: string): Promise<Mark> {
  const token = randomUUID();
  await h.query(
    `insert into dbmig.fence (job, token, at) values ($1, $2, clock_timestamp())
     on conflict (job) do update set token = excluded.token, at = excluded.at`,
    [job, token],
  );
  const { rows } = await h.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
  return { token, lsn: rows[0].lsn };
}

async function ensureReplicating(t: pg.Client, sub: string): Promise<string> {
  const { rows } = await t.query<{ enabled: boolean }>(
    'select subenabled as enabled from pg_subscription where subname = $1',
    [sub],
  );
  if (!rows.length) return 'the subscription is gone';
  if (rows[0].enabled) return 'replication runs';
  // The gate saw it enabled: enabling it again restores the state the cutover started from.
  await setSubscriptionEnabled(t, sub, true);
  return 'replication had stopped and was started again';
}

export async function backendAlive(h: pg.Client, fence: Fence): Promise<boolean> {
  const { rows } = await h.query('select 1 from pg_stat_activity where pid = $1', [fence.ref.pid]);
  return rows.length > 0;
}

export function lostFence(fence: Fence, when: string): MigrationError {
  return new MigrationError(
    'CutoverInterrupted',
    `the fence session (pid ${fence.ref.pid}) ended ${when}, and the lock with it`,
  );
}
