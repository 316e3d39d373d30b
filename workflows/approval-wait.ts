// The wait for a human's decision on the cutover, after AWAITING_APPROVAL: an approval that still
// holds once the window is open and replication is healthy. When none comes within the approval
// timeout, the plan's onTimeout decides: fail, or escalate: the escalation route is told, the
// status says since when it is overdue, and the database keeps waiting, told again after each
// wait (each twice the one before). A synced target is never thrown away because a human was slow.
// A database with dependsOn also waits, once approved, for those to complete (dependency-wait.ts).
import { ApplicationFailure, condition } from '@temporalio/workflow';
import { describeWindow, msUntilWindow } from '../common/cutover-window';
import { formatDuration } from '../common/durations';
import { failure } from '../common/failures';
import { channelsFor } from '../common/notify-plan';
import { carryOn } from './carry-on';
import { awaitDependencies } from './dependency-wait';
import { ESCALATION_CAP_MS, budgetSpent, doubled, type CarriedRun } from './carried-run';
import type { Decision } from './database-handlers';
import type { DatabaseRun } from './database-run';

/** Waits for an approval that still holds once the window is open and replication is healthy. */
export async function approvedAndReady(
  run: DatabaseRun,
  from?: CarriedRun,
): Promise<Extract<Decision, { approved: true }>> {
  const { db, input } = run;
  for (;;) {
    const decision = await decisionOrEscalate(run, from);
    from = undefined;
    if (!decision.approved) throw rejected(decision);
    const revoked = db.revocations;
    const stillApproved = () => db.revocations === revoked;
    // Waves: the databases this one dependsOn complete first (dependency-wait.ts), then the window.
    await awaitDependencies(run, decision.by, stillApproved);
    if (stillApproved() && input.cutoverWindow && msUntilWindow(new Date(), input.cutoverWindow) > 0) {
      const w = input.cutoverWindow;
      void db.enter('APPROVED_WAITING_WINDOW', {
        nextAction: `approved by ${decision.by}; the cutover waits for the window ${describeWindow(w)}`,
      });
      for (let ms = msUntilWindow(new Date(), w); ms > 0 && stillApproved(); ms = msUntilWindow(new Date(), w))
        await condition(() => !stillApproved(), ms);
    }
    if (stillApproved() && db.summary.replication) {
      void db.enter('AWAITING_APPROVAL', {
        nextAction:
          `approved by ${decision.by}; the cutover waits until replication is healthy again ` +
          `(${db.summary.replication}); fix the cause or cancel`,
      });
      // Health changes are signals: a replication that keeps breaking and healing writes events.
      await condition(() => !stillApproved() || !db.summary.replication || budgetSpent());
      if (stillApproved() && db.summary.replication) await carryOn(run, { at: 'awaiting-approval' });
    }
    if (stillApproved()) return decision;
    void db.enter('AWAITING_APPROVAL', { nextAction: 'the approval was revoked: awaiting a new decision' });
  }
}

/** The decision, or the plan's onTimeout when none comes: fail, or escalate and keep waiting. */
async function decisionOrEscalate(run: DatabaseRun, from?: CarriedRun): Promise<Decision> {
  const { db, input } = run;
  const { timeoutMs, onTimeout } = input.approval;
  // Each wait after the first is twice the one before (at most a day, or the timeout if longer):
  // people are told about 40 times in 30 days, not once per timeout.
  const cap = Math.max(timeoutMs, ESCALATION_CAP_MS);
  let { waitedMs, nextWaitMs, told: overdue } = from?.escalation ?? { waitedMs: 0, nextWaitMs: timeoutMs, told: 0 };
  for (;;) {
    const decision = await db.awaitDecision(nextWaitMs);
    if (decision === 'retracted') {
      // An approval and its revocation in one activation: as if they came one after the other.
      void db.enter('AWAITING_APPROVAL', { nextAction: 'the approval was revoked: awaiting a new decision' });
      ({ waitedMs, nextWaitMs, overdue } = { waitedMs: 0, nextWaitMs: timeoutMs, overdue: 0 });
      continue;
    }
    if (decision) {
      if (db.summary.approvalOverdueSince) void db.publish({ approvalOverdueSince: undefined });
      return decision;
    }
    if (onTimeout === 'fail') throw approvalTimedOut(timeoutMs);
    waitedMs += nextWaitMs;
    overdue++;
    const since = db.summary.approvalOverdueSince ?? new Date().toISOString();
    const to = channelsFor(input.notifications, 'approval-overdue');
    const told = to.length ? `escalated to ${to.join(', ')}` : 'no escalation route in the plan';
    void db.publish({
      approvalOverdueSince: since,
      nextAction:
        `approval overdue: no decision in ${formatDuration(waitedMs)}; ${told}; ` +
        'the database keeps waiting (nothing is deleted): approve, reject or cancel',
    });
    const facts = { ...run.notifications.approvalFacts(), overdueSince: since, waitedMs };
    void run.notify('approval-overdue', facts, overdue);
    nextWaitMs = doubled(nextWaitMs, cap);
    if (budgetSpent())
      await carryOn(run, { at: 'awaiting-approval', escalation: { waitedMs, nextWaitMs, told: overdue } });
  }
}

function rejected(decision: Extract<Decision, { approved: false }>): ApplicationFailure {
  const reason = decision.reason ? `: ${decision.reason}` : '';
  return failure('CutoverRejected', `cutover rejected by ${decision.by}${reason}`);
}

function approvalTimedOut(timeoutMs: number) {
  const waited = formatDuration(timeoutMs);
  return failure(
    'ApprovalTimeout',
    `no cutover approval within ${waited}; escalate to the migration's owner and retry`,
  );
}
