// After the cutover, while reverse replication keeps a rollback possible: COMPLETED until an
// operator rolls back or finalizes, or cutover.reverseReplicationFor runs out. Reverse replication
// is watched meanwhile (a break or a write on the closed source shows in the status and notifies).
// A rollback that fails is read by how far it got (the platform's rollbackProgress), never by its
// error's type (safety rule 5): before the target's close the target takes writes again and the
// database is COMPLETED; past it, the rollback is resumed forward until the source takes writes,
// and `writesOn` says at every step which side takes them. The resume loop has an event budget
// (safety rule 4): RESUME_ROUNDS rounds of about a dozen events each, each round an activity
// retried by Temporal for up to a day.
import { CancellationScope, condition, isCancellation, log, sleep } from '@temporalio/workflow';
import { cutoverLimits, type EffectiveSettings } from '../common/plan-settings';
import { type DatabasePlan } from '../common/plan';
import type { DatabaseSummary } from '../common/status';
import type { NotifyEvent } from '../common/notify-plan';
import type { NotifyFacts } from '../common/notify-message';
import type { DatabaseTask } from '../activities';
import type { RollbackProgress, RollbackResult } from '../activities/steps';
import { failure } from '../common/failures';
import type { StepActivities } from './activity-options';
import type { AfterCutoverRequest, DatabaseHandlers } from './database-handlers';
import { describeError } from './errors';
import { HEALTH_CHECK_BY, HealthRollback } from './health-rollback';

/** Where the platform cannot tell how far a rollback got: the failure types that left the target taking writes. */
const UNDONE_TYPES = ['CutoverTimedOut', 'CutoverInterrupted', 'CutoverNotReady', 'PreparedTransactions'];
/** Rounds of resuming a rollback past the target's close before a human is called: ~12 events each. */
export const RESUME_ROUNDS = 30;
/** Between rounds (a round ends only when its activity gave up: a permanent failure, or a day): doubling, capped. */
const ROUND_BACKOFF_MS = 30_000;
const MAX_ROUND_BACKOFF_MS = 3_600_000;

export interface AfterCutoverContext {
  migrationId: string;
  database: DatabasePlan;
  settings: EffectiveSettings;
  task: DatabaseTask;
  db: DatabaseHandlers;
  acts: StepActivities;
  resume: Pick<StepActivities, 'rollbackAfterCutover'>;
  notify: (event: NotifyEvent, facts: NotifyFacts) => Promise<void>;
  /** What a stop of the run must say instead of "the target took over" (undefined: that is true). */
  setStopped: (nextAction: string | undefined) => void;
}

interface Watch {
  scope: CancellationScope;
  running: boolean;
}

