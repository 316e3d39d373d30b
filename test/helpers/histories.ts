// Saves a real history as a replay fixture when DBMIG_RECORD_HISTORIES=1 (in the same JSON
// shape as `temporal workflow show --output json`). A history does not name its own workflow
// id, and child ids derive from it, so the file is named after the workflow id ('/' as '__');
// replay reads the workflow type from the history's first event. A committed fixture is never
// re-recorded, only added to (docs/development.md, Replay fixtures).
import { spawnSync } from 'node:child_process';
import { existsSync, renameSync } from 'node:fs';
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
  const file = join(HISTORIES_DIR, fileForWorkflow(workflowId));
  keepCommitted(file);
  await exportHistory(client, workflowId, file);
}

/**
 * A committed recording is never overwritten: it moves aside as `<name>@<commit>.json` (the commit
 * that recorded it), where it keeps replaying as the runs of that version must, and the new
 * recording takes `<name>.json`. One recorded in this working tree and not committed is replaced.
 */
function keepCommitted(file: string): void {
  if (!existsSync(file)) return;
  const git = (...args: string[]) =>
    spawnSync('git', args, { cwd: HISTORIES_DIR, encoding: 'utf8' }).stdout?.trim() ?? '';
  const commit = git('log', '-1', '--format=%h', '--', file);
  const changed = git('status', '--porcelain', '--', file);
  if (commit && !changed) renameSync(file, file.replace(/\.json$/, `@${commit}.json`));
}
