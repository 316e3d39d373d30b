// The rollback after a cutover (operator-triggered only): the cutover protocol (cutover.ts) run
// back over reverse replication (reverse.ts), with the target in the source's place, persisted
// step by step in the job record's reverse.rollback:
//
//   gate      reverse replication runs (its subscription is enabled, a heartbeat written on the
//             target reaches the source within cutover.maxLagSeconds, no new apply errors), the
//             target's sequences are readable, populated materialized views exist on the source, no
//             prepared transactions on the target. Nothing is blocked yet.
//   block     the fence session locks the target's published tables IN SHARE MODE (fence.ts);
//             PostgreSQL ends it at the deadline (cutover.timeout) whatever happens to this worker.
//   drain     a fresh token in the target's dbmig.fence reaches the source through the same apply
//             worker, in commit order: the source then has every write the target committed.
//   close     inside the fence transaction, the target is closed as the cutover closes the source
//             (close-source.ts) and other sessions are ended; the commit is the rollback's point of
//             no return. Before it, any failure ends the block: the target takes writes again.
//   switch    late sessions on the target are ended and a last fence drained; sequences (value and
//             is_called) and populated materialized views are carried to the source; reverse
//             replication stops and the source is reopened exactly as the cutover's close found it.
//             The write-block window ends here.
//   remove    reverse subscription, slot and publication dropped, dbmig's own objects removed.
//
// A retry before the point of no return ends a fence session that outlived its worker and blocks
// anew (never two blocks at once); after it, it resumes forward and never reopens the target.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { formatDuration } from '../../../common/durations';
import { cutoverLimits } from '../../../common/plan-settings';
import { MigrationError } from '../../../common/failures';
import { type RollbackResult } from '../../steps';
import {
  carrySequences,
  listSequences,
  missingOnTarget,
  populatedMaterializedViews,
  refreshMaterializedViews,
  refuseUnreadable,
  type SourceSequence,
} from './carry';
import { closeSource, readSourceAccess, reopenSource } from './close-source';
import { backendAlive, CLOSE_MARGIN_MS, closeCommitted, lostFence, withLease, writeFence } from './cutover';
import type { CutoverEnv } from './cutover-env';
import { applyErrorCount, drainReport, publishedAppTables, type CutoverLimits, type Mark } from './cutover-checks';
import { withClient } from './sessions';
import { blockEndedError } from '../write-block';
import { endFence, endOtherSessions, Fence, preparedTransactions } from './fence';
import { rollbackPastPointOfNoReturn, type JobRecord, type ReverseRecord, type RollbackRecord } from './job-record';
import { heartbeatLag } from './lag';
import type { Lease } from './lease';
import { hasOwnedTables, removeOwnedObjects } from './owned';
import { stopSubscription } from './replication';
import { refuseChangedSet } from './migrated-set';
import { dropReverse, reverseDirection, rollbackRefusal } from './reverse';
import { dropSourceWatch } from './reverse-watch';

