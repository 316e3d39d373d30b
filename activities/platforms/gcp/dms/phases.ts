// What a DMS job's state and phase (clouddms v1 MigrationJob.State, MigrationJob.Phase) mean for
// the runbook. Besides FULL_DUMP, CDC and PROMOTE_IN_PROGRESS, Google defines:
//
// - WAITING_FOR_SOURCE_WRITES_TO_STOP ("Only RDS flow - waiting for source writes to stop") and
//   PREPARING_THE_DUMP ("the sources writes stopped, waiting for dump to begin"): a MySQL source
//   whose migration user has no SUPER (Amazon RDS, Aurora) cannot have its dump taken under DMS's
//   own lock, so DMS waits for the source's writes to stop: "After the status changes to Starting |
//   Waiting for source writes to stop, writing should be stopped to the source database ... After
//   the status changes to Running | Full dump in progress, writing can be resumed" (about 20 seconds;
//   https://cloud.google.com/database-migration/docs/mysql/rds-no-superuser,
//   https://cloud.google.com/database-migration/docs/mysql/aurora-no-superuser). The initial dump,
//   not CDC: whoever reads the status is told to stop the writes (dms/source-writes.ts closes them
//   itself where the worker reaches the source).
// - READY_FOR_PROMOTE ("The migration job is ready to be promoted"): SQL Server's "Ready to promote"
//   once the .final transaction log backup is applied, continuous load stopped
//   (https://cloud.google.com/database-migration/docs/sqlserver/migration-job-statuses). Everything
//   is on the destination: the promote may be asked for, as in CDC.
// - PHASE_FAILBACK ("the failback phase ... used only for SQL Server Distributed Availability Group
//   (DAG) migrations"): after the promote, changes flow from the destination back to the source
//   (PromoteMigrationJobRequest.failback "from destination back to source (only supported when the
//   migration job is in FAILBACK phase)"). The destination has taken over: past the point of no
//   return, never CDC to promote.
import type { ReplicationPhase } from '../../../steps';
import type { Job } from './common';

/** Phases in which DMS waits for the source's writes to stop before its initial dump (RDS flow). */
export const WRITES_STOP_PHASES = new Set(['WAITING_FOR_SOURCE_WRITES_TO_STOP', 'PREPARING_THE_DUMP']);
/** Phases of the initial copy: the dump, and the RDS flow's wait before it. */
const DUMP_PHASES = new Set(['FULL_DUMP', ...WRITES_STOP_PHASES]);
/** States in which the job moves data (or is about to). */
const REPLICATING = new Set(['RUNNING', 'RESUMING', 'RESTARTING', 'STARTING']);
/** Phases in which a promote may be asked for: all changes flow (CDC) or have arrived (READY_FOR_PROMOTE). */
export const PROMOTABLE_PHASES = new Set(['CDC', 'READY_FOR_PROMOTE']);

type JobView = { state?: string | null; phase?: string | null };

export const describeJob = (job: JobView): string => `${job.state ?? 'UNKNOWN'}${job.phase ? `/${job.phase}` : ''}`;

/** Past the point of no return: the promote was accepted, has finished, or the job fails back already. */
export function promoted(job: JobView): boolean {
  return job.state === 'COMPLETED' || job.phase === 'PROMOTE_IN_PROGRESS' || job.phase === 'PHASE_FAILBACK';
}

/** RUNNING in a phase that takes a promote. */
export function promotable(job: JobView): boolean {
  return job.state === 'RUNNING' && PROMOTABLE_PHASES.has(job.phase ?? '');
}

/** DMS waits for the source's writes to stop before it can take its dump. */
export function waitsForWritesToStop(job: JobView): boolean {
  return WRITES_STOP_PHASES.has(job.phase ?? '');
}

/** What the operator is told while DMS waits for the source's writes to stop. */
export function writesStopInstruction(job: JobView, database: string): string {
  return job.phase === 'PREPARING_THE_DUMP'
    ? `DMS prepares its dump of ${database}: keep the source's writes stopped until the job shows ` +
        'RUNNING/FULL_DUMP (about 20 s; https://cloud.google.com/database-migration/docs/mysql/rds-no-superuser)'
    : `DMS waits for the source's writes to stop before it dumps ${database} (its user has no SUPER: RDS, ` +
        'Aurora): stop every write to the source now, for about 20 s, until the job shows RUNNING/FULL_DUMP, ' +
        'then resume them (https://cloud.google.com/database-migration/docs/mysql/rds-no-superuser)';
}

/** The runbook's replication phase for a job, and what to show beside it. */
export function replicationPhaseOf(job: Job, database: string): { phase: ReplicationPhase; detail: string } {
  const state = job.state ?? '';
  const base = describeJob(job);
  if (state === 'NOT_STARTED' || state === 'CREATING' || state === 'DRAFT') return { phase: 'CREATED', detail: base };
  if (state === 'STOPPED' || state === 'COMPLETED') return { phase: 'STOPPED', detail: base };
  if (job.phase === 'PHASE_FAILBACK')
    return {
      phase: 'STOPPED',
      detail: `${base}: the destination took over and fails back to the source (SQL Server DAG); nothing to promote`,
    };
  if (waitsForWritesToStop(job))
    return { phase: 'FULL_DUMP', detail: `${base}: ${writesStopInstruction(job, database)}` };
  if (job.phase === 'PROMOTE_IN_PROGRESS' || (REPLICATING.has(state) && PROMOTABLE_PHASES.has(job.phase ?? '')))
    return { phase: 'CDC', detail: base };
  // Passing states (STOPPING, UPDATING, MAINTENANCE), a job with no phase yet, or in its dump.
  if (!REPLICATING.has(state) || !job.phase || DUMP_PHASES.has(job.phase)) return { phase: 'FULL_DUMP', detail: base };
  return { phase: 'FULL_DUMP', detail: `${base} (a phase this worker does not know: not read as CDC)` };
}
