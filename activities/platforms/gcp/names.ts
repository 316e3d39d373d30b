// Every Google Cloud resource name the gcp platform uses, in one place: the requests and the dry
// run (`dbmig plan`) both take them from here, so they cannot disagree. Full names follow
// AIP-122 (https://google.aip.dev/122); the ids derive from (migration id, database).
import { gcpId, gcpResourceNames, requestId } from '../../../common/naming';
import type { DatabaseTask } from '../../steps';

/** The label key on everything this platform creates; its value is the migration's owner label. */
export const OWNER_LABEL = 'dbmig-migration';
/** With OWNER_LABEL: the database (of that migration) a resource was created for. */
export const DATABASE_LABEL = 'dbmig-database';

/**
 * The labels that make a resource this (migration, database)'s own. Label values follow
 * https://cloud.google.com/compute/docs/labeling-resources#requirements (lower case, at most 63).
 */
export function ownerLabels(task: DatabaseTask): Record<string, string> {
  return { [OWNER_LABEL]: gcpNames(task).ownerLabel, [DATABASE_LABEL]: gcpId(task.database.name, 63) };
}

/**
 * True only when both labels name this migration and this database: a resource another migration
 * made, an operator made, or another database of this migration made is never ours to delete.
 */
export function ownedBy(labels: Record<string, string> | null | undefined, task: DatabaseTask): boolean {
  const want = ownerLabels(task);
  return !!labels && Object.entries(want).every(([k, v]) => labels[k] === v);
}

/**
 * A request id (UUID, as AlloyDB, DMS and Compute accept: at most 40 characters) for one request of
 * this attempt: the activity layer's requestScope makes it the same across the activity's retries
 * (Google replays the first answer for at least 60 minutes) and new for a new attempt, so a re-run
 * within the hour creates again instead of being answered with the old, deleted resource.
 */
export function gcpRequestId(task: DatabaseTask, ...parts: string[]): string {
  return requestId(task.requestScope ?? 'unscoped', task.migrationId, ...parts);
}

export function gcpNames(task: DatabaseTask) {
  const { project, region, zone, migrationWorkerGroup } = task.gcp!;
  const n = gcpResourceNames(task.migrationId, task.database.name);
  const target = task.database.target.instance;
  const parent = `projects/${project}/locations/${region}`;
  const cluster = `${parent}/clusters/${target}`;
  const zonal = `projects/${project}/zones/${zone}`;
  return {
    ...n,
    parent,
    sqlInstance: `projects/${project}/instances/${target}`,
    cluster,
    alloyPrimaryId: n.alloydbPrimary(target),
    alloyPrimary: `${cluster}/instances/${n.alloydbPrimary(target)}`,
    futureReservationName: `${zonal}/futureReservations/${n.futureReservation}`,
    resizeRequestName: `${zonal}/instanceGroupManagers/${migrationWorkerGroup}/resizeRequests/${n.resizeRequest}`,
    sourceProfileName: `${parent}/connectionProfiles/${n.sourceProfile}`,
    destinationProfileName: `${parent}/connectionProfiles/${n.destinationProfile}`,
    jobName: `${parent}/migrationJobs/${n.migrationJob}`,
  };
}
