// Signal, query and update definitions: the contract between the workflows, the activities
// that report to them and the clients that steer them. Definitions only, so any side may import it.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Anomaly } from './anomaly';
import type { CatchUp } from './catch-up';
import type {
  ApprovalAck,
  ApprovalInput,
  DatabaseSummary,
  FleetStatus,
  RejectionInput,
  RevocationInput,
} from './status';

// Parent (MultiDatabaseMigration)
export const statusQuery = defineQuery<FleetStatus>('status');
export const pauseUpdate = defineUpdate<FleetStatus, []>('pause');
export const resumeUpdate = defineUpdate<FleetStatus, []>('resume');
export const cancelDatabaseUpdate = defineUpdate<DatabaseSummary, [string]>('cancelDatabase');
/** Runs a FAILED or CANCELLED database again; every step is get-or-create, so nothing is duplicated. */
export const retryDatabaseUpdate = defineUpdate<DatabaseSummary, [string]>('retryDatabase');
/**
 * A child's whole summary, sent only on transitions that matter to the fleet (started, waiting for a
 * human, approved, cutting over, finished, failed, ...), never per step or per poll.
 */
export const childSummarySignal = defineSignal<[DatabaseSummary]>('childSummary');
/**
 * The parent tells a child whose cutover is held for its dependsOn (its summary's heldFor) that
 * these databases have COMPLETED: sent when the hold is reported or a dependency completes, never per poll.
 */
export const dependenciesCompletedSignal = defineSignal<[{ completed: string[] }]>('dependenciesCompleted');

// Both: the parent forwards to the child; the child also takes them directly.
export const approveCutoverUpdate = defineUpdate<ApprovalAck, [ApprovalInput]>('approveCutover');
export const rejectCutoverUpdate = defineUpdate<ApprovalAck, [RejectionInput]>('rejectCutover');
/** Takes back an approval, accepted only before the cutover starts. */
export const revokeApprovalUpdate = defineUpdate<ApprovalAck, [RevocationInput]>('revokeApproval');

// Child (DatabaseMigration)
export const databaseStatusQuery = defineQuery<DatabaseSummary>('databaseStatus');
/** Fire-and-forget approval for callers that cannot wait on an Update. */
export const approveCutoverSignal = defineSignal<[ApprovalInput]>('approveCutoverSignal');
export const rejectCutoverSignal = defineSignal<[RejectionInput]>('rejectCutoverSignal');
export const revokeApprovalSignal = defineSignal<[RevocationInput]>('revokeApprovalSignal');

/** An operator's action on a COMPLETED database while reverse replication still runs. */
export interface AfterCutoverInput {
  database: string;
  /** Who asks: recorded in the database's status. */
  by: string;
  reason?: string;
  /**
   * Finalize only: the writes found on the closed source after the cutover (`sourceWrites` in the
   * status) are explained; without it a finalize is refused while there are any.
   */
  acknowledgeSourceWrites?: boolean;
}
/** Gives the source back: fences the target, drains it to the source, reopens the source. Waits until done. */
export const rollbackUpdate = defineUpdate<DatabaseSummary, [AfterCutoverInput]>('rollback');
/** Ends reverse replication: no rollback after this. Waits until done. */
export const finalizeUpdate = defineUpdate<DatabaseSummary, [AfterCutoverInput]>('finalize');

/**
 * Sent by the replication watcher only when replication's health changes (healthy ↔ broken), never
 * per poll: lag travels in its heartbeat details (docs/architecture.md, Progress is not history).
 */
export interface ReplicationHealth {
  ok: boolean;
  /** Lag is above the plan's alert level (notifications.lagAlertSeconds); it does not hold the cutover back. */
  lagging?: boolean;
  lagSeconds?: number | null;
  /** When broken: what is wrong, in the target's own words where it has them. */
  problem?: string;
  /**
   * The anomalies active now (common/anomaly.ts), sent when the set of kinds changes; absent from
   * watchers older than it (the workflow then leaves the summary's anomalies as they are).
   */
  anomalies?: Anomaly[];
  /** When the watcher saw it (ISO). */
  at: string;
}
export const replicationHealthSignal = defineSignal<[ReplicationHealth]>('replicationHealth');

/**
 * Sent by the post-cutover watcher of reverse replication (COMPLETED with a rollback possible) only
 * when what it reports changes, never per poll: its health, and the writes found on the closed source.
 */
export interface ReverseHealth {
  ok: boolean;
  /** When broken: what is wrong, in the servers' own words where they have them. */
  problem?: string;
  /** Every write found on the closed source so far, described (cumulative), with who was connected. */
  sourceWrites?: string;
  at: string;
}
export const reverseHealthSignal = defineSignal<[ReverseHealth]>('reverseHealth');

/** What the watcher and the waits heartbeat: `dbmig status` and the Temporal UI read it. */
export interface ReplicationProgress {
  phase: string;
  lagSeconds: number | null;
  lagBytes: number | null;
  /** How old the lag sample is, in seconds, where the platform knows. */
  sampleAgeSeconds?: number | null;
  /** The platform's own words for where it is, e.g. what DMS waits for the operator to do (gcp). */
  detail?: string;
  rows: number;
  errorCount: number;
  /** The error count the watch started from: more than it means apply is failing now. */
  baselineErrors?: number;
  problem?: string;
  /** The watcher told the workflow lag is above the alert level. */
  lagging?: boolean;
  /** How fast the lag falls, and when it should be caught up (common/catch-up.ts). */
  catchUp?: CatchUp;
  /** The watcher's anomalies active now (common/anomaly.ts); a retry resumes from them. */
  anomalies?: Anomaly[];
  at: string;
}

export interface LagReport {
  phase: string;
  lagSeconds: number | null;
  lagBytes: number | null;
  rows: number;
  tablesReady: number;
  tablesTotal: number;
}
/** Sent by the lag waits of older workers; kept so their runs still replay and their reports still land. */
export const lagReportSignal = defineSignal<[LagReport]>('lagReport');
