// The only seam between orchestration and the world. Every operation is idempotent and
// derives resource names from (migration id, database) via common/naming. What the operations take
// and return is in ../steps.ts.
import type { PlatformName } from '../../common/plan';
import type {
  DatabaseTask,
  AssessmentResult,
  TargetInfo,
  CapacityReservation,
  ReplicationStatus,
  ValidationResult,
  CutoverResult,
  CutoverUndo,
  RollbackResult,
  RollbackProgress,
  ReverseWatch,
  PlannedOperation,
  PlannedSummary,
  FleetTask,
  PreparedMigration,
} from '../steps';
import type { CopyProgress } from '../../common/copy-progress';

export interface MigrationPlatform {
  readonly name: PlatformName;
  /**
   * Once per migration, before its first database starts: what serves the whole fleet (gcp: the
   * recipe's monitoring step). Get-or-create; optional, a platform without it needs nothing.
   */
  prepareMigration?(fleet: FleetTask): Promise<PreparedMigration>;
  /** Once, when the fleet has finished: removes what prepareMigration made, unless the plan keeps it. */
  finishMigration?(fleet: FleetTask): Promise<void>;
  /** How often the waits and the watcher read replication status, where the platform sets it (sim). */
  pollIntervalMs?(task: DatabaseTask): number | undefined;
  assessSource(task: DatabaseTask): Promise<AssessmentResult>;
  provisionTarget(task: DatabaseTask): Promise<TargetInfo>;
  reserveCapacity(task: DatabaseTask): Promise<CapacityReservation>;
  releaseCapacity(task: DatabaseTask): Promise<void>;
  createMigrationJob(task: DatabaseTask): Promise<void>;
  /** Returns the problems found; empty when the job is ready to start. */
  verifyMigrationJob(task: DatabaseTask): Promise<string[]>;
  startMigrationJob(task: DatabaseTask): Promise<void>;
  /**
   * The initial copy where the platform makes it itself (local, snapshot method: engines/postgres/
   * snapshot-copy.ts), run by the full-dump wait before it reads replication's status; resumable,
   * so a retried attempt goes on where the last stopped. Optional: where replication copies on its
   * own (DMS, the native table sync), there is nothing to do.
   */
  copyInitialData?(task: DatabaseTask, progress: (p: CopyProgress) => void): Promise<void>;
  /**
   * Another worker's share of that copy (plan copy.helpers, engines/postgres/copy-helper.ts): copies
   * ranges no one holds until none is free, and returns how many. `beat` after each range and
   * while it waits for the ranges to be planned. Optional: absent, there is nothing to share.
   */
  helpCopyInitialData?(task: DatabaseTask, beat: (ranges: number) => void, signal?: AbortSignal): Promise<number>;
  getReplicationStatus(task: DatabaseTask): Promise<ReplicationStatus>;
  /**
   * `checkpoint`: where a platform that validates in chunks resumes (the last attempt's heartbeat
   * details) and how it reports its own (optional: platforms that do not checkpoint ignore it).
   */
  validateData(
    task: DatabaseTask,
    mode: 'live' | 'final',
    checkpoint?: ValidationCheckpointing,
  ): Promise<ValidationResult>;
  cutover(task: DatabaseTask, onProgress: (step: string) => void): Promise<CutoverResult>;
  /** Undo a cutover that did not finish: give the source its writes back. */
  rollbackCutover(task: DatabaseTask): Promise<CutoverUndo | void>;
  /**
   * Operator-triggered only: after a cutover, until it is finalized, move back to the source
   * (fence and close the target, drain reverse replication, carry sequences, reopen the source).
   * Throws RollbackUnavailable where there is no reverse replication (none, or finalized).
   */
  rollbackAfterCutover(task: DatabaseTask, onProgress?: (step: string) => void): Promise<RollbackResult>;
  /** Ends the rollback path: drops reverse replication; the source stays closed. Nothing after a rollback. */
  finalizeCutover(task: DatabaseTask): Promise<void>;
  /**
   * How far the last rollback after the cutover got (optional: platforms without it keep the
   * runbook's older reading). Ends a rollback block that outlived its attempt first, so what it
   * returns stays true: before the close, the target takes writes again.
   */
  rollbackProgress?(task: DatabaseTask): Promise<RollbackProgress>;
  /**
   * One look at reverse replication after the cutover (optional): its health and the writes made on
   * the closed source since the last advanceReverseWatch (reported again until then).
   */
  watchReverse?(task: DatabaseTask): Promise<ReverseWatch>;
  /** The watch's writes up to `upTo` are known to the workflow: the next look starts after them. */
  advanceReverseWatch?(task: DatabaseTask, upTo: string): Promise<void>;
  stopMigrationJob(task: DatabaseTask): Promise<void>;
  deleteMigrationJob(task: DatabaseTask): Promise<void>;
  /** Deletes the target only if this migration created it. */
  deleteTarget(task: DatabaseTask): Promise<void>;
  close(): Promise<void>;
  /**
   * The operations this platform would perform for the task on the happy path, in runbook order
   * (approval, which is the workflow's, excepted). Built by the functions that build the real
   * requests, and calls nothing: `dbmig plan` shows it.
   */
  describe(task: DatabaseTask): PlannedOperation[];
  /** The dry run's one-line summary of the target and capacity, in this platform's own words. */
  summarize(task: DatabaseTask): PlannedSummary;
}

/** A validation's resumption: the previous attempt's checkpoint, and where to send new ones. */
export interface ValidationCheckpointing {
  from?: unknown;
  save(checkpoint: unknown): void;
}
