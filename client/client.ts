// A small typed client for operators' tools and applications: start, status, approve, reject,
// revoke, pause, resume, cancel, retry, rollback, finalize. It validates what it can before
// calling, with the workflows' own messages.
import type { FleetExpectations } from '../common/expected-rates';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { validatePlan } from '../common/plan';
import {
  unknownDatabase,
  type ApprovalAck,
  type DatabaseSummary,
  type FleetStatus,
  type MigrationReport,
} from '../common/status';
import { describeCopy, type CopyProgress } from '../common/copy-progress';
import { describeCatchUp } from '../common/catch-up';
import { describeThrottled, type Throttled } from '../common/throttle-plan';
import { describeValidation, type ValidationProgress } from '../common/validation-progress';
import * as messages from '../common/messages';
import { AFTER_COMPLETION, isTerminal, type MigrationState } from '../common/states';
import { childWorkflowId, DEFAULT_TASK_QUEUE, PARENT_WORKFLOW_TYPE } from '../common/naming';
import { explainQueryFailure } from './readiness';

export { DEFAULT_TASK_QUEUE };

/** An operation the workflow refused; `message` is the validator's own explanation. */
export class RefusedError extends Error {
  override name = 'Refused';
}

async function refusals<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError)
      throw new RefusedError((err.cause as Error | undefined)?.message ?? err.message);
    throw err;
  }
}

export interface StartOptions {
  id?: string;
  taskQueue?: string;
  /** Per database, the rates a rehearsal measured, for the anomaly detector (common/expected-rates.ts). */
  expected?: FleetExpectations;
}

/** Validates locally (throws InvalidPlanError, nothing started), then starts the parent workflow. */
export async function startMigration(client: Client, plan: unknown, opts: StartOptions = {}): Promise<string> {
  const parsed = validatePlan(plan);
  const id =
    opts.id ?? parsed.migrationId ?? `migration-${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
  try {
    // By type name: the client library never loads workflow code (client/ depends on common/ only).
    await client.workflow.start(PARENT_WORKFLOW_TYPE, {
      taskQueue: opts.taskQueue ?? DEFAULT_TASK_QUEUE,
      workflowId: id,
      args: [{ plan, ...(opts.expected && Object.keys(opts.expected).length ? { expected: opts.expected } : {}) }],
      // A migration id names resources and targets: running it twice would migrate into targets
      // that already took over. An id that exists or has run, in any state, is never reused.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      staticSummary:
        `Migrate ${parsed.databases.length} database(s) on ${parsed.platform}, ` + `${parsed.concurrency} at a time`,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new RefusedError(await alreadyUsed(client, id));
    throw err;
  }
  return id;
}

/** Why an id cannot be started again, and what to do instead. */
async function alreadyUsed(client: Client, id: string): Promise<string> {
  const status = await client.workflow
    .getHandle(id)
    .describe()
    .then((d) => d.status.name)
    .catch(() => 'UNKNOWN');
  const what =
    status === 'RUNNING'
      ? `is running: watch it with \`dbmig status ${id}\`, ` +
        `and retry a failed database with \`dbmig retry ${id} DATABASE\``
      : `has already run (${status}); its targets may have taken over, so it is never run again`;
  return `migration id "${id}" ${what}. To migrate other databases, start a plan with a new --id.`;
}

/**
 * The fleet's status, with live lag where a database's replication is being waited on or watched:
 * the workflows keep lag out of their histories (docs/architecture.md, Progress is not history), so it is read
 * from the running step's heartbeat details, which is also what the Temporal UI shows.
 */
export async function getStatus(client: Client, migrationId: string): Promise<FleetStatus> {
  const status = await client.workflow
    .getHandle(migrationId)
    .query(messages.statusQuery)
    .catch((err: unknown) => explainQueryFailure(client, migrationId, err));
  // The fleet hears only of its transitions (started, waiting for a human, finished, ...): a running
  // database's step is its own workflow's to tell, and so is a COMPLETED one's that can still be
  // rolled back (the fleet's run may have ended). At most `concurrency` databases run at once.
  // A PENDING one has no run of its own yet: the child id's latest run is then an earlier one (a
  // retried database's terminated run, say), whose state is history, not this database's.
  await Promise.all(
    status.databases
      .filter(
        (d) =>
          (d.started && !isTerminal(d.state) && d.state !== 'PENDING') ||
          (d.state === 'COMPLETED' && d.rollbackUntil) ||
          d.state === 'ROLLING_BACK',
      )
      .map(async (d) => {
        const own = await client.workflow
          .getHandle(d.childWorkflowId)
          .query(messages.databaseStatusQuery)
          .catch(() => undefined);
        if (own) Object.assign(d, own, { retries: d.retries, started: true });
      }),
  );
  await Promise.all(status.databases.filter((d) => LIVE_LAG.has(d.state)).map((d) => addLiveLag(client, d)));
  return status;
}

