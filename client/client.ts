// A small typed client for operators' tools and applications: start, status, approve, reject,
// pause, resume, cancel. It validates what it can before calling, with the workflows' own messages.
import { WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { validatePlan } from '../common/plan';
import {
  unknownDatabase,
  type ApprovalAck,
  type DatabaseSummary,
  type FleetStatus,
  type MigrationReport,
} from '../common/status';
import * as messages from '../common/messages';
import { isTerminal, type MigrationState } from '../common/states';

import { DEFAULT_TASK_QUEUE, PARENT_WORKFLOW_TYPE } from '../common/naming';

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
      args: [{ plan }],
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

export function getStatus(client: Client, migrationId: string): Promise<FleetStatus> {
  return client.workflow.getHandle(migrationId).query(messages.statusQuery);
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
    if (isTerminal(s.state))
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
