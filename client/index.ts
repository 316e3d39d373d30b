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
export { NotReadyError, statusPreflight } from './readiness';
export { setupSearchAttributes, checkSearchAttributes } from './setup';
export { InvalidPlanError, validatePlan } from '../common/plan';
export type { PlanInput, Plan } from '../common/plan';
export type { DatabaseSummary, FleetStatus, MigrationReport, ApprovalAck } from '../common/status';
export type { MigrationState } from '../common/states';
