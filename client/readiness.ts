// Why a migration cannot move or answer, in one line with the fix: no worker polls its task queue,
// or the namespace lacks the search attributes the workflows set. Without this, both show up only
// as a status query that times out after the server's 30 s ("Failed to query Workflow").
import { WorkflowNotFoundError, type Client, type Connection } from '@temporalio/client';
import { optionalTsToDate } from '@temporalio/common/lib/time';
import { checkSearchAttributes, missingMessage, type TemporalServices } from './setup';

/** The migration cannot make progress or answer until an operator fixes what the message says. */
export class NotReadyError extends Error {
  override name = 'NotReady';
}

const TASK_QUEUE_KIND_NORMAL = 1;
const TASK_QUEUE_TYPE_WORKFLOW = 1;
const TASK_QUEUE_TYPE_ACTIVITY = 2;
/** A polling worker comes back at least once a minute (long polls end after about 60 s). */
const LIVE_POLL_MS = 120_000;

export function noWorkerMessage(taskQueue: string, lastPollAt?: Date): string {
  const since = lastPollAt ? ` since ${lastPollAt.toISOString()}` : '';
  return `no worker polls task queue ${taskQueue}${since}: start one with \`dbmig worker\``;
}

function services(client: Client): TemporalServices {
  return {
    workflowService: client.workflowService,
    operatorService: (client.connection as Connection).operatorService,
  };
}

/** Said when workers poll the task queue but none its data plane: the copy and validations will wait. */
export function noDataPlaneMessage(dataQueue: string): string {
  return (
    `no worker polls the data plane ${dataQueue}: the copy and the validations wait for one ` +
    '(`dbmig worker`, or `dbmig worker --data-plane`)'
  );
}

/** The workers that polled the task queue's workflow tasks lately, with the latest poll. */
export async function workflowPollers(
  client: Client,
  taskQueue: string,
): Promise<{ count: number; lastPollAt?: Date }> {
  return pollersOf(client, taskQueue, TASK_QUEUE_TYPE_WORKFLOW);
}

/** The workers that polled the queue's activity tasks lately (the data plane has no workflows). */
export async function activityPollers(
  client: Client,
  taskQueue: string,
): Promise<{ count: number; lastPollAt?: Date }> {
  return pollersOf(client, taskQueue, TASK_QUEUE_TYPE_ACTIVITY);
}

async function pollersOf(
  client: Client,
  taskQueue: string,
  taskQueueType: number,
): Promise<{ count: number; lastPollAt?: Date }> {
  const { pollers } = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
    taskQueueType,
  });
  const times = (pollers ?? []).map((p) => optionalTsToDate(p.lastAccessTime)?.getTime() ?? 0);
  return { count: times.length, lastPollAt: times.length ? new Date(Math.max(...times)) : undefined };
}

/** Best effort: a check this caller may not run (permissions, an older server) finds nothing. */
async function quietly<T>(check: () => Promise<T>): Promise<T | undefined> {
  try {
    return await check();
  } catch {
    return undefined;
  }
}

/** Missing search attributes, as one line with the fix; undefined when none is missing or it cannot tell. */
export async function searchAttributeProblem(client: Client): Promise<string | undefined> {
  const check = await quietly(() => checkSearchAttributes(services(client), client.options.namespace));
  return check && missingMessage(check);
}

/**
 * Before a status query: what makes it fail for certain, so the operator reads why at once rather
 * than after the server's timeout. No worker has ever polled the queue; or the run is open and
 * cannot complete a workflow task without the search attributes.
 */
export async function statusPreflight(client: Client, migrationId: string): Promise<void> {
  const description = await quietly(() => client.workflow.getHandle(migrationId).describe());
  if (!description) return; // the query says "not found" itself
  const [pollers, saProblem] = await Promise.all([
    quietly(() => workflowPollers(client, description.taskQueue)),
    description.status.name === 'RUNNING' ? searchAttributeProblem(client) : undefined,
  ]);
  if (pollers?.count === 0) throw new NotReadyError(noWorkerMessage(description.taskQueue));
  if (saProblem) throw new NotReadyError(saProblem);
}

/** After a failed status query: says why if it can tell, else rethrows the query's own error. */
export async function explainQueryFailure(client: Client, migrationId: string, err: unknown): Promise<never> {
  if (err instanceof WorkflowNotFoundError) throw err;
  const description = await quietly(() => client.workflow.getHandle(migrationId).describe());
  if (description) {
    const pollers = await quietly(() => workflowPollers(client, description.taskQueue));
    // The server's own verdict once no worker took the query: FAILED_PRECONDITION "no poller seen".
    const serverSaysNoPoller = /no poller seen/i.test(String((err as { cause?: { details?: string } }).cause?.details));
    const stale = pollers && (!pollers.lastPollAt || Date.now() - pollers.lastPollAt.getTime() > LIVE_POLL_MS);
    if (stale || serverSaysNoPoller)
      throw new NotReadyError(noWorkerMessage(description.taskQueue, pollers?.lastPollAt));
    const saProblem = await searchAttributeProblem(client);
    if (saProblem) throw new NotReadyError(saProblem);
  }
  throw err;
}
