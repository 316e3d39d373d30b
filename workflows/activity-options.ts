// One retry policy and set of timeouts per kind of step. Waits heartbeat, so a dead worker is
// noticed within heartbeatTimeout and the step resumes on another worker.
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NON_RETRYABLE_TYPES } from '../common/failures';

const PERMANENT = NON_RETRYABLE_TYPES;

const quick: ActivityOptions = {
  startToCloseTimeout: '2m',
  heartbeatTimeout: '30s',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 8,
    nonRetryableErrorTypes: PERMANENT,
  },
};
const slow: ActivityOptions = { ...quick, startToCloseTimeout: '2h' };
const waiting: ActivityOptions = {
  startToCloseTimeout: '7d',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: PERMANENT },
};
/** Flex-start capacity may not be there yet: keep asking for a day before giving up. */
const capacity: ActivityOptions = {
  ...quick,
  scheduleToCloseTimeout: '24h',
  retry: { initialInterval: '2s', maximumInterval: '1m', nonRetryableErrorTypes: PERMANENT },
};
/** Undo steps must get through: many attempts, and they run even while the workflow is cancelled. */
const undo: ActivityOptions = {
  ...quick,
  startToCloseTimeout: '10m',
  retry: { ...quick.retry, maximumAttempts: 20, maximumInterval: '1m' },
};

type Kind = 'quick' | 'slow' | 'waiting' | 'capacity' | 'undo';
const OPTIONS: Record<Kind, ActivityOptions> = { quick, slow, waiting, capacity, undo };

/** Each step with its options and the one-line summary the Temporal UI shows for it. */
const STEPS: { [K in keyof Activities]?: [Kind, string] } = {
  assessSource: ['quick', 'assess the source: keys, wal_level, slots, large objects'],
  provisionTarget: ['slow', 'provision the target (get-or-create) and its schema'],
  reserveCapacity: ['capacity', 'reserve migration capacity (calendar or flex-start)'],
  createMigrationJob: ['quick', 'create the migration job (get-or-create)'],
  verifyMigrationJob: ['quick', 'verify the migration job'],
  startMigrationJob: ['quick', 'start replication'],
  waitForFullDump: ['waiting', 'wait for the initial copy'],
  waitForReplicationReady: ['waiting', 'wait until lag stays under the threshold'],
  validateData: ['slow', 'compare row counts and checksums'],
  cutover: ['slow', 'cut over: block writes, drain, sequences, drop replication'],
  rollbackCutover: ['undo', 'undo: give the source its writes back'],
  stopMigrationJob: ['undo', 'undo: stop the migration job'],
  deleteMigrationJob: ['undo', 'clean up the migration job'],
  releaseCapacity: ['undo', 'release migration capacity'],
  deleteTarget: ['undo', 'undo: delete the target this run created'],
};

export type StepActivities = Pick<Activities, keyof typeof STEPS & keyof Activities>;

export function stepActivities(database: string): StepActivities {
  const out: Record<string, unknown> = {};
  for (const [name, [kind, summary]] of Object.entries(STEPS) as [keyof Activities, [Kind, string]][]) {
    out[name] = proxyActivities<Activities>({ ...OPTIONS[kind], summary: `${database}: ${summary}` })[name];
  }
  return out as StepActivities;
}
