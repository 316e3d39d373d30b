// MultiDatabaseMigration: validates the plan, then runs one DatabaseMigration child per database
// in priority order (each after the ones it dependsOn) with at most `concurrency` running.
// Children report the fleet's transitions by signal, are started with ABANDON so a
// continue-as-new does not touch them, and the carried summaries tell the next run which children
// already exist; a child started by an earlier run that ends without a last report is found by an
// activity that watches it (followEarlierChildren).
// Messages are handled by FleetHandlers; this file is the sliding window.
import {
  CancellationScope,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  type ChildWorkflowOptions,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { byPriority } from '../common/capacity';
import { parseDuration } from '../common/durations';
import { failure } from '../common/failures';
import {
  approveCutoverUpdate,
  cancelDatabaseUpdate,
  childSummarySignal,
  pauseUpdate,
  rejectCutoverUpdate,
  resumeUpdate,
  retryDatabaseUpdate,
  revokeApprovalUpdate,
  statusQuery,
} from '../common/messages';
import { InvalidPlanError, validatePlan, type DatabasePlan, type Plan } from '../common/plan';
import { effectiveSettings } from '../common/plan-settings';
import { DATABASE_NAME, MIGRATION_ID, MIGRATION_STATE, PLATFORM } from '../common/search-attributes';
import type { DatabaseSummary, MigrationReport } from '../common/status';
import { channelsFor } from '../common/notify-plan';
import { inWaves } from '../common/plan-waves';
import { isTerminal, type MigrationState } from '../common/states';
import type { FleetTask } from '../activities/steps';
import { DatabaseMigration, type DatabaseMigrationInput } from './database-migration';
import { fleetActivities, fleetLookupActivities, fleetSetupActivities, notifyActivities } from './activity-options';
import { describeError } from './errors';
import { FleetHandlers, type CarriedState } from './fleet-handlers';
import { childExpected } from './fleet-expected';
import type { ExpectedRates, FleetExpectations } from '../common/expected-rates';

export interface MultiDatabaseMigrationInput {
  plan: unknown;
  /** State carried across continue-as-new; absent on the first run. */
  carried?: CarriedState;
  /**
   * Per database, the rates the latest passed rehearsal of this plan measured (`dbmig start` reads
   * them; common/expected-rates.ts): what its copy and apply are judged against. Not in the plan.
   */
  expected?: FleetExpectations;
}

export async function MultiDatabaseMigration(input: MultiDatabaseMigrationInput): Promise<MigrationReport> {
  const plan = parse(input?.plan);
  const migrationId = workflowInfo().workflowId;
  // Priority order, with every database after the ones it dependsOn (with none, priority order itself).
  const order = inWaves(byPriority(plan.databases));
  const fleet = new FleetHandlers(migrationId, plan, order, input.carried);
  upsertSearchAttributes([
    { key: MIGRATION_ID, value: migrationId },
    { key: PLATFORM, value: plan.platform },
  ]);
  /** The databases whose child this run started: their result() tells this run how they end. */
  const startedHere = new Set<string>();
  fleet.refresh();

  // Messages: registered before the window opens, so none sent early is missed.
  setHandler(statusQuery, () => fleet.status());
  setHandler(childSummarySignal, (summary) => fleet.childSummary(summary));
  setHandler(pauseUpdate, () => fleet.pause());
  setHandler(resumeUpdate, () => fleet.resume());
  setHandler(approveCutoverUpdate, (a) => fleet.approve(a), { validator: (a) => fleet.refuseApproval(a) });
  setHandler(rejectCutoverUpdate, (r) => fleet.reject(r), { validator: (r) => fleet.refuseApproval(r, 'reject') });
  setHandler(revokeApprovalUpdate, (r) => fleet.revoke(r), { validator: (r) => fleet.refuseApproval(r, 'revoke') });
  setHandler(cancelDatabaseUpdate, (name) => fleet.cancel(name), { validator: (name) => fleet.refuseCancel(name) });
  setHandler(retryDatabaseUpdate, (name) => fleet.retry(name), { validator: (name) => fleet.refuseRetry(name) });

  const approvalTimeoutMs = parseDuration(plan.approval.timeout)!;
  const allDone = () => fleet.allDone();
  const canStartNext = () => !fleet.paused && fleet.running() < plan.concurrency && fleet.nextPending() !== undefined;
  // A continue-as-new well before Temporal's limits, whatever the server suggests.
  const shouldContinueAsNew = () => {
    const info = workflowInfo();
    const after = plan.continueAsNewAfterEvents ?? CONTINUE_AS_NEW_AFTER_EVENTS;
    return info.continueAsNewSuggested || info.historyLength >= after;
  };
  // Children of earlier runs of this workflow end without this run hearing it: they are watched.
  void followEarlierChildren();

  // The sliding window: start the next database whenever a slot is free, until none is left.
  try {
    // What serves the whole migration (gcp: the recipe's dashboard and alert policies): set up once
    // before the first database and removed when the fleet ends.
    if (!fleet.prepared) {
      // Once per migration: the flag travels across continue-as-new, so a later run does not repeat it.
      fleet.prepared = true;
      await fleetSetupActivities()
        .prepareMigration(fleetTask(plan, migrationId, order))
        .catch((err) => fleetStepFailed('prepareMigration', err));
    }
    for (;;) {
      await condition(() => allDone() || shouldContinueAsNew() || canStartNext());
      if (allDone()) break;
      if (shouldContinueAsNew()) {
        await condition(allHandlersFinished);
        return await continueAsNew<typeof MultiDatabaseMigration>({
          plan: input.plan,
          carried: fleet.carried(),
          ...(input.expected ? { expected: input.expected } : {}),
        });
      }
      const s = fleet.nextPending()!;
      const db = order.find((d) => d.name === s.database)!;
      s.started = true;
      s.startedAt = new Date().toISOString();
      startedHere.add(s.database);
      // No child id whose earlier run got as far as its cutover is started again (its MigrationState says so).
      if (await tookOverBefore(s)) continue;
      try {
        const child = await startChild(DatabaseMigration, {
          ...childOptions(plan, migrationId, db, s.childWorkflowId),
          // A child id whose run COMPLETED is never started again, whoever starts this migration id
          // again (the Temporal UI or CLI included): its target took over. Failed or cancelled ones can be retried.
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
          args: [childInput(plan, migrationId, db, approvalTimeoutMs, childExpected(db, fleet.list(), input.expected))],
        });
        // Within this run the result backs up the child's own final signal (e.g. if it was terminated).
        child.result().catch((err: Error) => fleet.childFailed(s, err));
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError)
          Object.assign(s, {
            state: 'NEEDS_ATTENTION',
            lastError: `not started again: ${s.childWorkflowId} already completed or is still running`,
            nextAction:
              'this migration id ran this database before and its cutover is never redone; nothing was ' +
              `changed: see \`temporal workflow describe -w ${s.childWorkflowId}\`, and migrate again under a new id`,
          });
        else Object.assign(s, { state: 'FAILED', lastError: `could not start: ${(err as Error).message}` });
        fleet.refresh();
      }
    }
  } catch (err) {
    if (isCancellation(err))
      await CancellationScope.nonCancellable(async () => {
        await fleet.cancelRunningChildren();
        await finishFleet();
      });
    throw err;
  }

  await condition(allHandlersFinished);
  const report = fleet.report();
  await finishFleet();
  if (channelsFor(plan.notifications, 'fleet-finished').length) {
    const { completed, failed, cancelled, needsAttention, rolledBack } = report;
    const facts = { total: report.databases.length, completed, failed, cancelled, needsAttention, rolledBack };
    await notifyActivities('fleet')
      .notify({ event: 'fleet-finished', migrationId, notifications: plan.notifications!, facts })
      .catch((err) => fleet.noteUndelivered(`fleet-finished not delivered: ${describeError(err)}`));
  }
  return report;

  /**
   * Whether an earlier run of this child id got past the start of its cutover: a run terminated
   * there (by an operator, or by Temporal's history limit) left no report, and the reuse policy
   * lets its id run again. Then the database is NEEDS_ATTENTION and nothing is started.
   */
  async function tookOverBefore(s: DatabaseSummary): Promise<boolean> {
    let before: Awaited<ReturnType<ReturnType<typeof fleetLookupActivities>['childRunBefore']>>;
    try {
      before = await fleetLookupActivities().childRunBefore(s.childWorkflowId);
    } catch (err) {
      // Not knowing is not starting: a retry asks again.
      Object.assign(s, {
        state: 'FAILED',
        lastError: `could not learn how its earlier run ended: ${describeError(err)}`,
      });
      fleet.refresh();
      return true;
    }
    const state = before?.state as MigrationState | undefined;
    if (!before || before.status === 'RUNNING' || !state || !TOOK_OVER_BEFORE.has(state)) return false;
    Object.assign(s, {
      state: 'NEEDS_ATTENTION',
      lastError: `not started again: an earlier run of ${s.childWorkflowId} ended ${before.status} at ${state}`,
      nextAction:
        'its cutover had started, so its target may have taken over; nothing was changed: check both sides ' +
        `(\`temporal workflow show -w ${s.childWorkflowId}\`), finish by hand, and migrate again under a new id`,
    });
    fleet.refresh();
    return true;
  }

  /** Removes what prepareMigration made (the platform keeps it where the plan says so). */
  async function finishFleet(): Promise<void> {
    if (!fleet.prepared) return;
    await fleetSetupActivities()
      .finishMigration(fleetTask(plan, migrationId, order))
      .catch((err) => fleetStepFailed('finishMigration', err));
  }

  /**
   * Children started by an earlier run of this workflow are not this run's children: nothing tells
   * it how they end but their own last report, which a terminated child never sends. While any is
   * running, an activity watches them (outside any history) and returns when one has ended.
   */
  async function followEarlierChildren(): Promise<void> {
    const earlier = () => fleet.list().filter((d) => d.started && !isTerminal(d.state) && !startedHere.has(d.database));
    try {
      for (;;) {
        await condition(() => earlier().length > 0);
        const ended = await fleetActivities().awaitChildrenEnded(earlier().map((d) => d.childWorkflowId));
        for (const e of ended) fleet.childEnded(e);
      }
    } catch (err) {
      if (!isCancellation(err)) throw err;
    }
  }
}

