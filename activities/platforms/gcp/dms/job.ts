// The DMS migration job (clouddms_resources.proto MigrationJob; REST
// https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.migrationJobs/create):
// - type CONTINUOUS: full dump, then CDC until promoted (MigrationJob.Type).
// - sourceDatabase {engine} only: a self-managed source has no DatabaseProvider (the enum names
//   managed ones: CLOUDSQL, RDS, AURORA, ALLOYDB), so provider stays DATABASE_PROVIDER_UNSPECIFIED,
//   proto3's default, by being left out.
// - destinationDatabase {engine, provider CLOUDSQL | ALLOYDB}.
// - vpcPeeringConnectivity {vpc: the plan's network}: the targets have private IPs only, and VPC
//   peering is the connectivity method for a source reachable in (or from) that VPC
//   (https://cloud.google.com/database-migration/docs/postgres/configure-connectivity-vpc-peering,
//   https://cloud.google.com/database-migration/docs/mysql/configure-connectivity-vpc-peering).
// - no dumpPath: it names an existing dump file in Cloud Storage, and nobody writes one; DMS takes
//   the initial dump itself.
// - labels: ownerLabels(task), so only this (migration, database) ever changes or deletes it.
import type { DatabaseTask, PlannedOperation } from '../../../steps';
import { MigrationError } from '../../../../common/failures';
import type { GcpClients } from '../clients';
import { dmsRequestId, data, JOBS, listAll, waitDmsOperation, type Job, type Profile } from './common';
import { describeProfiles, ensureProfiles } from './profiles';
import { SQLSERVER_JOB_FIELDS, withSqlServerConfig } from './job-sqlserver';
import { call, getOrUndefined, isAlreadyExists } from '../errors';
import { gcpNames, ownedBy, ownerLabels } from '../names';
import { planned, plannedCall } from '../planned';
import { pollUntil, type PollOptions } from '../poll';

export function jobBody(task: DatabaseTask): Job {
  const n = gcpNames(task);
  const engine = DMS_ENGINE[task.database.engine];
  return withSqlServerConfig(task, {
    displayName: `${task.migrationId}/${task.database.name}`,
    type: 'CONTINUOUS',
    source: n.sourceProfileName,
    destination: n.destinationProfileName,
    sourceDatabase: { engine },
    destinationDatabase: { engine, provider: task.database.target.kind === 'alloydb' ? 'ALLOYDB' : 'CLOUDSQL' },
    vpcPeeringConnectivity: { vpc: task.gcp!.network },
    labels: ownerLabels(task),
  });
}

/** DatabaseType.engine per plan engine. */
const DMS_ENGINE = { postgresql: 'POSTGRESQL', mysql: 'MYSQL', sqlserver: 'SQLSERVER' } as const;

/** The configuration an existing job must have to be reused, field by field. */
export function jobDifferences(existing: Job, wanted: Job): string[] {
  const fields: [string, (j: Job) => unknown][] = [
    ['type', (j) => j.type],
    ['source', (j) => j.source],
    ['destination', (j) => j.destination],
    ['sourceDatabase.engine', (j) => j.sourceDatabase?.engine],
    ['destinationDatabase.engine', (j) => j.destinationDatabase?.engine],
    ['destinationDatabase.provider', (j) => j.destinationDatabase?.provider],
    ['vpcPeeringConnectivity.vpc', (j) => j.vpcPeeringConnectivity?.vpc],
    ...(wanted.sqlserverHomogeneousMigrationJobConfig ? SQLSERVER_JOB_FIELDS : []),
  ];
  return fields
    .filter(([, get]) => (get(existing) ?? null) !== (get(wanted) ?? null))
    .map(([k, get]) => `${k} is ${get(existing) ?? 'unset'}, plan needs ${get(wanted) ?? 'unset'}`);
}

export function getJob(c: GcpClients, task: DatabaseTask): Promise<Job | undefined> {
  const n = gcpNames(task);
  return getOrUndefined(`get migration job ${n.migrationJob}`, () =>
    data(c.dms.projects.locations.migrationJobs.get({ name: n.jobName })),
  );
}

/** Refuses a job this (migration, database) did not create, or one configured otherwise. */
export function checkOwnJob(task: DatabaseTask, job: Job): void {
  const id = gcpNames(task).migrationJob;
  if (!ownedBy(job.labels, task))
    throw new MigrationError(
      'AlreadyExistsMismatch',
      `migration job ${id} exists but was not created for ${task.database.name} of migration ${task.migrationId} ` +
        `(labels ${JSON.stringify(job.labels ?? {})}); it is left alone`,
    );
  const diffs = jobDifferences(job, jobBody(task));
  if (diffs.length)
    throw new MigrationError(
      'AlreadyExistsMismatch',
      `migration job ${id} exists with another configuration: ${diffs.join('; ')}`,
    );
}

