// What one run of DatabaseMigration hands to the next across continue-as-new, and the event budget
// that decides when (docs/architecture.md, Every loop has an event budget). A run continues as new
// only at a wait that may last: awaiting a decision (or retrying a cutover that did not start), or
// resuming a cutover past its point of no return. The next run starts at that wait: it never runs
// an earlier step again, and a cutover past its point of no return is resumed, never undone.
import { workflowInfo } from '@temporalio/workflow';
import type { Anomaly } from '../common/anomaly';
import type { DatabaseSummary } from '../common/status';
import type { Decision } from './database-handlers';
import type { Leftovers } from './leftovers';

/**
 * Events one run may write before it continues as new at its next wait: far under Temporal's
 * 10,000-event warning and 51,200-event limit, whatever one round of a wait adds (a dozen events).
 */
export const RUN_EVENT_BUDGET = 2_000;

/** Resuming a cutover past its point of no return: 30 s, doubling, at most every 30 minutes. */
export const RESUME_FIRST_MS = 30_000;
export const RESUME_CAP_MS = 30 * 60_000;
/** A cutover that did not start (nothing blocked): tried again after 30 s, doubling, at most 15 minutes apart. */
export const RETRY_FIRST_MS = 30_000;
export const RETRY_CAP_MS = 15 * 60_000;
/** An overdue approval is told again after each wait, each twice the one before, at most a day apart. */
export const ESCALATION_CAP_MS = 24 * 3_600_000;

export interface CarriedRun {
  /** Where the run was: at the decision (everything synced, replication running), or past the point of no return. */
  at: 'awaiting-approval' | 'resuming-cutover';
  summary: DatabaseSummary;
  left: Leftovers;
  /** The decision that held (an approval still to cut over with); absent when none holds. */
  decision?: Decision;
  /** Cutover attempts started so far (the runbook's undo of the cutover is registered by the first). */
  attempts: number;
  /** The next wait of the loop it was in: a retry's or a resume's backoff. */
  delayMs?: number;
  /** Resumes past the point of no return so far. */
  resumed?: number;
  /** Whether the replication watcher ran: it runs again in the next run. */
  watching: boolean;
  /**
   * The anomalies the run believed active and how many anomaly notifications it sent (their
   * occurrence numbers): the next run goes on from them. Absent from runs before anomaly-rates-21.
   */
  anomalies?: { active: Anomaly[]; events: number };
  /** An overdue approval: how long was waited so far, the next wait, and how many times people were told. */
  escalation?: { waitedMs: number; nextWaitMs: number; told: number };
}

/** Whether this run has written its share of events (or the server suggests continuing as new). */
export function budgetSpent(): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength >= RUN_EVENT_BUDGET;
}

/** The next backoff: twice `ms`, at most `cap`. */
export function doubled(ms: number, cap: number): number {
  return Math.min(ms * 2, cap);
}