/**
 * A fleet step that failed after its retries: monitoring helps people watch the migration, it never
 * holds or fails it. Logged (the worker's log and the failed activity in the history say why) and
 * the fleet goes on; a cancel is not a failure and goes on up.
 */
function fleetStepFailed(step: string, err: unknown): void {
  if (isCancellation(err)) throw err;
  log.warn(`${step} failed; the migration goes on without it`, { error: describeError(err) });
}

/** What the fleet-level steps need: the migration, its platform sections and its databases' names. */
function fleetTask(plan: Plan, migrationId: string, order: DatabasePlan[]): FleetTask {
  return {
    migrationId,
    platform: plan.platform,
    databases: order.map((d) => d.name),
    ...(plan.gcp ? { gcp: plan.gcp } : {}),
  };
}

/** An earlier run that ended in one of these had started its cutover: its id is never run again. */
const TOOK_OVER_BEFORE: ReadonlySet<MigrationState> = new Set<MigrationState>([
  'CUTTING_OVER',
  'VERIFYING_TARGET',
  'COMPLETED',
  'ROLLING_BACK',
  'ROLLED_BACK',
  'FINALIZED',
  'NEEDS_ATTENTION',
]);

/** Well under Temporal's 51,200-event limit and its 10,000-event warning, whatever the server suggests. */
const CONTINUE_AS_NEW_AFTER_EVENTS = 5_000;