/** States in which a heartbeating step measures replication (the waits, then the watcher). */
const LIVE_LAG: ReadonlySet<MigrationState> = new Set([
  'FULL_DUMP',
  'CDC',
  'VALIDATING',
  'AWAITING_APPROVAL',
  'APPROVED_WAITING_WINDOW',
]);

async function addLiveLag(client: Client, d: DatabaseSummary): Promise<void> {
  try {
    const { raw } = await client.workflow.getHandle(d.childWorkflowId).describe();
    const converter = client.options.loadedDataConverter.payloadConverter;
    for (const a of raw.pendingActivities ?? []) {
      const payload = a.heartbeatDetails?.payloads?.[0];
      if (!payload) continue;
      const p = converter.fromPayload<Parameters<typeof addProgress>[1]>(payload as never);
      if (p && typeof p === 'object') addProgress(d, p);
      if (!p || typeof p !== 'object' || !('lagSeconds' in p) || typeof p.at !== 'string') continue;
      Object.assign(d, {
        lagSeconds: p.lagSeconds ?? null,
        lagBytes: p.lagBytes ?? null,
        rows: p.rows ?? d.rows,
        lagMeasuredAt: p.at,
        ...(p.problem && !d.replication ? { replication: p.problem } : {}),
      });
    }
  } catch {
    // The summary's own (older) lag stands: a child that cannot be described is not an error here.
  }
}

/** The copy's, the catch-up's and the validation's progress a step heartbeats, as lines and as objects. */
function addProgress(
  d: DatabaseSummary,
  p: Partial<messages.ReplicationProgress> & {
    copy?: CopyProgress;
    kind?: string;
    summary?: ValidationProgress;
    throttled?: Throttled;
  },
): void {
  const obj = (x: unknown) => x !== null && typeof x === 'object';
  if (obj(p.copy)) {
    d.copy = describeCopy(p.copy!);
    d.progress = { ...d.progress, copy: p.copy };
  }
  if (obj(p.catchUp)) {
    // The line only while there is something to catch up: a fleet at rest stays one row per database.
    if (p.catchUp!.lag > p.catchUp!.target) d.catchUp = describeCatchUp(p.catchUp!);
    d.progress = { ...d.progress, catchUp: p.catchUp };
  }
  if (p.kind === 'live-validation') {
    const parts = obj(p.summary) ? [describeValidation(p.summary!)] : [];
    if (obj(p.throttled)) parts.push(describeThrottled(p.throttled!));
    if (parts.length) d.validating = parts.join(', ');
    if (obj(p.summary)) d.progress = { ...d.progress, validation: p.summary };
  }
}

export function approveCutover(
  client: Client,
  migrationId: string,
  database: string,
  approver: string,
  comment?: string,
): Promise<ApprovalAck> {
  return refusals(
    client.workflow
      .getHandle(migrationId)
      .executeUpdate(messages.approveCutoverUpdate, { args: [{ database, approver, comment }] }),
  );
}

export function rejectCutover(
  client: Client,
  migrationId: string,
  database: string,
  approver: string,
  reason?: string,
): Promise<ApprovalAck> {
  return refusals(
    client.workflow
      .getHandle(migrationId)
      .executeUpdate(messages.rejectCutoverUpdate, { args: [{ database, approver, reason }] }),
  );
}

/** Takes back an approval before the cutover starts; refused once it has started (roll back instead). */
export function revokeApproval(
  client: Client,
  migrationId: string,
  database: string,
  approver: string,
  reason?: string,
): Promise<ApprovalAck> {
  return refusals(
    client.workflow
      .getHandle(migrationId)
      .executeUpdate(messages.revokeApprovalUpdate, { args: [{ database, approver, reason }] }),
  );
}

