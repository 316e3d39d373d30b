// The compact view of one database that the parent keeps and `status` returns, and the
// approval rules shared by the workflows' validators and the client library.
import type { MigrationState } from './states';
import type { Priority } from './capacity';
import { childWorkflowId } from './naming';
import type { CopyProgress } from './copy-progress';
import type { CatchUp } from './catch-up';
import type { ValidationProgress } from './validation-progress';

export interface DatabaseSummary {
  database: string;
  priority: Priority;
  state: MigrationState;
  childWorkflowId: string;
  started: boolean;
  lagSeconds: number | null;
  lagBytes: number | null;
  /** When the lag was measured (ISO), where the status reads it live; its age says how fresh it is. */
  lagMeasuredAt?: string;
  /** The initial copy's progress, read live from the full-dump wait's heartbeat (describeCopy). */
  copy?: string;
  /** How the lag falls after the copy, read live from the lag waits' and the watcher's heartbeat (describeCatchUp). */
  catchUp?: string;
  /** The running live validation's progress, from its heartbeat (describeValidation); `validation` is its result. */
  validating?: string;
  /** The same three as objects, for `dbmig status -o json` and the per-table detail view (`--database`). */
  progress?: { copy?: CopyProgress; catchUp?: CatchUp; validation?: ValidationProgress };
  maxLagSeconds: number | null;
  rows: number | null;
  validation?: string;
  writeBlockMs?: number;
  approvedBy?: string;
  /** When the approval was made: decisions are final, and a refused rejection names it. */
  approvedAt?: string;
  /**
   * What is wrong with replication while the watcher runs (CDC until the cutover), in the target's
   * own words; absent while it is healthy. The cutover does not start while it is set.
   */
  replication?: string;
  /**
   * The anomalies the replication watcher finds active (common/anomaly.ts), one line each (kind,
   * since, what was measured); absent when none. They tell people, and hold nothing back.
   */
  anomalies?: string[];
  /**
   * The copy and apply rates the anomaly detector compares with, and where they came from, or that
   * nothing is expected (common/expected-rates.ts describeExpected).
   */
  expectedRates?: string;
  /** The initial copy's measured bytes per second (its whole span): the fleet's median is made of these. */
  copyBytesPerSecond?: number;
  /** The apply rate measured while the target caught up after the copy (lag over the threshold), likewise. */
  applyBytesPerSecond?: number;
  /** Until when reverse replication keeps a rollback possible (ISO time); absent when it cannot. */
  rollbackUntil?: string;
  /**
   * After the cutover, which side takes the applications' writes: the target; the source (rolled
   * back, or reopened by a rollback that is finishing); none (a rollback closed the target and has
   * not reopened the source yet); or 'target until the rollback closes it' while a rollback runs.
   * Absent where the run does not say (runs from before it, or before the cutover).
   */
  writesOn?: 'target' | 'source' | 'none' | 'target until the rollback closes it';
  /**
   * Writes found on the closed source after the cutover that reverse replication did not make
   * (who was connected, where known). Finalize is refused while set, unless acknowledged.
   */
  sourceWrites?: string;
  startedAt?: string;
  updatedAt?: string;
  finishedAt?: string;
  lastError?: string;
  /** How many times an operator retried this database. */
  retries?: number;
  /** What the database waits for, when that is not obvious from its state. */
  nextAction?: string;
  /**
   * Set by the database's own run while its cutover is held for the databases it dependsOn that
   * have not completed (names); the parent releases it by signal once they have.
   */
  heldFor?: string[];
  /**
   * The fleet's view (the status query computes it, nothing stores it): the databases this one
   * dependsOn that have not completed, each with its state, e.g. "inventory (FAILED: ...)".
   */
  waitingFor?: string[];
  /** Since when the approval has been overdue (ISO): the escalation route was told, and it keeps waiting. */
  approvalOverdueSince?: string;
  /** The last notification that could not be delivered after its retries (channel and reason). */
  notifications?: string;
  /**
   * What the run left in place on purpose instead of undoing it (a failed cutover keeps the job,
   * capacity and target for a retry; past the point of no return nothing is undone): what a human
   * deletes by hand if the database is given up.
   */
  kept?: string[];
}

/**
 * A database nothing has happened to yet: the parent's first view of each database and, given
 * `startedAt`, the view a child starts from. One constructor, so both views have the same shape.
 */
export function newDatabaseSummary(
  migrationId: string,
  db: { name: string; priority: Priority },
  startedAt?: string,
): DatabaseSummary {
  return {
    database: db.name,
    priority: db.priority,
    state: 'PENDING',
    childWorkflowId: childWorkflowId(migrationId, db.name),
    started: startedAt !== undefined,
    lagSeconds: null,
    lagBytes: null,
    maxLagSeconds: null,
    rows: null,
    ...(startedAt !== undefined ? { startedAt } : {}),
  };
}

