// Migrations and their databases, from Temporal's visibility store: the search attributes the
// workflows set (common/search-attributes.ts). No workflow is queried, so the list answers even
// while no worker runs. A database appears once its own workflow has started.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { CHILD_WORKFLOW_TYPE, PARENT_WORKFLOW_TYPE } from '../common/naming';
import { DATABASE_NAME, MIGRATION_ID, MIGRATION_STATE, PLATFORM } from '../common/search-attributes';
import type { MigrationState } from '../common/states';

export interface ListedDatabase {
  database: string;
  /** The state its workflow last recorded (MigrationState). */
  state: string;
  /** Its workflow's execution status: RUNNING, COMPLETED, FAILED, ... */
  workflowStatus: string;
  workflowId: string;
}

export interface ListedMigration {
  migrationId: string;
  platform?: string;
  workflowStatus: string;
  startTime: string;
  closeTime?: string;
  databases: ListedDatabase[];
}

async function collect(client: Client, query: string): Promise<WorkflowExecutionInfo[]> {
  const runs: WorkflowExecutionInfo[] = [];
  for await (const w of client.workflow.list({ query })) runs.push(w);
  // Continue-as-new and retries leave older runs under the same id: the latest one speaks.
  const latest = new Map<string, WorkflowExecutionInfo>();
  for (const w of runs) {
    const seen = latest.get(w.workflowId);
    if (!seen || w.startTime.getTime() > seen.startTime.getTime()) latest.set(w.workflowId, w);
  }
  return [...latest.values()];
}

/**
 * Every migration, newest first, with its databases by name; with `state`, only the databases in
 * that state and the migrations that have one.
 */
export async function listMigrations(
  client: Client,
  opts: { state?: MigrationState } = {},
): Promise<ListedMigration[]> {
  const childQuery =
    `WorkflowType = "${CHILD_WORKFLOW_TYPE}"` + (opts.state ? ` AND MigrationState = "${opts.state}"` : '');
  const [parents, children] = await Promise.all([
    collect(client, `WorkflowType = "${PARENT_WORKFLOW_TYPE}"`),
    collect(client, childQuery),
  ]);
  const byMigration = new Map<string, ListedDatabase[]>();
  for (const c of children) {
    const id = c.typedSearchAttributes.get(MIGRATION_ID);
    if (!id) continue;
    const list = byMigration.get(id) ?? [];
    list.push({
      database: c.typedSearchAttributes.get(DATABASE_NAME) ?? c.workflowId.slice(id.length + 1),
      state: c.typedSearchAttributes.get(MIGRATION_STATE) ?? 'UNKNOWN',
      workflowStatus: c.status.name,
      workflowId: c.workflowId,
    });
    byMigration.set(id, list);
  }
  return parents
    .map((p) => {
      const migrationId = p.typedSearchAttributes.get(MIGRATION_ID) ?? p.workflowId;
      const platform = p.typedSearchAttributes.get(PLATFORM);
      return {
        migrationId,
        ...(platform ? { platform } : {}),
        workflowStatus: p.status.name,
        startTime: p.startTime.toISOString(),
        ...(p.closeTime ? { closeTime: p.closeTime.toISOString() } : {}),
        databases: (byMigration.get(migrationId) ?? []).sort((a, b) => a.database.localeCompare(b.database)),
      };
    })
    .filter((m) => !opts.state || m.databases.length > 0)
    .sort((a, b) => b.startTime.localeCompare(a.startTime));
}
