// Every Google Cloud resource name the gcp platform uses, in one place: the requests and the dry
// run (`dbmig plan`) both take them from here, so they cannot disagree. Full names follow
// AIP-122 (https://google.aip.dev/122); the ids derive from (migration id, database).
import { gcpResourceNames } from '../../../common/naming';
import type { DatabaseTask } from '../platform';

/** The label key on everything this platform creates; its value is the migration's owner label. */
export const OWNER_LABEL = 'dbmig-migration';

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
