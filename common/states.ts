// The per-database state machine (docs/architecture.md, The states). Order matters: it is the happy path.
export const STATES = [
  'PENDING',
  'ASSESSING',
  'PROVISIONING_TARGET',
  'RESERVING_CAPACITY',
  'CREATING_JOB',
  'VERIFYING',
  'FULL_DUMP',
  'CDC',
  'VALIDATING',
  'AWAITING_APPROVAL',
  'APPROVED_WAITING_WINDOW',
  'CUTTING_OVER',
  'VERIFYING_TARGET',
  'COMPLETED',
  // Off the happy path. COMPENSATING: a failure or cancel before the point of no return, its undos
  // running (then FAILED or CANCELLED). NEEDS_ATTENTION: the target took over (the cutover returned)
  // and a later step failed or was cancelled; nothing was undone, a human finishes by hand.
  'COMPENSATING',
  'NEEDS_ATTENTION',
  'FAILED',
  'CANCELLED',
  // After COMPLETED, while reverse replication keeps a rollback possible: an operator's rollback
  // (ROLLING_BACK, then ROLLED_BACK: the source took over again) or the end of that time or an
  // operator's finalize (FINALIZED: the reverse replication is gone, the target stays).
  'ROLLING_BACK',
  'ROLLED_BACK',
  'FINALIZED',
] as const;

export type MigrationState = (typeof STATES)[number];

/**
 * Where a database's run has ended. NEEDS_ATTENTION is terminal for the fleet too: unlike FAILED, no
 * fleet decision can help it (a database past the point of no return is never retried, and a cancel
 * cannot undo a cutover), so holding the fleet open would only hide its report; what is left is
 * manual work on the databases, which its next action names.
 */
export const TERMINAL_STATES: ReadonlySet<MigrationState> = new Set([
  'COMPLETED',
  'NEEDS_ATTENTION',
  'FAILED',
  'CANCELLED',
  'ROLLED_BACK',
  'FINALIZED',
]);

/**
 * Where a COMPLETED database may still go: its migration is done for the fleet (COMPLETED is
 * terminal), but until the operator finalizes, a rollback can still give the source back.
 */
export const AFTER_COMPLETION: ReadonlySet<MigrationState> = new Set([
  'COMPLETED',
  'ROLLING_BACK',
  'ROLLED_BACK',
  'FINALIZED',
  'NEEDS_ATTENTION',
]);

export function isTerminal(state: MigrationState): boolean {
  return TERMINAL_STATES.has(state);
}