export interface FleetStatus {
  migrationId: string;
  platform: string;
  paused: boolean;
  concurrency: number;
  databases: DatabaseSummary[];
  /** The last fleet notification that could not be delivered after its retries. */
  notifications?: string;
}

export interface MigrationReport {
  migrationId: string;
  completed: number;
  failed: number;
  cancelled: number;
  /** Databases past the point of no return whose run then failed: nothing was undone, a human finishes. */
  needsAttention?: number;
  /** Databases an operator rolled back after their cutover: the source took the writes back. */
  rolledBack?: number;
  databases: DatabaseSummary[];
}

export interface ApprovalInput {
  database: string;
  approver: string;
  comment?: string;
}

export interface RejectionInput {
  database: string;
  approver: string;
  reason?: string;
}

/** Takes back an approval before the cutover starts: the database awaits a decision again. */
export interface RevocationInput {
  database: string;
  approver: string;
  reason?: string;
}

export interface ApprovalAck {
  database: string;
  accepted: true;
  decision: 'approved' | 'rejected' | 'revoked';
  by: string;
  /** For an approval that repeats an earlier one: when that was made (the earlier approver is `by`). */
  approvedAt?: string;
}

export type DecisionKind = 'approve' | 'reject' | 'revoke';

/** What a decision is checked against: a database's state and the approval it holds, if any. */
export interface DecisionView {
  state: MigrationState;
  approvedBy?: string;
  approvedAt?: string;
}

export function unknownDatabase(database: string, known: string[]): string {
  return `unknown database "${database}"; this migration has: ${known.join(', ')}`;
}

/**
 * Returns why a decision must be refused, or undefined when it is acceptable. Decisions are final:
 * once approved, a rejection is refused (naming who approved and when); the approval can only be
 * revoked, and only before the cutover starts. A repeated approval is acknowledged, changing nothing.
 */
export function approvalProblem(
  input: { database?: unknown; approver?: unknown } | undefined,
  lookup: (database: string) => DecisionView | undefined,
  known: string[],
  kind: DecisionKind = 'approve',
): string | undefined {
  if (!input || typeof input !== 'object') return 'approval must be an object { database, approver, comment? }';
  if (typeof input.approver !== 'string' || input.approver.trim() === '')
    return 'approver must be a non-empty name (who approves this cutover?)';
  if (typeof input.database !== 'string' || input.database === '') return 'database must be named';
  const found = lookup(input.database);
  if (!found) return unknownDatabase(input.database, known);
  const db = `database "${input.database}"`;
  const approved = found.approvedBy
    ? `its cutover was approved by ${found.approvedBy}${found.approvedAt ? ` at ${found.approvedAt}` : ''}`
    : undefined;
  const undecided = found.state === 'AWAITING_APPROVAL' && !approved;
  const revocable = (found.state === 'AWAITING_APPROVAL' || found.state === 'APPROVED_WAITING_WINDOW') && !!approved;
  if (kind === 'revoke') {
    if (revocable) return undefined;
    if (undecided) return `${db} has no approval to revoke: it awaits a decision`;
    return (
      `${db} is ${found.state}: an approval can be revoked only before the cutover starts` +
      (found.state === 'COMPLETED' ? '; to give the source back, roll back (`dbmig rollback`)' : '')
    );
  }
  if (kind === 'reject' && revocable)
    return `${db}: ${approved}, and decisions are final; to stop the cutover, revoke the approval (\`dbmig revoke\`)`;
  if (kind === 'approve' && revocable) return undefined; // acknowledged as the earlier approval
  if (!undecided)
    return (
      `${db} is ${found.state}, not AWAITING_APPROVAL; ` +
      'cutover can be approved or rejected only while it awaits approval'
    );
  return undefined;
}

/** Why a database cannot be retried, or undefined when it can. */
export function retryProblem(
  database: string,
  s: { state: MigrationState } | undefined,
  known: string[],
): string | undefined {
  if (!s) return unknownDatabase(database, known);
  if (s.state === 'COMPLETED') return `database "${database}" is COMPLETED; a completed cutover is never redone`;
  if (s.state === 'NEEDS_ATTENTION')
    return (
      `database "${database}" is NEEDS_ATTENTION: its target took over from the source, and a database past ` +
      'the point of no return is never redone; finish by hand as its next action says (see `dbmig status`)'
    );
  if (s.state !== 'FAILED' && s.state !== 'CANCELLED')
    return `database "${database}" is ${s.state}; only a FAILED or CANCELLED database can be retried`;
  return undefined;
}
