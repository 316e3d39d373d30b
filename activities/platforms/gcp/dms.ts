// Database Migration Service through googleapis (datamigration v1; google/cloud/clouddms/v1/clouddms.proto,
// REST: https://cloud.google.com/database-migration/docs/reference/rest/v1): connection profiles and a
// CONTINUOUS migration job, with request ids on every create and operations polled to the end.
import { requestId } from '../../../common/naming';
import { sourcePassword } from '../../secrets';
import type { DatabaseTask, PlannedOperation } from '../platform';
import { MigrationError } from '../platform';
import type { datamigration_v1, GcpClients } from './clients';
import { call, getOrUndefined, httpStatus, isNotFound } from './errors';
import { gcpNames, OWNER_LABEL } from './names';
import { planned, plannedCall } from './planned';
import { LONGRUNNING, waitForOperation, type PollOptions } from './poll';

type Profile = datamigration_v1.Schema$ConnectionProfile;
type Job = datamigration_v1.Schema$MigrationJob;
type Operation = datamigration_v1.Schema$Operation;

const PROFILES = 'datamigration.projects.locations.connectionProfiles';
const JOBS = 'datamigration.projects.locations.migrationJobs';

const data = async <T>(p: Promise<{ data: T }>): Promise<T> => (await p).data;

function waitDmsOperation(c: GcpClients, op: Operation, poll: PollOptions): Promise<Operation> {
  return waitForOperation(
    `DMS operation ${op.name}`,
    () => data(c.dms.projects.locations.operations.get({ name: op.name! })),
    LONGRUNNING,
    poll,
    op,
  );
}

/** The source connection without its password, which only `sourceProfile` resolves. */
export function sourceConnection(task: DatabaseTask) {
  const s = task.database.source;
  return { host: s.host, port: s.port, username: s.user };
}

/** The source profile body; the password is resolved here and goes only to the API. */
export async function sourceProfile(task: DatabaseTask): Promise<Profile> {
  const password = await sourcePassword(task.database.source, { project: task.gcp!.project });
  const conn = { ...sourceConnection(task), password };
  return task.database.engine === 'mysql' ? { mysql: conn } : { postgresql: conn };
}

export function destinationProfile(task: DatabaseTask): Profile {
  const t = task.database.target;
  if (t.kind === 'alloydb') return { alloydb: { clusterId: t.instance } };
  return task.database.engine === 'mysql'
    ? { mysql: { cloudSqlId: t.instance } }
    : { postgresql: { cloudSqlId: t.instance } };
}

/** What must match for an existing profile to be ours (the password is never returned). */
function profileKey(p: Profile): string {
  const conn = p.mysql ?? p.postgresql;
  return JSON.stringify({
    kind: p.mysql ? 'mysql' : p.postgresql ? 'postgresql' : p.alloydb ? 'alloydb' : 'other',
    host: conn?.host ?? null,
    port: conn?.port ?? null,
    user: conn?.username ?? null,
    cloudSqlId: conn?.cloudSqlId ?? null,
    cluster: p.alloydb?.clusterId ?? null,
  });
}

async function ensureProfile(
  c: GcpClients,
  task: DatabaseTask,
  id: string,
  name: string,
  body: Profile,
  poll: PollOptions,
): Promise<void> {
  const existing = await getOrUndefined(`get connection profile ${id}`, () =>
    data(c.dms.projects.locations.connectionProfiles.get({ name })),
  );
  if (existing) {
    if (profileKey(existing) !== profileKey(body))
      throw new MigrationError(
        'AlreadyExistsMismatch',
        `connection profile ${id} exists as ${profileKey(existing)}, plan needs ${profileKey(body)}`,
      );
    return;
  }
  const op = await call(`create connection profile ${id}`, () =>
    data(
      c.dms.projects.locations.connectionProfiles.create({
        parent: gcpNames(task).parent,
        connectionProfileId: id,
        requestId: requestId(task.migrationId, name),
        requestBody: { ...body, displayName: id },
      }),
    ),
  );
  await waitDmsOperation(c, op, poll);
}

