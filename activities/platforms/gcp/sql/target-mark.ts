// Reading and writing the took-over mark (took-over.ts) on the target itself: Cloud SQL
// instances.patch of settings.userLabels (SqlInstancesPatchRequest, cloud_sql_instances.proto:
// "partially updates settings ... by merging the request with the current configuration"; REST
// https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/instances/patch) and AlloyDB
// clusters.patch with update_mask labels (UpdateClusterRequest, service.proto). Both send the whole
// label map, the owner labels included, so no reading of patch semantics can drop them.
import type { DatabaseTask, PlannedOperation } from '../../../steps';
import { MigrationError } from '../../../../common/failures';
import { waitAlloyOperation } from './alloydb';
import type { GcpClients } from '../clients';
import { findInstance, waitSqlOperation } from './cloudsql';
import { call, getOrUndefined } from '../errors';
import { gcpNames, gcpRequestId } from '../names';
import { planned, plannedCall } from '../planned';
import type { PollOptions } from '../poll';
import { markOf, TOOK_OVER_LABEL, tookOverRefusal, tookOverValue, withMark } from './took-over';

type Labels = Record<string, string> | null | undefined;

/** The target as the mark's messages name it. */
export function targetWhat(task: DatabaseTask): string {
  return task.database.target.kind === 'alloydb'
    ? `AlloyDB cluster ${gcpNames(task).cluster}`
    : `Cloud SQL instance ${task.database.target.instance}`;
}

/** The target's labels; `exists` false when there is no such instance or cluster. */
export async function readTargetLabels(
  c: GcpClients,
  task: DatabaseTask,
): Promise<{ exists: boolean; labels: Labels }> {
  if (task.database.target.kind === 'alloydb') {
    const name = gcpNames(task).cluster;
    const cluster = await getOrUndefined(
      `get AlloyDB cluster ${name}`,
      async () => (await c.alloydb.getCluster({ name }))[0],
    );
    return { exists: !!cluster, labels: cluster?.labels };
  }
  const inst = await findInstance(c, task.gcp!.project, task.database.target.instance);
  return { exists: !!inst, labels: inst?.settings?.userLabels };
}

/** Throws TargetTookOver when the target carries the mark; `doing` says what was refused. */
export async function refuseIfTookOver(c: GcpClients, task: DatabaseTask, doing: string): Promise<void> {
  const { labels } = await readTargetLabels(c, task);
  const refusal = tookOverRefusal(labels, targetWhat(task), doing);
  if (refusal) throw refusal;
}

/**
 * Writes the mark, waited to the end of its operation; a target that carries it already (a resumed
 * attempt, which wrote it before) is left as it is. Refuses a target marked by another migration.
 */
export async function markTookOver(
  c: GcpClients,
  task: DatabaseTask,
  poll: PollOptions,
): Promise<'marked' | 'already'> {
  const what = targetWhat(task);
  const { exists, labels } = await readTargetLabels(c, task);
  if (!exists) throw new MigrationError('NotFound', `cannot mark ${what} as taken over: it does not exist`);
  const mark = markOf(labels);
  if (mark === tookOverValue(task)) return 'already';
  if (mark !== undefined) throw tookOverRefusal(labels, what, 'cutting over to it')!;
  const marked = withMark(labels, task);
  if (task.database.target.kind === 'alloydb') {
    const name = gcpNames(task).cluster;
    const [op] = await call(`label ${what} ${TOOK_OVER_LABEL}`, () =>
      c.alloydb.updateCluster({
        // The network is not updated (the mask names labels only), but Cluster.network_config.network
        // is what makes the cluster message whole (resources.proto marks its network REQUIRED).
        cluster: { name, labels: marked, networkConfig: { network: task.gcp!.network } },
        updateMask: { paths: ['labels'] },
        requestId: gcpRequestId(task, 'mark', name),
      }),
    );
    await waitAlloyOperation(c, op.name!, poll);
  } else {
    const project = task.gcp!.project;
    const instance = task.database.target.instance;
    const [op] = await call(`label ${what} ${TOOK_OVER_LABEL}`, () =>
      c.sqlInstances.patch({ project, instance, body: { settings: { userLabels: marked } } }),
    );
    await waitSqlOperation(c, project, op.name!, poll);
  }
  // Read back: the cutover promotes only once the mark is known to be there.
  if (markOf((await readTargetLabels(c, task)).labels) !== tookOverValue(task))
    throw new Error(`${what}: the ${TOOK_OVER_LABEL} label did not stick (retryable)`);
  return 'marked';
}

/** The dry run of markTookOver. */
export function describeMark(task: DatabaseTask): PlannedOperation {
  const n = gcpNames(task);
  const alloy = task.database.target.kind === 'alloydb';
  const resource = alloy ? n.cluster : n.sqlInstance;
  return planned({
    state: 'CUTTING_OVER',
    reads: [alloy ? 'alloydb.projects.locations.clusters.get' : 'sql.instances.list'],
    calls: [plannedCall(alloy ? 'alloydb.projects.locations.clusters.patch' : 'sql.instances.patch', resource)],
    resource,
    detail:
      `label ${TOOK_OVER_LABEL}=${tookOverValue(task)} before the promote: from then on provisioning, demotion ` +
      'and deletion refuse this target in every run',
  });
}