/** Waits out MigrationJob.State CREATING (create's operation still running, e.g. after a lost answer). */
async function settled(c: GcpClients, task: DatabaseTask, job: Job, poll: PollOptions): Promise<Job> {
  if (job.state !== 'CREATING') return job;
  const done = await pollUntil(
    `migration job ${gcpNames(task).migrationJob}`,
    () => getJob(c, task),
    (j) => j?.state !== 'CREATING',
    poll,
  );
  if (!done) throw new Error(`migration job ${gcpNames(task).migrationJob} vanished while CREATING (retryable)`);
  return done;
}

/** Get-or-create of both profiles and the job; returns the job, NOT_STARTED when new. */
export async function ensureJob(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<Job> {
  const n = gcpNames(task);
  const existing = await getJob(c, task);
  if (existing) {
    checkOwnJob(task, existing);
    return settled(c, task, existing, poll);
  }
  await ensureProfiles(c, task, poll);
  try {
    const op = await call(`create migration job ${n.migrationJob}`, () =>
      data(
        c.dms.projects.locations.migrationJobs.create({
          parent: n.parent,
          migrationJobId: n.migrationJob,
          requestId: dmsRequestId(task, 'create', n.jobName),
          requestBody: jobBody(task),
        }),
      ),
    );
    await waitDmsOperation(c, op, poll);
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
  const job = await call(`get migration job ${n.migrationJob}`, () =>
    data(c.dms.projects.locations.migrationJobs.get({ name: n.jobName })),
  );
  checkOwnJob(task, job);
  return settled(c, task, job, poll);
}

/** The target instance (Cloud SQL id or AlloyDB cluster id) a destination profile points at. */
export function profileTarget(p: Profile): string | undefined {
  return (
    p.postgresql?.cloudSqlId ||
    p.postgresql?.alloydbClusterId ||
    p.mysql?.cloudSqlId ||
    p.cloudsql?.cloudSqlId ||
    p.alloydb?.clusterId ||
    undefined
  );
}

/**
 * The other migration jobs (not this task's) whose destination is this task's target instance,
 * with their labels: a target one of them uses is not this database's to delete. Lists every
 * profile and job of the location (connectionProfiles.list, migrationJobs.list) and filters here,
 * so the answer does not depend on which filter fields the service supports.
 */
export async function jobsUsingTarget(c: GcpClients, task: DatabaseTask): Promise<Job[]> {
  const n = gcpNames(task);
  const target = task.database.target.instance;
  const profiles = await listAll(async (pageToken) => {
    const r = await call('list connection profiles', () =>
      data(c.dms.projects.locations.connectionProfiles.list({ parent: n.parent, pageToken })),
    );
    return { items: r.connectionProfiles ?? [], next: r.nextPageToken };
  });
  const destinations = new Set(profiles.filter((p) => profileTarget(p) === target).map((p) => p.name));
  const jobs = await listAll(async (pageToken) => {
    const r = await call('list migration jobs', () =>
      data(c.dms.projects.locations.migrationJobs.list({ parent: n.parent, pageToken })),
    );
    return { items: r.migrationJobs ?? [], next: r.nextPageToken };
  });
  return jobs.filter((j) => j.name !== n.jobName && destinations.has(j.destination ?? ''));
}

/** The dry run of ensureJob, from the same ids and body. */
export function describeJobCreation(task: DatabaseTask): PlannedOperation[] {
  const n = gcpNames(task);
  const job = jobBody(task);
  return [
    ...describeProfiles(task),
    planned({
      state: 'CREATING_JOB',
      reads: [`${JOBS}.get`],
      calls: [plannedCall(`${JOBS}.create`, n.jobName)],
      resource: n.jobName,
      detail:
        `${job.type} ${job.sourceDatabase!.engine} → ${job.destinationDatabase!.provider}, ` +
        (job.sqlserverHomogeneousMigrationJobConfig
          ? `from backup files named ${job.sqlserverHomogeneousMigrationJobConfig.backupFilePattern}, ` +
            'promoted by the cutover (promoteWhenReady false)'
          : `VPC peering with ${job.vpcPeeringConnectivity!.vpc}`),
    }),
  ];
}