/** Asks DMS to check the source profile without creating it: the gcp assessment. */
export async function validateSourceProfile(c: GcpClients, task: DatabaseTask): Promise<string | undefined> {
  const n = gcpNames(task);
  try {
    await data(
      c.dms.projects.locations.connectionProfiles.create({
        parent: n.parent,
        connectionProfileId: n.sourceProfile,
        validateOnly: true,
        requestId: requestId(task.migrationId, 'validate', n.sourceProfile),
        requestBody: await sourceProfile(task),
      }),
    );
    return undefined;
  } catch (err) {
    const status = httpStatus(err);
    if (status === 400 || status === 409) return (err as Error).message || 'invalid source connection';
    throw err;
  }
}

export function jobBody(task: DatabaseTask): Job {
  const n = gcpNames(task);
  const engine = task.database.engine === 'mysql' ? 'MYSQL' : 'POSTGRESQL';
  const dump =
    task.database.engine === 'mysql' && task.gcp!.dumpBucket
      ? { dumpPath: `${task.gcp!.dumpBucket.replace(/\/$/, '')}/${n.migrationJob}` }
      : {};
  return {
    displayName: `${task.migrationId}/${task.database.name}`,
    type: 'CONTINUOUS',
    source: n.sourceProfileName,
    destination: n.destinationProfileName,
    sourceDatabase: { engine, provider: 'DATABASE_ENGINE' },
    destinationDatabase: { engine, provider: task.database.target.kind === 'alloydb' ? 'ALLOYDB' : 'CLOUDSQL' },
    labels: { [OWNER_LABEL]: n.ownerLabel },
    ...dump,
  };
}

