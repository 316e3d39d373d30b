// Every way a migration step can fail, what it means and whether retrying can help. Platforms
// throw MigrationError with one of these types, activities turn it into an ApplicationFailure of
// that type (non-retryable where retrying cannot help), workflows raise their own, and the
// activities' retry policy is derived from this table, so no place can forget a failure type.

import { ApplicationFailure } from '@temporalio/common';

interface FailureInfo {
  /** What happened, in an operator's words. */
  meaning: string;
  /** Whether the same step, run again unchanged, could succeed. */
  retryable: boolean;
}

export const FAILURES = {
  InvalidPlan: { meaning: 'the plan breaks the schema; nothing was started', retryable: false },
  AssessmentFailed: { meaning: 'the source has a blocking finding (keys, wal_level, ...)', retryable: false },
  AlreadyExistsMismatch: { meaning: 'a resource with our name exists with another configuration', retryable: false },
  SecretUnavailable: { meaning: 'a secret reference cannot be resolved on this worker', retryable: false },
  MissingTool: { meaning: 'a client tool (pg_dump) is missing or too old on the worker', retryable: false },
  UnsupportedVersion: {
    meaning: 'the platform cannot run the PostgreSQL version asked for, or the target would be older than the source',
    retryable: false,
  },
  UnsupportedDump: { meaning: 'the source schema uses something the schema copy cannot carry', retryable: false },
  JobVerificationFailed: { meaning: 'the migration job is not ready to start', retryable: false },
  ValidationFailed: { meaning: 'row counts or checksums differ before cutover', retryable: false },
  PlatformUnavailable: { meaning: "the plan's platform is not configured on this worker", retryable: false },
  ReplicationBroken: {
    meaning: 'the target keeps failing to apply changes (often DDL on the source)',
    retryable: false,
  },
  OperationFailed: { meaning: 'a cloud long-running operation finished with an error', retryable: false },
  InvalidArgument: { meaning: 'the cloud API refused the request as malformed', retryable: false },
  Unauthenticated: { meaning: 'the worker has no valid cloud credentials', retryable: false },
  PermissionDenied: { meaning: "the worker's identity lacks a permission, or an API is disabled", retryable: false },
  NotFound: { meaning: 'a resource named in the plan does not exist', retryable: false },
  ApprovalTimeout: { meaning: 'nobody approved or rejected the cutover in time', retryable: false },
  CutoverRejected: { meaning: 'an operator rejected the cutover', retryable: false },
  TargetVerificationFailed: { meaning: 'the target differs from the source after cutover', retryable: false },
  TargetTookOver: {
    meaning:
      'the target carries the mark of a cutover that took over (or was about to): nothing automatic provisions, ' +
      'demotes, restarts or deletes it',
    retryable: false,
  },
  CapacityUnavailable: { meaning: 'no migration capacity is free yet; the step waits for it', retryable: true },
  CutoverNotReady: {
    meaning: 'the cutover did not start (lag, apply errors or a long writer on the source); nothing was blocked',
    retryable: true,
  },
  MigratedSetChanged: {
    meaning:
      'the source has a table or large object that replication does not carry (made after the copy or the ' +
      'assessment); nothing was blocked and the database holds before the cutover until it is carried or dropped',
    retryable: false,
  },
  SequenceUnreadable: {
    meaning: 'the migration user cannot read a sequence whose value the cutover must carry; nothing was blocked',
    retryable: false,
  },
  PreparedTransactions: {
    meaning: 'prepared transactions exist on the source; the cutover waits until they are committed or rolled back',
    retryable: true,
  },
  CutoverTimedOut: {
    meaning: 'the cutover did not finish within cutover.timeout; the source took writes again and replication runs',
    retryable: true,
  },
  CutoverIncomplete: {
    meaning:
      'the cutover passed its point of no return (the source is closed, the target took over) and a later ' +
      'step failed; a retry resumes from there and never reopens the source',
    retryable: true,
  },
  CutoverInterrupted: {
    meaning: 'the write block ended early (its session was terminated); the source takes writes again',
    retryable: true,
  },
  LeaseLost: {
    meaning:
      'a newer attempt took over the job (this one was cut off, frozen or past its timeout): this attempt ended ' +
      'its sessions and changed nothing more',
    retryable: true,
  },
  RollbackUnavailable: {
    meaning: 'no reverse replication to roll back with: none was set up, or the cutover was finalized',
    retryable: false,
  },
  RollbackInProgress: {
    meaning: 'a rollback after the cutover passed its point of no return (the target is closed); finish the rollback',
    retryable: false,
  },
  SourceWrites: {
    meaning:
      'rows were written on the closed source after the cutover by someone else than reverse replication; ' +
      'finalize waits until an operator acknowledges them',
    retryable: false,
  },
  RollbackFailed: {
    meaning: 'a rollback after cutover did not finish; the database says whether the target still takes writes',
    retryable: false,
  },
} as const satisfies Record<string, FailureInfo>;

export type FailureType = keyof typeof FAILURES;

/** The activities' `nonRetryableErrorTypes`: every type that retrying cannot fix. */
export const NON_RETRYABLE_TYPES: FailureType[] = (Object.keys(FAILURES) as FailureType[]).filter(
  (t) => !FAILURES[t].retryable,
);

/** A failure of a known type, thrown by platforms and activities; see FAILURES for its meaning. */
export class MigrationError extends Error {
  constructor(
    readonly type: FailureType,
    message: string,
  ) {
    super(message);
    this.name = type;
  }

  get retryable(): boolean {
    return FAILURES[this.type].retryable;
  }
}

/** The failure a workflow or activity raises for `type`, retryable exactly when the table says so. */
export function failure(type: FailureType, message: string, ...details: unknown[]): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: !FAILURES[type].retryable, details });
}
