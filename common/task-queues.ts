// Where a run's work is served. The workflow and its control steps run on the migration task
// queue; the data-heavy steps (the snapshot copy, the validations) on its data plane, a queue of
// its own that any number of `dbmig worker --data-plane` processes on other machines may serve,
// while one workflow keeps the state. Pure: the workflow, the worker and the CLI derive the same name.

/** The activities a data-plane worker serves: the steps that read and write rows at scale. */
export const DATA_PLANE_ACTIVITIES = ['waitForFullDump', 'validateData', 'helpCopyRanges'] as const;
export type DataPlaneActivity = (typeof DATA_PLANE_ACTIVITIES)[number];

/** The data plane of the migration task queue `taskQueue`. */
export function dataPlaneQueue(taskQueue: string): string {
  return `${taskQueue}-data`;
}

/** What one worker process serves: both planes (the default), only the control plane, or only the data plane. */
export type WorkerPlane = 'both' | 'control' | 'data';