export async function ensureJob(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<void> {
  const n = gcpNames(task);
  await ensureProfile(c, task, n.sourceProfile, n.sourceProfileName, await sourceProfile(task), poll);
  await ensureProfile(c, task, n.destinationProfile, n.destinationProfileName, destinationProfile(task), poll);
  const wanted = jobBody(task);
  const existing = await getJob(c, task);
  if (existing) {
    const diffs = (['type', 'source', 'destination'] as const)
      .filter((k) => existing[k] !== wanted[k])
      .map((k) => `${k} is ${existing[k]}, plan needs ${wanted[k]}`);
    if (diffs.length)
      throw new MigrationError(
        'AlreadyExistsMismatch',
        `migration job ${n.migrationJob} exists with another configuration: ${diffs.join('; ')}`,
      );
    return;
  }
  const op = await call(`create migration job ${n.migrationJob}`, () =>
    data(
      c.dms.projects.locations.migrationJobs.create({
        parent: n.parent,
        migrationJobId: n.migrationJob,
        requestId: requestId(task.migrationId, n.jobName),
        requestBody: wanted,
      }),
    ),
  );
  await waitDmsOperation(c, op, poll);
}

export function getJob(c: GcpClients, task: DatabaseTask): Promise<Job | undefined> {
  const n = gcpNames(task);
  return getOrUndefined(`get migration job ${n.migrationJob}`, () =>
    data(c.dms.projects.locations.migrationJobs.get({ name: n.jobName })),
  );
}

export type JobAction = 'verify' | 'start' | 'promote' | 'stop';

/** The job state validateData accepts: replicating before the cutover, promoted after it. */
export const JOB_STATE_WHEN_VALID = { live: 'RUNNING', final: 'COMPLETED' } as const;

/** Runs a job action to the end; returns its operation's duration in ms. */
export async function jobAction(
  c: GcpClients,
  task: DatabaseTask,
  action: JobAction,
  poll: PollOptions,
): Promise<number> {
  const n = gcpNames(task);
  const jobs = c.dms.projects.locations.migrationJobs;
  const started = Date.now();
  const params = { name: n.jobName, requestBody: {} };
  const run = () => {
    switch (action) {
      case 'verify':
        return jobs.verify(params);
      case 'start':
        return jobs.start(params);
      case 'promote':
        return jobs.promote(params);
      case 'stop':
        return jobs.stop(params);
    }
  };
  const op = await call(`${action} migration job ${n.migrationJob}`, () => data(run()));
  await waitDmsOperation(c, op, poll);
  return Date.now() - started;
}

export async function deleteJobAndProfiles(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<void> {
  const n = gcpNames(task);
  const del = async (fn: () => Promise<{ data: Operation }>) => {
    try {
      await waitDmsOperation(c, await data(fn()), poll);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  };
  await call(`delete migration job ${n.migrationJob}`, () =>
    del(() =>
      c.dms.projects.locations.migrationJobs.delete({
        name: n.jobName,
        force: true,
        requestId: requestId(task.migrationId, 'delete', n.jobName),
      }),
    ),
  );
  for (const name of [n.sourceProfileName, n.destinationProfileName]) {
    await call(`delete connection profile ${name}`, () =>
      del(() =>
        c.dms.projects.locations.connectionProfiles.delete({
          name,
          force: true,
          requestId: requestId(task.migrationId, 'delete', name),
        }),
      ),
    );
  }
}

// The dry run of the functions above, from the same names and bodies.

export function describeAssessment(task: DatabaseTask): PlannedOperation[] {
  const n = gcpNames(task);
  const conn = sourceConnection(task);
  return [
    planned({
      state: 'ASSESSING',
      calls: [plannedCall(`${PROFILES}.create`, n.sourceProfileName, true)],
      resource: n.sourceProfileName,
      detail: `${task.database.engine} ${conn.host}:${conn.port}, password from ${task.database.source.passwordRef}`,
    }),
  ];
}

export function describeJobCreation(task: DatabaseTask): PlannedOperation[] {
  const n = gcpNames(task);
  const job = jobBody(task);
  const dst = destinationProfile(task);
  const dstId = dst.alloydb?.clusterId ?? (dst.mysql ?? dst.postgresql)?.cloudSqlId;
  const profile = (name: string, detail: string) =>
    planned({
      state: 'CREATING_JOB',
      reads: [`${PROFILES}.get`],
      calls: [plannedCall(`${PROFILES}.create`, name)],
      resource: name,
      detail,
    });
  return [
    profile(n.sourceProfileName, `source ${task.database.engine}, user ${sourceConnection(task).username}`),
    profile(n.destinationProfileName, `destination ${dst.alloydb ? 'AlloyDB cluster' : 'Cloud SQL'} ${dstId}`),
    planned({
      state: 'CREATING_JOB',
      reads: [`${JOBS}.get`],
      calls: [plannedCall(`${JOBS}.create`, n.jobName)],
      resource: n.jobName,
      detail:
        `${job.type} ${job.sourceDatabase!.engine} → ${job.destinationDatabase!.provider}` +
        (job.dumpPath ? `, dump ${job.dumpPath}` : ''),
    }),
  ];
}

export function describeJobAction(
  task: DatabaseTask,
  action: JobAction,
  row: Pick<PlannedOperation, 'state' | 'detail'>,
) {
  const n = gcpNames(task);
  return planned({ ...row, calls: [plannedCall(`${JOBS}.${action}`, n.jobName)], resource: n.jobName });
}

export function describeJobRead(task: DatabaseTask, row: Pick<PlannedOperation, 'state' | 'detail'>) {
  return planned({ ...row, reads: [`${JOBS}.get`], resource: gcpNames(task).jobName });
}

export function describeJobDeletion(task: DatabaseTask): PlannedOperation[] {
  const n = gcpNames(task);
  return [
    planned({
      state: 'COMPLETED',
      calls: [
        plannedCall(`${JOBS}.delete`, n.jobName),
        plannedCall(`${PROFILES}.delete`, n.sourceProfileName),
        plannedCall(`${PROFILES}.delete`, n.destinationProfileName),
      ],
      resource: n.jobName,
      detail: `forced; then profiles ${n.sourceProfile} and ${n.destinationProfile}`,
    }),
  ];
}
