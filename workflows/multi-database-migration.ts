// MultiDatabaseMigration: validates the plan, then runs one DatabaseMigration child per database
// in priority order with at most `concurrency` running. Children report by signal, are started
// with ABANDON so a continue-as-new does not touch them, and the carried summaries tell the
// next run which children already exist.
import {
  CancellationScope,
  ParentClosePolicy,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  setHandler,
  startChild,
  workflowInfo,
  allHandlersFinished,
  type SignalDefinition,
  patched,
  setCurrentDetails,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { byPriority } from '../common/capacity';
import { parseDuration } from '../common/durations';
import { childWorkflowId } from '../common/naming';
import { failure } from '../common/failures';
import { InvalidPlanError, effectiveSettings, validatePlan, type Plan } from '../common/plan';
import { DATABASE_NAME, MIGRATION_ID, MIGRATION_STATE, PLATFORM } from '../common/search-attributes';
import { isTerminal } from '../common/states';
import {
  approvalProblem,
  retryProblem,
  unknownDatabase,
  type ApprovalAck,
  type ApprovalInput,
  type DatabaseSummary,
  type FleetStatus,
  type MigrationReport,
  type RejectionInput,
} from '../common/status';
import { DatabaseMigration } from './database-migration';
import { fleetDetailsMarkdown } from './details';
import {
  approveCutoverSignal,
  approveCutoverUpdate,
  cancelDatabaseUpdate,
  childProgressSignal,
  retryDatabaseUpdate,
  pauseUpdate,
  rejectCutoverSignal,
  rejectCutoverUpdate,
  resumeUpdate,
  statusQuery,
} from '../common/messages';

export interface MultiDatabaseMigrationInput {
  plan: unknown;
  /** State carried across continue-as-new; absent on the first run. */
  carried?: { summaries: Record<string, DatabaseSummary>; paused: boolean };
}

function parse(input: unknown): Plan {
  try {
    return validatePlan(input);
  } catch (err) {
    if (err instanceof InvalidPlanError) throw failure('InvalidPlan', err.message, err.issues);
    throw err;
  }
}

export async function MultiDatabaseMigration(input: MultiDatabaseMigrationInput): Promise<MigrationReport> {
  const plan = parse(input?.plan);
  const migrationId = workflowInfo().workflowId;
  const order = byPriority(plan.databases);
  const summaries: Record<string, DatabaseSummary> = input.carried?.summaries ?? {};
  for (const db of order) {
    summaries[db.name] ??= {
      database: db.name,
      priority: db.priority,
      state: 'PENDING',
      childWorkflowId: childWorkflowId(migrationId, db.name),
      started: false,
      lagSeconds: null,
      lagBytes: null,
      maxLagSeconds: null,
      rows: null,
    };
  }
  let paused = input.carried?.paused ?? false;
  // Runs started before this patch did not tag the parent; replaying them must not either.
  if (patched('parent-search-attributes')) {
    upsertSearchAttributes([
      { key: MIGRATION_ID, value: migrationId },
      { key: PLATFORM, value: plan.platform },
    ]);
  }
  const list = () => order.map((d) => summaries[d.name]);
  const running = () => list().filter((s) => s.started && !isTerminal(s.state)).length;
  const nextPending = () => list().find((s) => !s.started && s.state === 'PENDING');
  // A FAILED database waits for an operator's decision (retry, or cancel to give up) rather than
  // ending the fleet run; runs from before this rule completed with failures.
  const failuresAwaitDecision = patched('failed-databases-await-decision');
  const allDone = () =>
    list().every((s) =>
      failuresAwaitDecision ? s.state === 'COMPLETED' || s.state === 'CANCELLED' : isTerminal(s.state),
    );
  const status = (): FleetStatus => ({
    migrationId,
    platform: plan.platform,
    paused,
    concurrency: plan.concurrency,
    databases: list(),
  });

  const refresh = () => setCurrentDetails(fleetDetailsMarkdown(status()));
  refresh();

  setHandler(statusQuery, status);
  setHandler(childProgressSignal, (patch) => {
    const s = summaries[patch.database];
    if (!s || isTerminal(s.state)) return; // a late report must not revive a finished database
    Object.assign(s, patch, { started: true });
    refresh();
  });
  setHandler(pauseUpdate, () => {
    paused = true;
    refresh();
    return status();
  });
  setHandler(resumeUpdate, () => {
    paused = false;
    refresh();
    return status();
  });

  const knownNames = order.map((d) => d.name);
  const refuseApproval = (a: { database?: unknown; approver?: unknown }) => {
    const p = approvalProblem(a, (db) => summaries[db], knownNames);
    if (p) throw new Error(p);
  };
  // The parent validates against its view of the children, then hands the decision to the child.
  const forward =
    <T extends ApprovalInput | RejectionInput>(signal: SignalDefinition<[T]>, decision: ApprovalAck['decision']) =>
    async (input: T): Promise<ApprovalAck> => {
      await getExternalWorkflowHandle(summaries[input.database].childWorkflowId).signal(signal, input);
      return { database: input.database, accepted: true, decision, by: input.approver };
    };
  setHandler(approveCutoverUpdate, forward(approveCutoverSignal, 'approved'), { validator: refuseApproval });
  setHandler(rejectCutoverUpdate, forward(rejectCutoverSignal, 'rejected'), { validator: refuseApproval });
  const known = (database: string) => {
    const s = summaries[database];
    if (!s) throw new Error(unknownDatabase(database, knownNames));
    return s;
  };
  setHandler(
    cancelDatabaseUpdate,
    async (database) => {
      const s = summaries[database];
      if (s.state === 'FAILED')
        Object.assign(s, { state: 'CANCELLED', lastError: `given up by an operator after: ${s.lastError}` });
      else if (!s.started) Object.assign(s, { state: 'CANCELLED', lastError: 'cancelled before it started' });
      else await getExternalWorkflowHandle(s.childWorkflowId).cancel();
      refresh();
      return s;
    },
    {
      validator: (database) => {
        const s = known(database);
        if (s.state === 'COMPLETED' || s.state === 'CANCELLED')
          throw new Error(`database "${database}" is already ${s.state}`);
      },
    },
  );
  setHandler(
    retryDatabaseUpdate,
    (database) => {
      const s = summaries[database];
      Object.assign(s, {
        state: 'PENDING',
        started: false,
        retries: (s.retries ?? 0) + 1,
        lastError: `retrying after: ${s.lastError}`,
        finishedAt: undefined,
        lagSeconds: null,
        lagBytes: null,
      });
      refresh();
      return s;
    },
    {
      validator: (database) => {
        const p = retryProblem(database, summaries[database], knownNames);
        if (p) throw new Error(p);
      },
    },
  );

  const timeoutMs = parseDuration(plan.approval.timeout)!;
  const shouldContinueAsNew = () => {
    const info = workflowInfo();
    return (
      info.continueAsNewSuggested ||
      (plan.continueAsNewAfterEvents !== undefined && info.historyLength >= plan.continueAsNewAfterEvents)
    );
  };

  try {
    for (;;) {
      await condition(
        () =>
          allDone() ||
          shouldContinueAsNew() ||
          (!paused && running() < plan.concurrency && nextPending() !== undefined),
      );
      if (allDone()) break;
      if (shouldContinueAsNew()) {
        await condition(allHandlersFinished);
        return await continueAsNew<typeof MultiDatabaseMigration>({ plan: input.plan, carried: { summaries, paused } });
      }
      const s = nextPending()!;
      const db = order.find((d) => d.name === s.database)!;
      s.started = true;
      s.startedAt = new Date().toISOString();
      try {
        const child = await startChild(DatabaseMigration, {
          workflowId: s.childWorkflowId,
          args: [
            {
              migrationId,
              platform: plan.platform,
              parentWorkflowId: migrationId,
              database: db,
              settings: effectiveSettings(plan, db),
              approval: { policy: plan.approval.policy, timeoutMs },
              ...(plan.gcp ? { gcp: plan.gcp } : {}),
              ...(plan.cutoverWindow ? { cutoverWindow: plan.cutoverWindow } : {}),
            },
          ],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          typedSearchAttributes: [
            { key: MIGRATION_ID, value: migrationId },
            { key: DATABASE_NAME, value: db.name },
            { key: MIGRATION_STATE, value: 'PENDING' },
            { key: PLATFORM, value: plan.platform },
          ],
          staticSummary: `${db.name}: ${db.engine} → ${db.target.kind} ${db.target.instance} (priority ${db.priority}, ${db.sizeGb} GB)`,
        });
        // Within this run the result backs up the child's own final signal (e.g. if it was terminated).
        child.result().catch((err: Error) => {
          const cause = err.cause as Error | undefined;
          if (!isTerminal(s.state))
            Object.assign(s, {
              state: isCancellation(err) ? 'CANCELLED' : 'FAILED',
              lastError: cause?.message ?? err.message,
            });
        });
      } catch (err) {
        Object.assign(s, { state: 'FAILED', lastError: `could not start: ${(err as Error).message}` });
      }
    }
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => {
        for (const s of list().filter((x) => x.started && !isTerminal(x.state))) {
          await getExternalWorkflowHandle(s.childWorkflowId)
            .cancel()
            .catch((e) => log.warn('cancel failed', { child: s.childWorkflowId, error: String(e) }));
        }
      });
    }
    throw err;
  }

  await condition(allHandlersFinished);
  const count = (state: string) => list().filter((s) => s.state === state).length;
  return {
    migrationId,
    completed: count('COMPLETED'),
    failed: count('FAILED'),
    cancelled: count('CANCELLED'),
    databases: list(),
  };
}
