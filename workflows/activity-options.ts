// One retry policy and set of timeouts per kind of step. Waits heartbeat, so a dead worker is
// noticed within heartbeatTimeout and the step resumes on another worker.
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';

const PERMANENT = [
  'InvalidPlan',
  'AssessmentFailed',
  'AlreadyExistsMismatch',
  'SecretUnavailable',
  'MissingTool',
  'UnsupportedDump',
  'JobVerificationFailed',
  'ValidationFailed',
  'PlatformUnavailable',
  'ReplicationBroken',
];

const quick: ActivityOptions = {
  startToCloseTimeout: '2m',
  heartbeatTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 8, nonRetryableErrorTypes: PERMANENT },
};
const slow: ActivityOptions = { ...quick, startToCloseTimeout: '2h' };
const waiting: ActivityOptions = {
  startToCloseTimeout: '7d',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: PERMANENT },
};
/** Flex-start capacity may not be there yet: keep asking for a day before giving up. */
const capacity: ActivityOptions = { ...quick, scheduleToCloseTimeout: '24h', retry: { initialInterval: '2s', maximumInterval: '1m', nonRetryableErrorTypes: PERMANENT } };
/** Undo steps must get through: many attempts, and they run even while the workflow is cancelled. */
const undo: ActivityOptions = { ...quick, startToCloseTimeout: '10m', retry: { ...quick.retry, maximumAttempts: 20, maximumInterval: '1m' } };

export function stepActivities() {
  const q = proxyActivities<Activities>(quick);
  const s = proxyActivities<Activities>(slow);
  const w = proxyActivities<Activities>(waiting);
  const c = proxyActivities<Activities>(capacity);
  const u = proxyActivities<Activities>(undo);
  return {
    assessSource: q.assessSource,
    provisionTarget: s.provisionTarget,
    reserveCapacity: c.reserveCapacity,
    createMigrationJob: q.createMigrationJob,
    verifyMigrationJob: q.verifyMigrationJob,
    startMigrationJob: q.startMigrationJob,
    waitForFullDump: w.waitForFullDump,
    waitForReplicationReady: w.waitForReplicationReady,
    validateData: s.validateData,
    cutover: s.cutover,
    rollbackCutover: u.rollbackCutover,
    stopMigrationJob: u.stopMigrationJob,
    deleteMigrationJob: u.deleteMigrationJob,
    releaseCapacity: u.releaseCapacity,
    deleteTarget: u.deleteTarget,
  };
}
