// The DMS migration job (clouddms_resources.proto MigrationJob; REST
// https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.migrationJobs/create):
// - type CONTINUOUS: full dump, then CDC until promoted (MigrationJob.Type).
// - sourceDatabase {engine} only: a self-managed source has no DatabaseProvider (the enum names
//   managed ones: CLOUDSQL, RDS, AURORA, ALLOYDB), so provider stays DATABASE_PROVIDER_UNSPECIFIED,
//   proto3's default, by being left out.
// - destinationDatabase {engine, provider CLOUDSQL | ALLOYDB}.
// - connectivity by plan (dms/connectivity.ts): vpcPeeringConnectivity {vpc} by default,
//   reverseSshConnectivity, staticIpConnectivity, or none where the source profile names a private
//   connection.
// - performanceConfig.dumpParallelLevel from the database's size (dumpParallelLevel below).
// - objectsConfig naming the migration's database (MigrationJobObjectsConfig: sourceObjectsConfig
//   {objectsSelectionType SPECIFIED_OBJECTS, objectConfigs [{objectIdentifier {type DATABASE,
//   database}}]}): without it the job is "at instance level" (OBJECTS_SELECTION_TYPE_UNSPECIFIED)
//   and DMS "migrates all your databases by default"
//   (https://cloud.google.com/database-migration/docs/homogeneous-migrations), so every database of
//   the source instance would land in this target while the cutover closes only this one. The
//   selection is documented for PostgreSQL sources (migrationJobs.fetchSourceObjects: "PostgreSQL
//   to Cloud SQL for PostgreSQL, PostgreSQL to AlloyDB"); the promote pages for MySQL also promote
//   "selected databases from a migration job".
// - no dumpPath: it names a manual dump in Cloud Storage, which DMS offers where it creates the
//   destination; here the destination exists and DMS takes the initial dump itself (plan.ts
//   refuses the old gcp.dumpBucket by name).
// - labels: ownerLabels(task), so only this (migration, database) ever changes or deletes it.
import type { DatabaseTask, PlannedOperation } from '../../../steps';
import { MigrationError } from '../../../../common/failures';
import type { GcpClients } from '../clients';
import { dmsRequestId, data, JOBS, listAll, waitDmsOperation, type Job, type Profile } from './common';
import { describeProfiles, ensureProfiles } from './profiles';
import {
  afterJobCreated,
  describeAfterJob,
  describeConnectivity,
  jobConnectivity,
  JOB_CONNECTIVITY_FIELDS,
} from './connectivity';
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
    ...jobConnectivity(task),
    performanceConfig: { dumpParallelLevel: dumpParallelLevel(task.database.sizeGb) },
    objectsConfig: {
      sourceObjectsConfig: {
        objectsSelectionType: 'SPECIFIED_OBJECTS',
        objectConfigs: [{ objectIdentifier: { type: 'DATABASE', database: task.database.source.database } }],
      },
    },
    labels: ownerLabels(task),
  });
}

/** DatabaseType.engine per plan engine. */
const DMS_ENGINE = { postgresql: 'POSTGRESQL', mysql: 'MYSQL', sqlserver: 'SQLSERVER' } as const;

/** The databases a job carries ([] when it carries the whole instance: no selection, or ALL_OBJECTS). */
export function jobDatabases(job: Job): string[] {
  const config = job.objectsConfig?.sourceObjectsConfig;
  if (config?.objectsSelectionType !== 'SPECIFIED_OBJECTS') return [];
  return (config.objectConfigs ?? [])
    .map((o) => o.objectIdentifier)
    .filter((id) => id?.type === 'DATABASE' && id.database)
    .map((id) => id!.database!)
    .sort();
}

/**
 * MigrationJob.PerformanceConfig.DumpParallelLevel from the database's size. The levels are the
 * minimal, optimal and maximum parallelism of the initial dump (clouddms_resources.proto
 * MigrationJob.PerformanceConfig.DumpParallelLevel: "Describes the parallelism level during initial
 * dump", UNSPECIFIED "will be defaulted to OPTIMAL"; the same MIN | OPTIMAL | MAX as
 * https://cloud.google.com/sdk/gcloud/reference/database-migration/migration-jobs/create
 * --dump-parallel-level). More parallel dump threads read the source harder and finish sooner. A
 * small database dumps quickly at any level, so it spares its source (MIN); from 1 TB the dump's
 * duration dominates the migration, so it takes the most (MAX); between, DMS's own default.
 */
export const DUMP_PARALLEL_SMALL_GB = 10;
export const DUMP_PARALLEL_LARGE_GB = 1024;
export function dumpParallelLevel(sizeGb: number): 'MIN' | 'OPTIMAL' | 'MAX' {
  return sizeGb < DUMP_PARALLEL_SMALL_GB ? 'MIN' : sizeGb >= DUMP_PARALLEL_LARGE_GB ? 'MAX' : 'OPTIMAL';
}

/**
 * The configuration an existing job must have to be reused, field by field. performanceConfig is
 * not among them: it only paces the dump, and a job made before the size was corrected still
 * migrates the same data.
 */
export function jobDifferences(existing: Job, wanted: Job): string[] {
  const fields: [string, (j: Job) => unknown][] = [
    ['type', (j) => j.type],
    ['source', (j) => j.source],
    ['destination', (j) => j.destination],
    ['sourceDatabase.engine', (j) => j.sourceDatabase?.engine],
    ['destinationDatabase.engine', (j) => j.destinationDatabase?.engine],
    ['destinationDatabase.provider', (j) => j.destinationDatabase?.provider],
    ...JOB_CONNECTIVITY_FIELDS,
    // A job at instance level carries every database of the source: not this database's job.
    ['objectsConfig databases', (j) => jobDatabases(j).join(',') || 'the whole instance'],
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
    const ready = await settled(c, task, existing, poll);
    // A retry after the job was made: the operator's script or IP list may not have been given yet.
    if (ready.state === 'NOT_STARTED') await afterJobCreated(c, task);
    return ready;
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
  const ready = await settled(c, task, job, poll);
  if (ready.state === 'NOT_STARTED') await afterJobCreated(c, task);
  return ready;
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
          : `${describeConnectivity(task)}, database ${jobDatabases(job).join(', ')} only (objectsConfig ` +
            `SPECIFIED_OBJECTS), dump parallelism ${job.performanceConfig!.dumpParallelLevel} ` +
            `(${task.database.sizeGb} GB)`),
    }),
    ...describeAfterJob(task),
  ];
}