/** `held`: the final comparison found a difference at the fence; the status says it instead of the usual. */
export async function keepRollbackOpen(
  x: AfterCutoverContext,
  validation: string,
  held?: { lastError: string; nextAction: string },
): Promise<DatabaseSummary> {
  const { db, acts, task, migrationId: id, database } = x;
  const deadline = new Date().getTime() + cutoverLimits(x.settings).reverseReplicationForMs;
  const until = new Date(deadline).toISOString();
  const commands =
    `\`dbmig rollback ${id} ${database.name}\` gives the source back, ` +
    `\`dbmig finalize ${id} ${database.name}\` ends it`;
  const completed: Partial<DatabaseSummary> = {
    rollbackUntil: until,
    writesOn: 'target',
    nextAction: held
      ? `${held.nextAction} (until ${until}; then it is finalized)`
      : `the target takes the writes; until ${until} reverse replication keeps the source current: ${commands}`,
    ...(held ? { lastError: held.lastError } : {}),
  };
  db.onReverseAlert = (h) =>
    void x.notify('replication-broken', {
      state: 'COMPLETED',
      problem: h.ok ? `writes on the closed source: ${h.sourceWrites}` : h.problem,
      at: h.at,
    });
  await db.enter('COMPLETED', {
    ...completed,
    validation,
    finishedAt: new Date().toISOString(),
    lagSeconds: 0,
    lagBytes: 0,
  });
  let watch = startWatch();
  const health = HealthRollback.of(
    x.settings,
    acts,
    task,
    until,
    (reason) => {
      if (!db.rollbackByPolicy(HEALTH_CHECK_BY, reason)) return;
      void x.notify('health-rollback', { state: 'COMPLETED', problem: reason });
    },
    (err) =>
      void db.publish({
        lastError: `the health check stopped: ${describeError(err)}; nothing rolls back on its own, only a human`,
      }),
  );
  health?.start();
  let heldTold = false;
  for (;;) {
    const left = deadline - new Date().getTime();
    if (left > 0) await condition(() => db.pendingAfterCutover !== undefined, left);
    else if (db.summary.sourceWrites && !db.pendingAfterCutover) {
      // The deadline would finalize, and lose what was written on the closed source: a human decides.
      const nextAction =
        `cutover.reverseReplicationFor ran out at ${until}, but it is not finalized: ${db.summary.sourceWrites}. ` +
        `Explain them, then \`dbmig finalize ${id} ${database.name} --acknowledge-source-writes\`, or roll back`;
      void db.publish({ nextAction });
      if (!heldTold) void x.notify('replication-broken', { state: 'COMPLETED', problem: nextAction });
      heldTold = true;
      await condition(() => db.pendingAfterCutover !== undefined);
    }
    const req = db.pendingAfterCutover;
    if (req?.action === 'finalize' && db.summary.sourceWrites && !req.acknowledgeSourceWrites) {
      db.finishAfterCutover(req.n, false, `not finalized: ${db.summary.sourceWrites}; acknowledge them to finalize`);
      continue;
    }
    await stopWatch(watch);
    health?.stop();
    if (!req || req.action === 'finalize') {
      const done = await finalize(req);
      if (done) return done;
    } else {
      const done = await rollBack(req);
      if (done) return done;
    }
    watch = startWatch();
    health?.start();
  }

  /** Finalizes; a refusal because of writes on the closed source returns to COMPLETED (undefined). */
  async function finalize(req: AfterCutoverRequest | undefined): Promise<DatabaseSummary | undefined> {
    const ack = req?.acknowledgeSourceWrites === true;
    try {
      await acts.finalizeCutover(ack ? { ...task, acknowledgeSourceWrites: true } : task);
    } catch (err) {
      const why = describeError(err);
      if (failedAs(err, 'SourceWrites')) {
        void db.publish({ sourceWrites: db.summary.sourceWrites ?? why, lastError: why });
        if (req) db.finishAfterCutover(req.n, false, why);
        return undefined;
      }
      // A rollback that passed the target's close is the only way forward: finish it, never finalize.
      const p = (await progressOf()) ?? undefined;
      if (p && pastClose(p)) return resumeForward({ by: req?.by ?? 'an earlier request', n: req?.n }, why, p);
      x.setStopped(
        `finalize failed: ${why}. The target takes the writes (${p?.detail ?? 'no rollback is recorded'}); ` +
          `reverse replication still runs: finalize again by hand, or drop it as the docs say`,
      );
      if (req) db.finishAfterCutover(req.n, false, `finalize failed: ${why}`);
      throw err;
    }
    const by = req?.by ?? 'policy: cutover.reverseReplicationFor';
    await db.enter('FINALIZED', { rollbackUntil: undefined, nextAction: '', lastError: undefined, writesOn: 'target' });
    log.info('reverse replication finalized', { by });
    if (req) db.finishAfterCutover(req.n, true, `finalized by ${by}`);
    return db.summary;
  }

  /** The rollback an operator asked for: ROLLED_BACK, or COMPLETED again (undefined) if it stopped before the close. */
  async function rollBack(req: AfterCutoverRequest): Promise<DatabaseSummary | undefined> {
    x.setStopped(
      `a rollback asked by ${req.by} was under way: until its close the target takes writes, after it neither ` +
        'side until the source is reopened; run `dbmig status` for how far it got, and finish the rollback by hand',
    );
    await db.enter('ROLLING_BACK', {
      writesOn: 'target until the rollback closes it',
      nextAction:
        `rolling back, asked by ${req.by}: the target takes writes until the rollback closes it; from then until ` +
        'the source is reopened neither side does (the write block), and the source takes them after',
      lastError: `rollback asked by ${req.by}${req.reason ? `: ${req.reason}` : ''}`,
    });
    let why: string;
    let failed: unknown;
    try {
      return await rolledBack(req, await acts.rollbackAfterCutover(task));
    } catch (err) {
      why = describeError(err);
      failed = err;
      if (isCancellation(err))
        await CancellationScope.nonCancellable(async () => explainStop((await progressOf()) ?? undefined, why));
      if (isCancellation(err)) throw err;
    }
    const p = await progressOf();
    if (p !== null) return resumeForward(req, why, p);
    // A platform that cannot tell how far a rollback got (none keeps reverse replication today but
    // local): its failure types are all there is to read.
    if (UNDONE_TYPES.some((t) => failedAs(failed, t)))
      return resumeForward(req, why, { stage: 'target-open', detail: why });
    x.setStopped(
      `a rollback asked by ${req.by} stopped midway (${why}): check both sides, finish the rollback by hand`,
    );
    db.finishAfterCutover(req.n, false, `rollback failed: ${why}`);
    throw failed;
  }

  /**
   * After a failed rollback, by how far it got: before the target's close, back to COMPLETED
   * (undefined); past it (or where that cannot be told), resumed until the source takes writes,
   * RESUME_ROUNDS rounds at most, each an activity Temporal retries for up to a day.
   */
  async function resumeForward(
    req: { by: string; n?: number },
    firstWhy: string,
    first: RollbackProgress | undefined,
  ): Promise<DatabaseSummary | undefined> {
    let why = firstWhy;
    let p = first;
    for (let round = 1; ; round++) {
      if (p && (p.stage === 'none' || p.stage === 'target-open')) {
        x.setStopped(undefined);
        await db.enter('COMPLETED', {
          ...completed,
          lastError: `rollback by ${req.by} did not finish: ${why}; ${p.detail}`,
        });
        if (req.n !== undefined)
          db.finishAfterCutover(req.n, false, `the rollback stopped before the target's close (${why}): ${p.detail}`);
        return undefined;
      }
      const state = describeProgress(p, why);
      x.setStopped(
        `${state.nextAction}; the run stopped: finish the rollback by hand (\`dbmig status\` says how far it got)`,
      );
      if (round > RESUME_ROUNDS) {
        if (req.n !== undefined) db.finishAfterCutover(req.n, false, `the rollback did not finish: ${why}`);
        throw failure('RollbackFailed', `the rollback did not finish after ${RESUME_ROUNDS} rounds: ${why}`);
      }
      await db.enter('ROLLING_BACK', {
        writesOn: state.writesOn,
        lastError: why,
        nextAction: `${state.nextAction}; resuming it forward (round ${round} of at most ${RESUME_ROUNDS})`,
      });
      if (round > 1) await sleep(Math.min(ROUND_BACKOFF_MS * 2 ** (round - 2), MAX_ROUND_BACKOFF_MS));
      try {
        return await rolledBack({ n: req.n }, await x.resume.rollbackAfterCutover(task));
      } catch (err) {
        why = describeError(err);
        if (isCancellation(err)) throw err;
      }
      p = (await progressOf()) ?? undefined;
    }
  }

  async function rolledBack(req: { n?: number }, back: RollbackResult): Promise<DatabaseSummary> {
    x.setStopped(undefined);
    await db.enter('ROLLED_BACK', {
      rollbackUntil: undefined,
      writesOn: 'source',
      writeBlockMs: back.writeBlockMs,
      nextAction:
        `the source takes the writes again, with every write made on the target; the target ` +
        `(database ${x.settings.targetDatabase} on ${database.target.kind} ${database.target.instance}) ` +
        'is closed to writes and kept: delete it by hand when it is no longer wanted',
    });
    if (req.n !== undefined) db.finishAfterCutover(req.n, true, 'rolled back');
    return db.summary;
  }

  /** How far the rollback got; null where the platform cannot tell, undefined when it cannot be read now. */
  async function progressOf(): Promise<RollbackProgress | null | undefined> {
    try {
      return await acts.rollbackProgress(task);
    } catch (err) {
      log.warn('how far the rollback got cannot be read', { error: describeError(err) });
      return undefined;
    }
  }

  function explainStop(p: RollbackProgress | undefined, why: string): void {
    if (p && (p.stage === 'none' || p.stage === 'target-open')) x.setStopped(undefined);
    else x.setStopped(`${describeProgress(p, why).nextAction}; finish the rollback by hand`);
  }

  function startWatch(): Watch {
    const w: Watch = { scope: new CancellationScope(), running: true };
    w.scope
      .run(() => acts.watchReverseReplication(task))
      .catch(() => undefined)
      .finally(() => (w.running = false));
    return w;
  }

  async function stopWatch(w: Watch): Promise<void> {
    if (w.running) w.scope.cancel();
    // What the watcher said no longer holds once a rollback or finalize changes reverse replication.
    if (db.summary.replication) await db.publish({ replication: undefined });
  }
}

/** Past the target's close, or unknown: the statement of which side takes writes, in both forms. */
function describeProgress(
  p: RollbackProgress | undefined,
  why: string,
): { writesOn: DatabaseSummary['writesOn']; nextAction: string } {
  if (!p || p.stage === 'unverified')
    return {
      writesOn: undefined,
      nextAction:
        `the rollback failed (${why}) and how far it got cannot be confirmed` +
        `${p ? ` (${p.detail})` : ''}: no side can be said to take writes`,
    };
  if (p.stage === 'source-reopened' || p.stage === 'done')
    return {
      writesOn: 'source',
      nextAction: `the source takes the writes again (${p.detail}); the rollback failed after: ${why}`,
    };
  return {
    writesOn: 'none',
    nextAction:
      `neither side takes writes: ${p.detail}; the rollback failed after the target's close (${why}) and only ` +
      `finishing it ends the write block`,
  };
}

function pastClose(p: RollbackProgress): boolean {
  return p.stage !== 'none' && p.stage !== 'target-open';
}

function failedAs(err: unknown, type: string): boolean {
  let e = err as { type?: string; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 3; depth++, e = e.cause as typeof e) if (e.type === type) return true;
  return false;
}
