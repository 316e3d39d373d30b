// The per-database state machine (README, How it works). Order matters: it is the happy path.
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
  'CUTTING_OVER',
  'VERIFYING_TARGET',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
] as const;

export type MigrationState = (typeof STATES)[number];

export const TERMINAL_STATES: ReadonlySet<MigrationState> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

export function isTerminal(state: MigrationState): boolean {
  return TERMINAL_STATES.has(state);
}
