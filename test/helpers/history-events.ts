// Events in a workflow's history that tests wait for instead of a fixed sleep: once the event is
// there, the workflow has moved past the point where what a test checks for would have happened.
import type { WorkflowHandle } from '@temporalio/client';
import { eventually } from './harness';

const CHILD_ENDED = [
  'childWorkflowExecutionCompletedEventAttributes',
  'childWorkflowExecutionFailedEventAttributes',
  'childWorkflowExecutionCanceledEventAttributes',
  'childWorkflowExecutionTerminatedEventAttributes',
  'childWorkflowExecutionTimedOutEventAttributes',
] as const;

/** Resolves once the parent's history holds the end of child `childWorkflowId`. */
export async function childEndedIn(parent: WorkflowHandle, childWorkflowId: string): Promise<void> {
  await eventually(`the end of ${childWorkflowId} in ${parent.workflowId}'s history`, async () => {
    const { events } = await parent.fetchHistory();
    return (events ?? []).some((e) => CHILD_ENDED.some((k) => e[k]?.workflowExecution?.workflowId === childWorkflowId));
  });
}

/** The activity types the workflow has scheduled so far, in order. */
export async function scheduledActivities(handle: WorkflowHandle): Promise<string[]> {
  const { events } = await handle.fetchHistory();
  return (events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
}
