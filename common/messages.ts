// Signal, query and update definitions: the contract between the workflows, the activities
// that report to them and the clients that steer them. Definitions only, so any side may import it.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApprovalAck, ApprovalInput, DatabaseSummary, FleetStatus, RejectionInput } from './status';

// Parent (MultiDatabaseMigration)
export const statusQuery = defineQuery<FleetStatus>('status');
export const pauseUpdate = defineUpdate<FleetStatus, []>('pause');
export const resumeUpdate = defineUpdate<FleetStatus, []>('resume');
export const cancelDatabaseUpdate = defineUpdate<DatabaseSummary, [string]>('cancelDatabase');
/** Runs a FAILED or CANCELLED database again; every step is get-or-create, so nothing is duplicated. */
export const retryDatabaseUpdate = defineUpdate<DatabaseSummary, [string]>('retryDatabase');
export const childProgressSignal = defineSignal<[Partial<DatabaseSummary> & { database: string }]>('childProgress');

// Both: the parent forwards to the child; the child also takes them directly.
export const approveCutoverUpdate = defineUpdate<ApprovalAck, [ApprovalInput]>('approveCutover');
export const rejectCutoverUpdate = defineUpdate<ApprovalAck, [RejectionInput]>('rejectCutover');

// Child (DatabaseMigration)
export const databaseStatusQuery = defineQuery<DatabaseSummary>('databaseStatus');
/** Fire-and-forget approval for callers that cannot wait on an Update. */
export const approveCutoverSignal = defineSignal<[ApprovalInput]>('approveCutoverSignal');
export const rejectCutoverSignal = defineSignal<[RejectionInput]>('rejectCutoverSignal');

export interface LagReport {
  phase: string;
  lagSeconds: number | null;
  lagBytes: number | null;
  rows: number;
  tablesReady: number;
  tablesTotal: number;
}
/** Sent by the lag-waiting activity so status shows live lag while the activity runs. */
export const lagReportSignal = defineSignal<[LagReport]>('lagReport');
