// One retry policy and set of timeouts per kind of step. Waits heartbeat, so a dead worker is
// noticed within heartbeatTimeout and the step resumes on another worker.
import {
  ActivityCancellationType,
  patched,
  proxyActivities,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { NON_RETRYABLE_TYPES } from '../common/failures';
import { DATA_PLANE_ACTIVITIES, dataPlaneQueue } from '../common/task-queues';

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
/**
 * Capacity may not be there yet: keep asking before giving up. Three days, because a calendar-mode
 * reservation is asked for at least a day ahead and Google then takes its time to procure it.
 */
const capacity: ActivityOptions = {
  ...quick,
  scheduleToCloseTimeout: '3d',
  retry: { initialInterval: '2s', maximumInterval: '1m', nonRetryableErrorTypes: PERMANENT },
};
/** Undo steps must get through: many attempts, and they run even while the workflow is cancelled. */
const undo: ActivityOptions = {
  ...quick,
  startToCloseTimeout: '10m',
  retry: { ...quick.retry, maximumAttempts: 20, maximumInterval: '1m' },
};

/**
 * The cutover: a dead worker is noticed within 10 s (its block ends at its
 * own deadline in PostgreSQL anyway); a cutover that blocked nothing (lag, prepared transactions)
 * comes back to the runbook at once, which keeps the database ready and says why; a cancel waits
 * for the attempt to end, so the runbook never undoes a cutover that is still running.
 */
const cutover: ActivityOptions = {
  startToCloseTimeout: '10m',
  heartbeatTimeout: '10s',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '5s',
    backoffCoefficient: 2,
    maximumAttempts: 3,
    nonRetryableErrorTypes: [...PERMANENT, 'CutoverNotReady', 'PreparedTransactions'],
  },
};
/**
 * A rollback after cutover: as bounded as the cutover; a failure that left the target taking writes
 * returns to the runbook at once (the database stays COMPLETED, and the rollback can be asked again).
 */
const rollback: ActivityOptions = {
  ...cutover,
  retry: {
    ...cutover.retry,
    maximumAttempts: 20,
    maximumInterval: '1m',
    nonRetryableErrorTypes: [
      ...PERMANENT,
      'CutoverNotReady',
      'PreparedTransactions',
      'CutoverTimedOut',
      'CutoverInterrupted',
    ],
  },
};
/**
 * A rollback resumed past its point of no return (the target is closed): every failure is retried,
 * with backoff, for as long as a day; only the permanent types come back to the runbook, which
 * reads how far it got and resumes again (a bounded number of rounds: its event budget).
 */
const rollbackResume: ActivityOptions = {
  ...cutover,
  scheduleToCloseTimeout: '1d',
  retry: {
    initialInterval: '5s',
    backoffCoefficient: 2,
    maximumInterval: '2m',
    // No maximumAttempts: unlimited, bounded by scheduleToCloseTimeout.
    nonRetryableErrorTypes: PERMANENT,
  },
};
/** The replication watcher runs for as long as a human decides; it resumes from its last heartbeat. */
const watching: ActivityOptions = { ...waiting, startToCloseTimeout: '30d' };
/**
 * Telling people: a few attempts over a few minutes, then the status says which channel refused.
 * A channel that is misconfigured or whose secret is refused will not heal by retrying.
 */
const notifying: ActivityOptions = {
  startToCloseTimeout: '1m',
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '1m',
    maximumAttempts: 6,
    nonRetryableErrorTypes: [...PERMANENT, 'NotifyMisconfigured'],
  },
};

type Kind = 'quick' | 'slow' | 'waiting' | 'capacity' | 'undo' | 'cutover' | 'rollback' | 'watching';
const OPTIONS: Record<Kind, ActivityOptions> = { quick, slow, waiting, capacity, undo, cutover, rollback, watching };

/**
 * Steps that change the world. A cancel waits until the running attempt has stopped (the
 * activities stop their SQL or API call when cancelled), so an undo never runs beside the step it
 * undoes: a job creation still waiting on a lock would otherwise make its slot after its undo.
 */
const SIDE_EFFECTS: ReadonlySet<string> = new Set([
  'provisionTarget',
  'reserveCapacity',
  'createMigrationJob',
  'startMigrationJob',
]);

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
  cutover: ['cutover', 'cut over: block writes, drain, sequences, drop replication'],
  watchReplication: ['watching', 'watch replication until the cutover: lag, apply errors'],
  rollbackAfterCutover: ['rollback', 'roll back: fence the target, drain it to the source, reopen the source'],
  finalizeCutover: ['undo', 'finalize: end reverse replication'],
  rollbackProgress: ['quick', 'read how far the rollback got: which side takes writes'],
  watchReverseReplication: ['watching', 'watch reverse replication after the cutover; writes on the closed source'],
  watchHealth: ['watching', "watch the plan's health check after the cutover; returns on a breach held for its time"],
  rollbackCutover: ['undo', 'undo: give the source its writes back'],
  stopMigrationJob: ['undo', 'undo: stop the migration job'],
  deleteMigrationJob: ['undo', 'clean up the migration job'],
  releaseCapacity: ['undo', 'release migration capacity'],
  deleteTarget: ['undo', 'undo: delete the target this run created'],
};

