// Saves a real history as a replay fixture when DBMIG_RECORD_HISTORIES=1 (in the same JSON
// shape as `temporal workflow show --output json`). A history does not name its own workflow
// id, and child ids derive from it, so the file is named after the workflow id ('/' as '__');
// replay reads the workflow type from the history's first event. Fixtures are recorded from the
// version they are named for and never re-recorded (docs/development.md, Replay fixtures).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { exportHistory } from '../../cli/replay';

export const HISTORIES_DIR = join(__dirname, '..', 'fixtures', 'histories');

export const fileForWorkflow = (workflowId: string) => `${workflowId.replace(/\//g, '__')}.json`;
/** An older recording of the same workflow id carries `@<commit>` before `.json`: the id drops it. */
export const workflowForFile = (file: string) =>
  file
    .replace(/\.json$/, '')
    .replace(/@[^@]*$/, '')
    .replace(/__/g, '/');

/**
 * Records the latest run of `workflowId` once it has closed (completed, failed or continued as new
 * into a run that closed): a fixture is a whole run, never one cut off while it still works.
 */
export async function recordHistory(client: Client, workflowId: string): Promise<void> {
  if (process.env.DBMIG_RECORD_HISTORIES !== '1') return;
  await client.workflow
    .getHandle(workflowId)
    .result()
    .catch(() => undefined);
  await mkdir(HISTORIES_DIR, { recursive: true });
  await exportHistory(client, workflowId, join(HISTORIES_DIR, fileForWorkflow(workflowId)));
}
