// The client library for applications and operators' tools.
export {
  startMigration,
  getStatus,
  approveCutover,
  rejectCutover,
  pause,
  resume,
  cancelDatabase,
  retryDatabase,
  waitForState,
  waitForReport,
  RefusedError,
  DEFAULT_TASK_QUEUE,
} from './client';
export type { StartOptions, WaitOptions } from './client';
export { clientFromEnv } from './connection';
export { InvalidPlanError, validatePlan } from '../common/plan';
export type { PlanInput, Plan } from '../common/plan';
export type { DatabaseSummary, FleetStatus, MigrationReport, ApprovalAck } from '../common/status';
export type { MigrationState } from '../common/states';