/**
 * Gives a COMPLETED database's source back while reverse replication still runs: fences the target,
 * drains it into the source and reopens the source. Sent to the database's own workflow (the fleet
 * may have finished); resolves once it is ROLLED_BACK, or fails saying why it did not finish.
 */
export function rollbackDatabase(
  client: Client,
  migrationId: string,
  database: string,
  by: string,
  reason?: string,
): Promise<DatabaseSummary> {
  const handle = client.workflow.getHandle(childWorkflowId(migrationId, database));
  return afterCutover(handle, 'rolled back', () =>
    handle.executeUpdate(messages.rollbackUpdate, { args: [{ database, by, reason }] }),
  );
}

/** An Update to a database's own workflow, which may have ended: then its state says why not. */
async function afterCutover(
  handle: ReturnType<Client['workflow']['getHandle']>,
  what: string,
  send: () => Promise<DatabaseSummary>,
): Promise<DatabaseSummary> {
  try {
    return await refusals(send());
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    const s = await handle.query(messages.databaseStatusQuery).catch(() => undefined);
    throw new RefusedError(
      s
        ? `database "${s.database}" cannot be ${what}: its run has ended ${s.state}`
        : `no run of ${handle.workflowId} exists: check the migration id and the database name`,
    );
  }
}

/** Ends a COMPLETED database's reverse replication: no rollback after this. Resolves once FINALIZED. */
export function finalizeDatabase(
  client: Client,
  migrationId: string,
  database: string,
  by: string,
  /** The writes found on the closed source (`sourceWrites` in the status) are explained: finalize anyway. */
  acknowledgeSourceWrites = false,
): Promise<DatabaseSummary> {
  const handle = client.workflow.getHandle(childWorkflowId(migrationId, database));
  const input = { database, by, ...(acknowledgeSourceWrites ? { acknowledgeSourceWrites } : {}) };
  return afterCutover(handle, 'finalized', () => handle.executeUpdate(messages.finalizeUpdate, { args: [input] }));
}

export function pause(client: Client, migrationId: string): Promise<FleetStatus> {
  return refusals(client.workflow.getHandle(migrationId).executeUpdate(messages.pauseUpdate));
}

export function resume(client: Client, migrationId: string): Promise<FleetStatus> {
  return refusals(client.workflow.getHandle(migrationId).executeUpdate(messages.resumeUpdate));
}

export function cancelDatabase(client: Client, migrationId: string, database: string): Promise<DatabaseSummary> {
  return refusals(
    client.workflow.getHandle(migrationId).executeUpdate(messages.cancelDatabaseUpdate, { args: [database] }),
  );
}

export function retryDatabase(client: Client, migrationId: string, database: string): Promise<DatabaseSummary> {
  return refusals(
    client.workflow.getHandle(migrationId).executeUpdate(messages.retryDatabaseUpdate, { args: [database] }),
  );
}

export interface WaitOptions {
  timeoutMs?: number;
  pollMs?: number;
}

/**
 * Resolves with the database's summary once it is in one of `states`. Rejects if it ends in
 * another terminal state first (it would never get there), or after the timeout.
 */
export async function waitForState(
  client: Client,
  migrationId: string,
  database: string,
  states: MigrationState | MigrationState[],
  opts: WaitOptions = {},
): Promise<DatabaseSummary> {
  const wanted = Array.isArray(states) ? states : [states];
  const until = Date.now() + (opts.timeoutMs ?? 24 * 3_600_000);
  for (;;) {
    const status = await getStatus(client, migrationId);
    const s = status.databases.find((d) => d.database === database);
    if (!s)
      throw new RefusedError(
        unknownDatabase(
          database,
          status.databases.map((d) => d.database),
        ),
      );
    if (wanted.includes(s.state)) return s;
    const mayGoOn = s.state === 'COMPLETED' && wanted.some((w) => AFTER_COMPLETION.has(w));
    if (isTerminal(s.state) && !mayGoOn)
      throw new Error(
        `database "${database}" ended ${s.state}${s.lastError ? `: ${s.lastError}` : ''} ` +
          `before reaching ${wanted.join(' or ')}`,
      );
    if (Date.now() > until)
      throw new Error(`timed out waiting for "${database}" to reach ${wanted.join(' or ')} (it is ${s.state})`);
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
  }
}

export function waitForReport(client: Client, migrationId: string): Promise<MigrationReport> {
  return client.workflow.getHandle(migrationId).result() as Promise<MigrationReport>;
}
