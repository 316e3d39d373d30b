// A SQL Server job's progress, per database: DMS reports each database a SQL Server job restores as
// a MigrationJobObject (migrationJobs.objects.list; MigrationJobObject in the datamigration v1
// discovery document) with its own state and phase: FULL_DUMP while the full backup is restored
// (DIFF_BACKUP for a differential one), CDC while transaction log backups are restored as they
// arrive, READY_FOR_PROMOTE once every uploaded backup is restored, then PROMOTE_IN_PROGRESS and
// PROMOTED. The job itself stays RUNNING in CDC meanwhile.
import { notCreatedStatus, type DatabaseTask, type ReplicationStatus } from '../../../steps';
import { MigrationError } from '../../../../common/failures';
import type { datamigration_v1, GcpClients } from '../clients';
import { data, listAll, type Job } from './common';
import { call } from '../errors';
import { gcpNames } from '../names';

export type JobObject = datamigration_v1.Schema$MigrationJobObject;

/** Object phases in which the full (or differential) backup is still being restored. */
const RESTORING_FULL = new Set(['FULL_DUMP', 'DIFF_BACKUP', 'CREATING_BACKUP', 'RESTORING_BACKUP']);

/** The job's object for this task's database (sourceObject.database is the plan's source.database). */
export async function databaseObject(c: GcpClients, task: DatabaseTask): Promise<JobObject | undefined> {
  const n = gcpNames(task);
  const objects = await listAll(async (pageToken) => {
    const r = await call(`list objects of migration job ${n.migrationJob}`, () =>
      data(c.dms.projects.locations.migrationJobs.objects.list({ parent: n.jobName, pageToken })),
    );
    return { items: r.migrationJobObjects ?? [], next: r.nextPageToken };
  });
  return objects.find((o) => o.sourceObject?.database === task.database.source.database);
}

/** What the object says, in words for the status line. */
function describeObject(o: JobObject | undefined, db: string): string {
  if (!o) return `database ${db}: not listed yet`;
  const what: Record<string, string> = {
    FULL_DUMP: 'restoring the full backup',
    DIFF_BACKUP: 'restoring the differential backup',
    CDC: 'restoring transaction log backups',
    READY_FOR_PROMOTE: 'every uploaded backup restored',
    PROMOTE_IN_PROGRESS: 'promoting',
    PROMOTED: 'promoted',
  };
  return `database ${db}: ${o.state ?? '?'}/${o.phase ?? '?'}${what[o.phase ?? ''] ? ` (${what[o.phase!]})` : ''}`;
}

/**
 * The replication status of a RUNNING SQL Server job from its database's object. Lag: 0 while the
 * object is READY_FOR_PROMOTE (nothing uploaded is left to restore); in CDC, the seconds since the
 * object last changed (DMS updates it when its phase changes, so: how long backups have been
 * pending since it last caught up); none before the full backup is restored.
 */
export async function sqlServerStatus(c: GcpClients, task: DatabaseTask, job: Job): Promise<ReplicationStatus> {
  const status: ReplicationStatus = { ...notCreatedStatus(), sampleAgeSeconds: null };
  const jobDetail = `${job.state}${job.phase ? `/${job.phase}` : ''}`;
  if (job.state === 'NOT_STARTED' || job.state === 'CREATING' || job.state === 'DRAFT') {
    return { ...status, phase: 'CREATED', detail: jobDetail };
  }
  if (job.state === 'STOPPED' || job.state === 'COMPLETED') return { ...status, phase: 'STOPPED', detail: jobDetail };
  const o = await databaseObject(c, task);
  status.detail = `${jobDetail}; ${describeObject(o, task.database.source.database)}`;
  if (o?.state === 'FAILED')
    throw new MigrationError(
      'ReplicationBroken',
      `DMS job ${gcpNames(task).migrationJob}, database ${task.database.source.database} failed: ` +
        `${o.error?.message ?? 'no detail'}`,
    );
  if (!o || RESTORING_FULL.has(o.phase ?? '') || !o.phase || o.phase === 'PHASE_UNSPECIFIED') {
    status.phase = 'FULL_DUMP';
    return status;
  }
  status.phase = 'CDC';
  status.tablesTotal = 1;
  if (o.phase === 'READY_FOR_PROMOTE') {
    status.lagSeconds = 0;
    status.tablesReady = 1;
  } else if (o.phase === 'CDC' && o.updateTime) {
    status.lagSeconds = Math.max(0, (Date.now() - Date.parse(o.updateTime)) / 1000);
  }
  status.sampleAgeSeconds = status.lagSeconds === null ? null : 0;
  return status;
}
