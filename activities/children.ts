// How a fleet learns the end of children it started before a continue-as-new: the new run has no
// handle on them, and a child that was terminated (or could not send its last report) tells
// nobody. This activity watches them from outside the workflow, polling their descriptions with
// nothing written to any history, and returns as soon as one of them has ended.
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { approveCutoverUpdate, rejectCutoverUpdate, revokeApprovalUpdate } from '../common/messages';
import { MIGRATION_STATE } from '../common/search-attributes';
import type {
  ApprovalAck,
  ApprovalInput,
  DatabaseSummary,
  DecisionKind,
  RejectionInput,
  RevocationInput,
} from '../common/status';

export interface ChildEnd {
  workflowId: string;
  /** Temporal's status of the run: COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, or NOT_FOUND. */
  status: string;
  /** The child's own summary, where it completed. */
  summary?: DatabaseSummary;
  /** Why it ended, where it did not complete: the failure's message, a termination's reason. */
  reason?: string;
}

/** Polls `workflowIds` every `pollMs` until at least one has ended; returns every one that has. */
export async function awaitChildrenEnded(workflowIds: string[], pollMs = 5_000): Promise<ChildEnd[]> {
  const ctx = Context.current();
  for (;;) {
    const ended = (await Promise.all(workflowIds.map((id) => endOf(ctx.client, id)))).filter(
      (e): e is ChildEnd => e !== undefined,
    );
    if (ended.length) return ended;
    ctx.heartbeat({ watching: workflowIds.length, at: new Date().toISOString() });
    await ctx.sleep(pollMs);
  }
}

async function endOf(client: Client, workflowId: string): Promise<ChildEnd | undefined> {
  const handle = client.workflow.getHandle(workflowId);
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      return { workflowId, status: 'NOT_FOUND', reason: 'its workflow no longer exists (retention ended it)' };
    throw err;
  }
  if (status === 'RUNNING' || status === 'CONTINUED_AS_NEW') return undefined;
  try {
    const summary = (await handle.result()) as DatabaseSummary;
    return { workflowId, status, summary };
  } catch (err) {
    const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
    const why = cause?.message || (err as Error).message;
    const reason = status === 'TERMINATED' ? `terminated${why ? `: ${why}` : ''}` : why;
    return { workflowId, status, reason };
  }
}

/** How an earlier run of a child id ended: Temporal's status and the last state it recorded. */
export interface ChildRunBefore {
  status: string;
  /** Its MigrationState search attribute: set at every transition, so a terminated run keeps its last. */
  state?: string;
}

/**
 * The last run of `workflowId`, if any: the fleet asks before it starts a child, because a run
 * that was terminated after its cutover started left no report, and its target may have taken over.
 */
export async function childRunBefore(workflowId: string): Promise<ChildRunBefore | undefined> {
  try {
    const d = await Context.current().client.workflow.getHandle(workflowId).describe();
    const state = d.typedSearchAttributes.get(MIGRATION_STATE);
    return { status: d.status.name, ...(state ? { state } : {}) };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/**
 * Hands an operator's decision to the child as an Update, and returns what the child answered:
 * its acknowledgement, or its refusal (DecisionRefused, with the child's own reason). The fleet
 * relays through here because a workflow cannot send an Update itself, and a signal tells nobody
 * whether the child took it.
 */
export async function relayDecision(
  workflowId: string,
  kind: DecisionKind,
  input: ApprovalInput | RejectionInput | RevocationInput,
): Promise<ApprovalAck> {
  const update =
    kind === 'approve' ? approveCutoverUpdate : kind === 'reject' ? rejectCutoverUpdate : revokeApprovalUpdate;
  const ctx = Context.current();
  try {
    // Cancelled with the activity (a worker shutting down, the parent's cancel): an Update waits for
    // the child's workflow task, which a worker that is shutting down no longer runs.
    return await ctx.client.withAbortSignal(ctx.cancellationSignal, () =>
      ctx.client.workflow.getHandle(workflowId).executeUpdate(update, { args: [input] }),
    );
  } catch (err) {
    const refused = (message: string) =>
      ApplicationFailure.create({ type: 'DecisionRefused', message, nonRetryable: true });
    if (err instanceof WorkflowUpdateFailedError)
      throw refused((err.cause as Error | undefined)?.message ?? err.message);
    if (err instanceof WorkflowNotFoundError)
      throw refused(`database "${input.database}": its workflow ${workflowId} has ended; see \`dbmig status\``);
    throw err;
  }
}