type Progress = (step: string) => void;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Rollback {
  private rb: RollbackRecord;
  /** The target helper session's backend: the rollback's own, never ended with the others. */
  private tPid = 0;
  private readonly job: string;
  private readonly limits: CutoverLimits;
  private readonly reverse: ReverseRecord;

  constructor(
    private readonly env: CutoverEnv,
    private readonly lease: Lease,
    /** The target: it publishes now. */
    private readonly tg: pg.Client,
    /** The source: it subscribes now. */
    private readonly src: pg.Client,
    private readonly progress: Progress,
    private rec: JobRecord,
  ) {
    this.job = env.names.job;
    this.limits = cutoverLimits(env.task.settings);
    this.reverse = rec.reverse!;
    this.rb = this.reverse.rollback ?? {};
  }

  private async save(patch: Partial<RollbackRecord>): Promise<void> {
    this.rb = { ...this.rb, ...patch };
    this.rec = { ...this.rec, reverse: { ...this.reverse, rollback: this.rb } };
    await this.lease.write(this.rec);
  }

  async run(): Promise<RollbackResult> {
    this.tPid = (await this.tg.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
    // 'closing' is past the point of no return exactly when the close committed: its token says so.
    if (this.rb.phase === 'closing' && (await closeCommitted(this.tg, this.job, this.rb.close!.token)))
      await this.save({ phase: 'closed' });
    if (!rollbackPastPointOfNoReturn(this.rb)) await this.blockAndClose();
    if (this.rb.phase === 'closed')
      await this.switchBack().catch((err: unknown) => {
        throw err instanceof MigrationError
          ? new MigrationError(
              err.type,
              `${err.message}; past the rollback's point of no return the target stays closed and a retry resumes here`,
            )
          : err;
      });
    this.progress('removing reverse replication');
    await dropReverse(this.src, this.tg, this.reverse);
    await dropSourceWatch(this.src, this.env.names);
    await removeOwnedObjects(this.tg, this.job);
    await removeOwnedObjects(this.src, this.job);
    const { sequences, materializedViews } = this.rb.final!;
    const result: RollbackResult = { writeBlockMs: this.rb.reopened!.writeBlockMs, sequences, materializedViews };
    await this.save({ result });
    return result;
  }

  /** Everything up to the target's close; any failure ends the block (the target takes writes) before it is thrown. */
  private async blockAndClose(): Promise<void> {
    if (this.rb.block) await endFence(this.tg, this.rb.block);
    this.progress('checking the gate: reverse replication, lag, sequences, prepared transactions on the target');
    const gate = await this.gate();
    const startedAt = Date.now();
    const deadline = startedAt + this.limits.timeoutMs;
    this.progress(
      `blocking writes on the target: ${gate.tables.length} tables locked IN SHARE MODE ` +
        `for at most ${formatDuration(this.limits.timeoutMs)}`,
    );
    // The block is on record, deadline and session, before its LOCK is sent (fence.ts).
    const fence = await Fence.open(this.env.target, gate.tables, deadline, this.tg, (ref) =>
      this.save({
        phase: 'blocked',
        blocks: (this.rb.blocks ?? 0) + 1,
        block: { ...ref, startedAt, deadline },
        fence: undefined,
        close: undefined,
      }),
    );
    try {
      const prepared = await preparedTransactions(this.tg);
      if (prepared.length) throw preparedOnTarget(prepared);
      const mark = await writeFence(this.tg, this.job);
      this.progress(`draining to fence ${mark.token}`);
      await this.waitForFence(mark, deadline - 50, fence);
      await this.save({ phase: 'drained', fence: mark });
      this.progress('carrying sequences under the block');
      await carrySequences(this.tg, this.src, gate.sequences);
      if (fence.left() < CLOSE_MARGIN_MS)
        throw new MigrationError('CutoverTimedOut', 'too little of the deadline was left to close the target');
      const before = await readSourceAccess(this.tg);
      const token = randomUUID();
      await this.save({ phase: 'closing', close: { token, before } });
      this.progress('closing the target: CONNECT revoked, read-only by default, other sessions ended');
      await fence.within(async (f) => {
        await closeSource(f, this.env.target.database, before);
        await f.query('update dbmig.fence set token = $2, at = clock_timestamp() where job = $1', [this.job, token]);
      });
      await endOtherSessions(this.tg, [fence.ref.pid, this.tPid], fence.deadline);
      if (!fence.alive()) throw lostFence(fence, 'before the target was closed');
      await fence.commit().catch(async (err: Error) => {
        if (!(await closeCommitted(this.tg, this.job, token))) throw err;
      });
    } catch (err) {
      throw await this.undoBlock(fence, startedAt, err);
    }
    await this.save({ phase: 'closed' });
  }

  /** What must hold before the target is blocked; else nothing changed. */
  private async gate(): Promise<{ tables: string[]; sequences: SourceSequence[] }> {
    const notReady = (why: string) =>
      new MigrationError('CutoverNotReady', `not rolling back: ${why}; nothing was blocked`);
    const { subscription, publication } = this.reverse;
    const sub = await this.src.query<{ oid: number; enabled: boolean }>(
      'select oid, subenabled as enabled from pg_subscription where subname = $1',
      [subscription],
    );
    if (!sub.rowCount)
      throw new MigrationError(
        'RollbackUnavailable',
        `cannot roll back: the reverse subscription ${subscription} is gone from the source (dropped outside dbmig)`,
      );
    if (!sub.rows[0].enabled)
      throw notReady(`reverse replication is stopped (subscription ${subscription} on the source is disabled)`);
    for (const [c, where] of [
      [this.tg, 'target'],
      [this.src, 'source'],
    ] as const) {
      const found =
        (await hasOwnedTables(c)) && (await c.query('select 1 from dbmig.fence where job = $1', [this.job]));
      if (!found || !found.rowCount)
        throw new MigrationError(
          'RollbackUnavailable',
          `cannot roll back: dbmig's fence row for ${this.job} is gone from the ${where}, so no drain can be confirmed`,
        );
    }
    await refuseChangedSet(reverseDirection(this.tg, this.src, this.reverse), 'rolling back');
    const sequences = await listSequences(this.tg);
    refuseUnreadable(sequences, this.env.target.user);
    const missing = await missingOnTarget(this.src, await populatedMaterializedViews(this.tg));
    if (missing.length) throw notReady(`materialized views missing on the source: ${missing.join(', ')}`);
    const prepared = await preparedTransactions(this.tg);
    if (prepared.length) throw preparedOnTarget(prepared);
    const errorsBefore = await applyErrorCount(this.src, sub.rows[0].oid);
    const { maxLagSeconds } = this.limits;
    const lag = await heartbeatLag(this.tg, this.src, this.job, maxLagSeconds * 1000);
    const newErrors = (await applyErrorCount(this.src, sub.rows[0].oid)) - errorsBefore;
    if (newErrors > 0)
      throw notReady(`the source failed to apply reverse replication ${newErrors} time(s) just now (see its log)`);
    if (!lag.arrived)
      throw notReady(
        `reverse lag is over cutover.maxLagSeconds (${maxLagSeconds} s): a heartbeat written on the target did not ` +
          `reach the source within it (the newest applied is ` +
          `${lag.lagSeconds === null ? 'none' : `${lag.lagSeconds.toFixed(1)} s old`})`,
      );
    return { tables: await publishedAppTables(this.tg, publication), sequences };
  }

  /** Ends the block (the target takes writes again) and says so in the error. */
  private async undoBlock(fence: Fence, startedAt: number, err: unknown): Promise<unknown> {
    const lost = !fence.alive();
    await fence.end();
    const done =
      `the target's writes were restored after a ${Date.now() - startedAt} ms block; ` +
      'the source stays closed and reverse replication is untouched';
    return blockEndedError(err, lost, fence.deadline, done);
  }

  /** Past the target's close: end late sessions, drain a last fence, carry, stop reverse replication, reopen. */
  private async switchBack(): Promise<void> {
    const deadline = Date.now() + this.limits.timeoutMs;
    // Once the last fence is drained and carried, nothing more comes from the closed target.
    if (!this.rb.final) {
      this.progress('ending sessions that connected while the target was closing');
      for (let round = 0; round < 3; round++) {
        if (!(await endOtherSessions(this.tg, [this.tPid], deadline)).length) break;
      }
      const mark = await writeFence(this.tg, this.job);
      this.progress(`draining to the final fence ${mark.token}`);
      await this.waitForFence(mark, deadline);
      const seqs = await listSequences(this.tg);
      const views = await populatedMaterializedViews(this.tg);
      this.progress(`carrying ${seqs.length} sequences and ${views.length} materialized views back to the source`);
      const sequences = await carrySequences(this.tg, this.src, seqs);
      await refreshMaterializedViews(this.src, views);
      await this.save({ final: { finalLsn: mark.lsn, sequences, materializedViews: views } });
    }
    this.progress('stopping reverse replication and reopening the source');
    await stopSubscription(this.src, this.reverse.subscription, deadline);
    await reopenSource(this.src, this.env.source.database, this.rec.close!.before);
    const at = Date.now();
    await this.save({ phase: 'switched', reopened: { at, writeBlockMs: at - this.rb.block!.startedAt } });
  }

  /** Waits until the source has applied `mark`, the block (if any) is held, and `deadline` has not passed. */
  private async waitForFence(mark: Mark, deadline: number, fence?: Fence): Promise<void> {
    for (;;) {
      const { rows } = await this.src.query<{ token: string | null }>('select token from dbmig.fence where job = $1', [
        this.job,
      ]);
      if (rows[0]?.token === mark.token) return;
      if (fence && !(fence.alive() && (await backendAlive(this.tg, fence))))
        throw lostFence(fence, `before the source applied fence ${mark.token}`);
      if (Date.now() >= deadline) {
        // The target's writes come back first; what is known about the drain is gathered after.
        await fence?.end();
        const { publication, slot, subscription } = this.reverse;
        const env = { ...this.env, names: { ...this.env.names, publication, slot, subscription } };
        throw new MigrationError(
          'CutoverTimedOut',
          `the source did not apply fence ${mark.token} within ${formatDuration(this.limits.timeoutMs)}: ` +
            (await drainReport({ ...env, applyErrors: async () => [] }, this.tg, this.src, mark, 'the source')),
        );
      }
      await sleep(5); // as the cutover: a coarse poll adds its period to the block
    }
  }
}

/** Runs the rollback after the cutover, or returns the result a previous run recorded. */
export async function runRollback(env: CutoverEnv, onProgress: Progress): Promise<RollbackResult> {
  const what = `${env.task.database.name} (migration ${env.task.migrationId})`;
  const seen = await env.records.read();
  const refusal = rollbackRefusal(seen, what);
  if (refusal) throw refusal;
  const done = seen.reverse!.rollback?.result;
  if (done) return done;
  // The lease first (lease.ts): an older attempt still at work is stopped before anything here.
  return withLease(env, async (leased, lease, rec) => {
    const refused = rollbackRefusal(rec, what);
    if (refused) throw refused;
    if (rec.reverse!.rollback?.result) return rec.reverse!.rollback.result;
    return withClient(leased.target, (tg) =>
      withClient(leased.source, async (src) => {
        await lease.sweep(tg);
        await lease.sweep(src);
        return new Rollback(leased, lease, tg, src, onProgress, rec).run();
      }),
    );
  });
}

function preparedOnTarget(prepared: string[]): MigrationError {
  return new MigrationError(
    'PreparedTransactions',
    `not rolling back while ${prepared.length} prepared transaction(s) exist on the target: ${prepared.join(', ')}; ` +
      'COMMIT PREPARED or ROLLBACK PREPARED them (a COMMIT PREPARED would write after the fence)',
  );
}