export type StepActivities = Pick<Activities, keyof typeof STEPS & keyof Activities>;

/**
 * Runs started with this patch schedule the data-heavy steps (common/task-queues.ts) on the data
 * plane, `<task queue>-data`; runs started before it keep them on the workflow's own queue.
 */
export const DATA_PLANE_PATCH = 'data-plane-queue';

/**
 * Every step of the runbook, each with its kind's options; steps with side effects wait for their
 * cancellation. Called once, as the run starts: the data-plane patch is read here, once, so the
 * whole run (and its replays) routes its data steps one way. No timeout waits for a worker to take
 * a task: with no data-plane worker serving, the copy and the validations wait for one to appear.
 */
export function stepActivities(database: string): StepActivities {
  const dataQueue = patched(DATA_PLANE_PATCH) ? dataPlaneQueue(workflowInfo().taskQueue) : undefined;
  const dataSteps: ReadonlySet<string> = new Set(DATA_PLANE_ACTIVITIES);
  const out: Record<string, unknown> = {};
  for (const [name, [kind, summary]] of Object.entries(STEPS) as [keyof Activities, [Kind, string]][]) {
    const options = OPTIONS[kind];
    const waits = SIDE_EFFECTS.has(name)
      ? { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED, heartbeatTimeout: '15s' }
      : {};
    const where = dataQueue && dataSteps.has(name) ? { taskQueue: dataQueue } : {};
    out[name] = proxyActivities<Activities>({ ...options, ...waits, ...where, summary: `${database}: ${summary}` })[
      name
    ];
  }
  return out as StepActivities;
}

/** The rollback resumed past the target's close: retried until done (see `rollbackResume`). */
export function rollbackResumeActivities(database: string): Pick<Activities, 'rollbackAfterCutover'> {
  return proxyActivities<Activities>({
    ...rollbackResume,
    summary: `${database}: resume the rollback past the target's close, until the source is reopened`,
  });
}

/** The notifier, for `who` (a database or the fleet). */
export function notifyActivities(who: string): Pick<Activities, 'notify'> {
  return proxyActivities<Activities>({ ...notifying, summary: `${who}: tell people (notifications)` });
}

/** How the fleet learns the end of children started by an earlier run of it (after continue-as-new). */
export function fleetActivities(): Pick<Activities, 'awaitChildrenEnded'> {
  return proxyActivities<Activities>({
    startToCloseTimeout: '30d',
    heartbeatTimeout: '1m',
    retry: { initialInterval: '5s', maximumInterval: '1m', nonRetryableErrorTypes: PERMANENT },
    summary: 'fleet: learn how children started before continue-as-new ended',
  });
}

/**
 * What the fleet asks Temporal about its children: how an earlier run of a child id ended (before
 * starting it), and an operator's decision handed to the child as an Update. Quick, a few tries:
 * a refusal by the child is final (DecisionRefused) and goes back to the operator at once.
 */
export function fleetLookupActivities(): Pick<Activities, 'childRunBefore' | 'relayDecision'> {
  return proxyActivities<Activities>({
    startToCloseTimeout: '1m',
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '10s',
      maximumAttempts: 5,
      nonRetryableErrorTypes: [...PERMANENT, 'DecisionRefused'],
    },
    summary: "fleet: ask a child's workflow (how an earlier run ended; an operator's decision)",
  });
}

/**
 * The fleet's own steps (gcp: the recipe's dashboard and alert policies). A few attempts over about
 * a minute, then the fleet goes on without them: monitoring is help, never a reason to hold or fail
 * the migrations, so a failure is logged and the databases start anyway.
 */
export function fleetSetupActivities(): Pick<Activities, 'prepareMigration' | 'finishMigration'> {
  const options: ActivityOptions = {
    startToCloseTimeout: '5m',
    heartbeatTimeout: '30s',
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '30s',
      maximumAttempts: 5,
      nonRetryableErrorTypes: PERMANENT,
    },
  };
  return {
    prepareMigration: proxyActivities<Activities>({
      ...options,
      summary: 'fleet: set up what serves the whole migration (gcp: dashboard, alert policies)',
    }).prepareMigration,
    finishMigration: proxyActivities<Activities>({
      ...options,
      summary: 'fleet: remove what served the whole migration, unless the plan keeps it',
    }).finishMigration,
  };
}
