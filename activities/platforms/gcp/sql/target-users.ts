// Is a target used by anyone but this (migration, database)? Asked before a target is deleted.
//
// One database's compensation must never delete an instance another database relies on: a target
// can be shared by a slip in the plan, by a second migration pointed at the same instance, or by an
// operator's own DMS job; and a database that has already cut over to it has its data of record
// there. Labels say who created the target; only DMS says who else uses it, so its connection
// profiles and migration jobs are read (googleapis datamigration v1, REST
// https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.connectionProfiles/list
// and .../projects.locations.migrationJobs/list). Any profile naming the target that is not this
// (migration, database)'s, and any job not ours whose destination is such a profile, is a user.
// When DMS cannot be asked, the error propagates: an unknown answer is never taken for "unused".
import type { datamigration_v1 } from 'googleapis';
import type { DatabaseTask } from '../../../steps';
import type { GcpClients } from '../clients';
import { call } from '../errors';
import { DATABASE_LABEL, gcpNames, ownedBy, OWNER_LABEL } from '../names';

type Profile = datamigration_v1.Schema$ConnectionProfile;
type Job = datamigration_v1.Schema$MigrationJob;

/** The target as DMS connection profiles name it. */
export interface TargetRef {
  /** A Cloud SQL instance id (ConnectionProfile mysql/postgresql/cloudsql .cloudSqlId). */
  cloudSqlId?: string;
  /** An AlloyDB cluster id (postgresql.alloydbClusterId, alloydb.clusterId). */
  alloydbClusterId?: string;
}

/** cloudSqlId may be written as the id, project:id or a resource path; the id is what is compared. */
const sameId = (value: string | null | undefined, id: string | undefined) =>
  !!value && !!id && (value === id || value.endsWith(`:${id}`) || value.endsWith(`/${id}`));

/** Whether a connection profile points at the target (clouddms_resources.proto ConnectionProfile). */
export function profileNames(p: Profile, ref: TargetRef): boolean {
  return (
    sameId(p.mysql?.cloudSqlId, ref.cloudSqlId) ||
    sameId(p.postgresql?.cloudSqlId, ref.cloudSqlId) ||
    sameId(p.cloudsql?.cloudSqlId, ref.cloudSqlId) ||
    sameId(p.postgresql?.alloydbClusterId, ref.alloydbClusterId) ||
    sameId(p.alloydb?.clusterId, ref.alloydbClusterId)
  );
}

async function listAll<T>(
  doing: string,
  page: (pageToken?: string) => Promise<{ items: T[] | undefined; next: string | null | undefined }>,
): Promise<T[]> {
  const all: T[] = [];
  let token: string | undefined;
  do {
    const { items, next } = await call(doing, () => page(token));
    all.push(...(items ?? []));
    token = next || undefined;
  } while (token);
  return all;
}

/**
 * Who else uses the target: a line per DMS profile or job that names it and is not this
 * (migration, database)'s own. Empty means only we do.
 */
export async function otherUsers(c: GcpClients, task: DatabaseTask, ref: TargetRef): Promise<string[]> {
  const parent = gcpNames(task).parent;
  const dms = c.dms.projects.locations;
  const profiles = await listAll<Profile>(`list DMS connection profiles in ${parent}`, async (pageToken) => {
    const { data } = await dms.connectionProfiles.list({ parent, pageToken });
    return { items: data.connectionProfiles, next: data.nextPageToken };
  });
  const naming = profiles.filter((p) => profileNames(p, ref));
  const namingNames = new Set(naming.map((p) => p.name));
  const users = naming
    .filter((p) => !ownedBy(p.labels, task))
    .map((p) => `connection profile ${p.name} (${describeOwner(p.labels)})`);
  if (!namingNames.size) return users;
  const jobs = await listAll<Job>(`list DMS migration jobs in ${parent}`, async (pageToken) => {
    const { data } = await dms.migrationJobs.list({ parent, pageToken });
    return { items: data.migrationJobs, next: data.nextPageToken };
  });
  for (const j of jobs)
    if (namingNames.has(j.destination) && !ownedBy(j.labels, task))
      users.push(`migration job ${j.name} (${describeOwner(j.labels)}, ${j.state ?? 'state unknown'})`);
  return users;
}

function describeOwner(labels: Record<string, string> | null | undefined): string {
  const owner = labels?.[OWNER_LABEL];
  const db = labels?.[DATABASE_LABEL];
  return owner ? `migration ${owner}${db ? `, database ${db}` : ''}` : 'not created by dbmig';
}