function parse(input: unknown): Plan {
  try {
    return validatePlan(input);
  } catch (err) {
    if (err instanceof InvalidPlanError) throw failure('InvalidPlan', err.message, err.issues);
    throw err;
  }
}

function childInput(
  plan: Plan,
  migrationId: string,
  db: DatabasePlan,
  timeoutMs: number,
  expected: ExpectedRates | undefined,
): DatabaseMigrationInput {
  return {
    migrationId,
    platform: plan.platform,
    parentWorkflowId: migrationId,
    database: db,
    settings: effectiveSettings(plan, db),
    approval: { policy: plan.approval.policy, timeoutMs, onTimeout: plan.approval.onTimeout },
    ...(plan.notifications ? { notifications: plan.notifications } : {}),
    ...(plan.gcp ? { gcp: plan.gcp } : {}),
    ...(plan.sim ? { sim: plan.sim } : {}),
    ...(plan.cutoverWindow ? { cutoverWindow: plan.cutoverWindow } : {}),
    ...(db.approvers ? { roles: plan.roles ?? {} } : {}),
    ...(expected ? { expected } : {}),
  };
}

/** ABANDON: the child outlives a continue-as-new (or the end) of this run; the next run finds it by id. */
function childOptions(plan: Plan, migrationId: string, db: DatabasePlan, workflowId: string) {
  const target = `${db.target.kind} ${db.target.instance}`;
  const options: Omit<ChildWorkflowOptions, 'typeInfo'> = {
    workflowId,
    parentClosePolicy: ParentClosePolicy.ABANDON,
    typedSearchAttributes: [
      { key: MIGRATION_ID, value: migrationId },
      { key: DATABASE_NAME, value: db.name },
      { key: MIGRATION_STATE, value: 'PENDING' },
      { key: PLATFORM, value: plan.platform },
    ],
    staticSummary: `${db.name}: ${db.engine} → ${target} (priority ${db.priority}, ${db.sizeGb} GB)`,
  };
  return options;
}
