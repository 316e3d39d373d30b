// What is done to a DMS migration job after it exists, each step idempotent under retries and
// under a lost answer (the job's state, or the location's operations, tell whether a request that
// got no answer took effect). States and phases: clouddms_resources.proto MigrationJob.State/Phase;
// which action each state allows: https://cloud.google.com/database-migration/docs/postgres/migration-job-statuses
// and https://cloud.google.com/database-migration/docs/mysql/migration-job-statuses
// ("Not started: Start, Delete"; "Running: Stop, Promote, Delete"; "Stopped: resume if stopped in
// CDC, restart if stopped in full dump"; "Failed: Restart, Delete, Promote").
//
// Start of a job to an existing destination: migrationJobs.demoteDestination first ("Demotes the
// destination database to become a read replica of the source", for MySQL → Cloud SQL, PostgreSQL
// → Cloud SQL and PostgreSQL → AlloyDB: reference/rest/v1/projects.locations.migrationJobs/demoteDestination,
// and step "demote the existing instance" of
// https://cloud.google.com/database-migration/docs/postgres/create-migration-job-existing-instance),
// then migrationJobs.start. A STOPPED job is resumed (migrationJobs.resume), never started again.
//
// Promote ("Promote a migration": https://cloud.google.com/database-migration/docs/postgres/promote-migration):
// only RUNNING in phase CDC, after the caller stopped the source's writes and read a fresh zero lag,
// or in READY_FOR_PROMOTE (dms/phases.ts).
//
// Delete: migrationJobs.delete WITHOUT force. "The destination CloudSQL connection profile is
// always deleted with the migration job. In case of force delete, the destination CloudSQL replica
// database is also deleted" (reference/rest/v1/projects.locations.migrationJobs/delete): force
// would take the target with it. A running job is stopped first instead.
import type { AssessmentResult, DatabaseTask, PlannedOperation } from '../../../steps';
import { MigrationError } from '../../../../common/failures';
import { formatDuration } from '../../../../common/durations';
import { cutoverLimits } from '../../../../common/plan-settings';
import type { datamigration_v1, GcpClients } from '../clients';
import { dmsRequestId, data, JOBS, listAll, PROFILES, waitDmsOperation, type Job, type Operation } from './common';
import { getJob } from './job';
import { describeJob, promotable, promoted, waitsForWritesToStop } from './phases';
import { call, classify, getOrUndefined, isNotFound } from '../errors';
import { gcpNames, ownedBy } from '../names';
import { planned, plannedCall } from '../planned';
import { pollUntil, type PollOptions } from '../poll';
import { refuseIfTookOver } from '../sql/target-mark';

const OPERATIONS = 'datamigration.projects.locations.operations';
const jobsApi = (c: GcpClients) => c.dms.projects.locations.migrationJobs;

/** States from which the job has been verified and started already. */
const PAST_START = new Set(['STARTING', 'RUNNING', 'RESUMING', 'RESTARTING', 'COMPLETED']);
/** States a job passes through on its own; callers wait them out. */
const TRANSIENT = new Set(['CREATING', 'STOPPING', 'UPDATING', 'RESUMING', 'RESTARTING', 'STARTING', 'MAINTENANCE']);

async function requireJob(c: GcpClients, task: DatabaseTask): Promise<Job> {
  const job = await getJob(c, task);
  if (!job)
    throw new MigrationError(
      'NotFound',
      `migration job ${gcpNames(task).migrationJob} does not exist (create it first)`,
    );
  return job;
}

function waitJob(c: GcpClients, task: DatabaseTask, poll: PollOptions, until: (j: Job | undefined) => boolean) {
  return pollUntil(`migration job ${gcpNames(task).migrationJob}`, () => getJob(c, task), until, poll);
}

/**
 * Sends a job action. When the answer is lost (or the retry of a request that took effect is
 * refused), `applied` reads the job's state to decide whether the action happened after all.
 */
async function act(
  c: GcpClients,
  task: DatabaseTask,
  verb: string,
  send: () => Promise<{ data: Operation }>,
  applied: (j: Job | undefined) => boolean,
): Promise<Operation | undefined> {
  try {
    return await call(`${verb} migration job ${gcpNames(task).migrationJob}`, () => data(send()));
  } catch (err) {
    const job = await getJob(c, task).catch(() => undefined);
    if (applied(job)) return undefined;
    throw err;
  }
}

/** The problems of a failed verify: MigrationJobVerificationError details when present, else the message. */
function verificationProblems(error: datamigration_v1.Schema$Status): string[] {
  const details = (error.details ?? []) as datamigration_v1.Schema$MigrationJobVerificationError[];
  const problems = details
    .filter((d) => d.errorCode || d.errorMessage)
    .map((d) => [d.errorCode, d.errorMessage, d.errorDetailMessage].filter(Boolean).join(': '));
  return problems.length ? problems : [error.message || 'verification failed without detail'];
}

/**
 * migrationJobs.verify: "making sure the destination can reach the source and that all
 * configuration and prerequisites are met". Returns the problems of a failed verify ([] when it
 * passed, or when the job is already past its start). Changes nothing, so a repeat is harmless.
 */
export async function verifyJob(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<string[]> {
  const n = gcpNames(task);
  const job = await requireJob(c, task);
  if (PAST_START.has(job.state ?? '')) return [];
  const op = await call(`verify migration job ${n.migrationJob}`, () =>
    data(jobsApi(c).verify({ name: n.jobName, requestBody: {} })),
  );
  const done = op.done
    ? op
    : await pollUntil(
        `DMS operation ${op.name}`,
        () =>
          call(`get DMS operation ${op.name}`, () => data(c.dms.projects.locations.operations.get({ name: op.name! }))),
        (o) => !!o.done,
        poll,
      );
  return done.error ? verificationProblems(done.error) : [];
}

type OperationMetadata = { target?: string; verb?: string; createTime?: string };
const meta = (op: Operation) => (op.metadata ?? {}) as OperationMetadata;

/**
 * The job's demoteDestination operation, if one was sent since the job was created: DMS's
 * OperationMetadata names the `target` resource and the `verb` (clouddms.proto OperationMetadata),
 * so a demote whose answer was lost is found instead of sent twice. A failed one does not count.
 */
async function demoteOperation(c: GcpClients, task: DatabaseTask, job: Job): Promise<Operation | undefined> {
  const n = gcpNames(task);
  const ops = await listAll(async (pageToken) => {
    const r = await call('list DMS operations', () =>
      data(c.dms.projects.locations.operations.list({ name: n.parent, pageToken })),
    );
    return { items: r.operations ?? [], next: r.nextPageToken };
  });
  const since = job.createTime ?? '';
  return ops
    .filter((o) => meta(o).target === n.jobName && /demote/i.test(meta(o).verb ?? ''))
    .filter((o) => !(o.done && o.error) && (meta(o).createTime ?? '') >= since)
    .sort((a, b) => (meta(b).createTime ?? '').localeCompare(meta(a).createTime ?? ''))[0];
}

/**
 * The state of the newest promote operation DMS lists for the job (OperationMetadata verb, as for
 * the demote above): how the cutover tells a promote still under way from one never accepted.
 */
export async function promoteOperationState(
  c: GcpClients,
  task: DatabaseTask,
): Promise<'none' | 'pending' | 'succeeded' | 'failed'> {
  const n = gcpNames(task);
  const ops = await listAll(async (pageToken) => {
    const r = await call('list DMS operations', () =>
      data(c.dms.projects.locations.operations.list({ name: n.parent, pageToken })),
    );
    return { items: r.operations ?? [], next: r.nextPageToken };
  });
  const newest = ops
    .filter((o) => meta(o).target === n.jobName && /promote/i.test(meta(o).verb ?? ''))
    .sort((a, b) => (meta(b).createTime ?? '').localeCompare(meta(a).createTime ?? ''))[0];
  if (!newest) return 'none';
  if (!newest.done) return 'pending';
  return newest.error ? 'failed' : 'succeeded';
}

/** demoteDestination exactly once per job, waited to the end; never to a target that took over. */
export async function ensureDemoted(c: GcpClients, task: DatabaseTask, job: Job, poll: PollOptions): Promise<void> {
  const n = gcpNames(task);
  let op = await demoteOperation(c, task, job);
  if (!op) {
    await refuseIfTookOver(c, task, 'demoting it (migrationJobs.demoteDestination)');
    // Sent once, not through call()'s retries: demoteDestination takes no request id, so after a
    // lost answer only the operations list tells whether it happened.
    try {
      op = await data(jobsApi(c).demoteDestination({ name: n.jobName, requestBody: {} }));
    } catch (err) {
      op = await demoteOperation(c, task, job);
      if (!op) throw classify(err, `demote the destination of migration job ${n.migrationJob}`);
    }
  }
  await waitDmsOperation(c, op, poll);
}

export type StartOutcome = 'started' | 'resumed' | 'restarted' | 'already running';

/**
 * NOT_STARTED → demoteDestination, then start; STOPPED in CDC → resume; STOPPED in the full dump →
 * restart (the documented way on from there; the dump starts over); already starting or running →
 * nothing. FAILED needs a person (the docs' remedy, restart, wipes the destination).
 */
export async function startOrResumeJob(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<StartOutcome> {
  const n = gcpNames(task);
  const api = jobsApi(c);
  for (;;) {
    const job = await requireJob(c, task);
    const state = job.state ?? '';
    if (PAST_START.has(state)) return 'already running';
    if (state === 'CREATING' || state === 'STOPPING' || state === 'UPDATING' || state === 'MAINTENANCE') {
      await waitJob(c, task, poll, (j) => j?.state !== state);
      continue;
    }
    if (state === 'FAILED')
      throw new MigrationError(
        'ReplicationBroken',
        `DMS job ${n.migrationJob} FAILED${job.phase ? ` in ${job.phase}` : ''}: ` +
          `${job.error?.message ?? 'no detail'}; ` +
          'fix the cause, then restart or delete it',
      );
    let outcome: StartOutcome;
    let op: Operation | undefined;
    // Each of demote, restart (it wipes the destination) and resume writes into the destination: a
    // target that took over is refused (took-over.ts), read from the target itself, not from the job.
    await refuseIfTookOver(
      c,
      task,
      state === 'NOT_STARTED'
        ? 'demoting it (migrationJobs.demoteDestination)'
        : `replicating into it again (${state})`,
    );
    if (state === 'NOT_STARTED') {
      // demoteDestination is for MySQL and PostgreSQL destinations (its REST page); DMS restores a
      // SQL Server database from backups into the running Cloud SQL instance, nothing to demote.
      if (task.database.engine !== 'sqlserver') await ensureDemoted(c, task, job, poll);
      outcome = 'started';
      op = await act(
        c,
        task,
        'start',
        () => api.start({ name: n.jobName, requestBody: {} }),
        (j) => PAST_START.has(j?.state ?? ''),
      );
    } else if (state === 'STOPPED' && job.phase === 'FULL_DUMP') {
      outcome = 'restarted';
      op = await act(
        c,
        task,
        'restart',
        () => api.restart({ name: n.jobName, requestBody: {} }),
        (j) => PAST_START.has(j?.state ?? ''),
      );
    } else if (state === 'STOPPED') {
      outcome = 'resumed';
      op = await act(
        c,
        task,
        'resume',
        () => api.resume({ name: n.jobName, requestBody: {} }),
        (j) => PAST_START.has(j?.state ?? ''),
      );
    } else {
      throw new Error(`migration job ${n.migrationJob} is ${state}; cannot start it now (retryable)`);
    }
    if (op) await waitStarted(c, task, op, poll);
    return outcome;
  }
}

/**
 * Waits for a start, restart or resume operation, or until the job waits for the source's writes
 * to stop (the RDS flow, dms/phases.ts): DMS's dump, and so perhaps its answer, comes only once
 * they have, which is the caller's to bring about (dms/source-writes.ts), not to wait for here.
 */
async function waitStarted(c: GcpClients, task: DatabaseTask, op: Operation, poll: PollOptions): Promise<void> {
  if (op.done) {
    await waitDmsOperation(c, op, poll);
    return;
  }
  const read = await pollUntil(
    `DMS operation ${op.name}`,
    async () => {
      const now = await call(`get DMS operation ${op.name}`, () =>
        data(c.dms.projects.locations.operations.get({ name: op.name! })),
      );
      return { op: now, waiting: !now.done && waitsForWritesToStop((await getJob(c, task)) ?? {}) };
    },
    (r) => !!r.op.done || r.waiting,
    poll,
  );
  if (read.op.done) await waitDmsOperation(c, read.op, poll);
}

const promoting = (j: Job | undefined) => j?.state === 'RUNNING' && j.phase === 'PROMOTE_IN_PROGRESS';

export interface PromoteAccepted {
  /** The promote operation, when this call sent it and got its answer. */
  operation?: string;
  /** The job was COMPLETED already (an earlier attempt promoted it). */
  alreadyCompleted: boolean;
}

/**
 * Sends migrationJobs.promote and returns once DMS ACCEPTED it: from here the destination becomes a
 * standalone primary and there is no way back. Refused (retryably: CutoverNotReady) unless the job
 * is RUNNING in phase CDC or READY_FOR_PROMOTE. `waitForPromotion` then waits for its end.
 */
export async function promoteJob(c: GcpClients, task: DatabaseTask): Promise<PromoteAccepted> {
  const n = gcpNames(task);
  const job = await requireJob(c, task);
  if (job.state === 'COMPLETED') return { alreadyCompleted: true };
  if (promoted(job)) return { alreadyCompleted: false };
  if (!promotable(job))
    throw new MigrationError(
      'CutoverNotReady',
      `DMS job ${n.migrationJob} is ${describeJob(job)}; promote needs RUNNING in phase CDC or READY_FOR_PROMOTE`,
    );
  const op = await act(
    c,
    task,
    'promote',
    () => jobsApi(c).promote({ name: n.jobName, requestBody: {} }),
    (j) => j?.state === 'COMPLETED' || promoting(j),
  );
  return { operation: op?.name ?? undefined, alreadyCompleted: false };
}

/** Waits until the promotion ends; the job must then be COMPLETED. */
export async function waitForPromotion(
  c: GcpClients,
  task: DatabaseTask,
  poll: PollOptions,
  accepted?: PromoteAccepted,
): Promise<Job> {
  if (accepted?.operation) await waitDmsOperation(c, { name: accepted.operation }, poll);
  const job = await waitJob(c, task, poll, (j) => !promoting(j));
  // PHASE_FAILBACK: promoted, the destination now replicates back to the source (dms/phases.ts).
  if (job?.state !== 'COMPLETED' && job?.phase !== 'PHASE_FAILBACK')
    throw new MigrationError(
      'OperationFailed',
      `promotion of DMS job ${gcpNames(task).migrationJob} ended with the job ${job?.state ?? 'missing'}` +
        `${job?.error?.message ? `: ${job.error.message}` : ''}`,
    );
  return job;
}

/**
 * Stops replication (compensation): RUNNING → STOPPING → STOPPED. Transitional states are waited
 * out first (the statuses pages offer only Delete while Starting/Resuming). Only this (migration,
 * database)'s own job is touched.
 */
export async function stopJob(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<void> {
  const n = gcpNames(task);
  let job = await getJob(c, task);
  if (!job || !ownedBy(job.labels, task)) return;
  if (TRANSIENT.has(job.state ?? '') && job.state !== 'STOPPING')
    job = await waitJob(c, task, poll, (j) => !TRANSIENT.has(j?.state ?? '') || j?.state === 'STOPPING');
  if (job?.state === 'RUNNING' && job.phase !== 'PROMOTE_IN_PROGRESS') {
    const op = await act(
      c,
      task,
      'stop',
      () => jobsApi(c).stop({ name: n.jobName, requestBody: {} }),
      (j) => j?.state === 'STOPPING' || j?.state === 'STOPPED',
    );
    if (op) await waitDmsOperation(c, op, poll);
  }
  if ((await getJob(c, task))?.state === 'STOPPING') await waitJob(c, task, poll, (j) => j?.state !== 'STOPPING');
}

async function deleteProfile(c: GcpClients, task: DatabaseTask, name: string, poll: PollOptions): Promise<void> {
  const api = c.dms.projects.locations.connectionProfiles;
  const p = await getOrUndefined(`get connection profile ${name}`, () => data(api.get({ name })));
  if (!p || !ownedBy(p.labels, task)) return; // gone, or not ours: never deleted
  try {
    const op = await call(`delete connection profile ${name}`, () =>
      data(api.delete({ name, requestId: dmsRequestId(task, 'delete', name) })),
    );
    await waitDmsOperation(c, op, poll);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * Stops the job if it runs, deletes it without force (the destination instance survives; DMS
 * deletes the destination profile with it), then the source profile, and the destination profile
 * if it outlived the job. A job or profile this (migration, database) did not create is left alone.
 */
export async function deleteJobAndProfiles(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<void> {
  const n = gcpNames(task);
  const job = await getJob(c, task);
  if (job && !ownedBy(job.labels, task)) return; // another's job: neither it nor the profiles it uses
  if (job) {
    await stopJob(c, task, poll);
    if ((await getJob(c, task))?.state !== 'DELETING') {
      const op = await act(
        c,
        task,
        'delete',
        () => jobsApi(c).delete({ name: n.jobName, requestId: dmsRequestId(task, 'delete', n.jobName) }),
        (j) => !j || j.state === 'DELETING',
      ).catch((err) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      try {
        if (op) await waitDmsOperation(c, op, poll);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    await waitJob(c, task, poll, (j) => !j);
  }
  await deleteProfile(c, task, n.sourceProfileName, poll);
  await deleteProfile(c, task, n.destinationProfileName, poll);
}

/** A dms-only source (the worker cannot reach it): no SQL assessment; DMS's verify is the check. */
export function assessThroughDms(task: DatabaseTask): AssessmentResult {
  const s = task.database;
  return {
    serverVersion: `${[s.engine, s.source.version].filter(Boolean).join(' ')} (not reachable from the worker)`,
    tables: [],
    estimatedRows: 0,
    findings: [
      {
        code: 'ASSESSED_BY_DMS_VERIFY',
        severity: 'info',
        message:
          `the worker cannot reach ${task.database.source.host} (access: dms-only), so the source prerequisites are ` +
          "checked by DMS's verify before the job starts, not over SQL",
      },
    ],
    blocked: false,
  };
}

// The dry run of the functions above, from the same names.

export type JobAction = 'verify' | 'start' | 'promote' | 'stop';

/** The job state validateData accepts: replicating before the cutover, promoted after it. */
export const JOB_STATE_WHEN_VALID = { live: 'RUNNING', final: 'COMPLETED' } as const;

/** DMS-side, the assessment sends nothing (validateOnly is for Oracle profiles only). */
export function describeAssessment(task: DatabaseTask): PlannedOperation[] {
  void task;
  return [];
}

const START_WORDS = 'demote the existing destination to a replica, start';

/**
 * What the start may do to a MySQL source: where DMS waits for its writes to stop before the dump
 * (a migration user without SUPER, as on RDS and Aurora: dms/phases.ts), the worker stops them
 * itself when it reaches the source (dms/source-writes.ts), the operator otherwise.
 */
function writesStop(task: DatabaseTask): string {
  if (task.database.engine !== 'mysql') return '';
  const by =
    task.database.source.access === 'dms-only'
      ? 'the operator must stop them'
      : `the worker holds LOCK TABLES ... READ on the source for at most cutover.timeout (${formatDuration(
          cutoverLimits(task.settings).timeoutMs,
        )})`;
  return `; if DMS waits for the source's writes to stop before its dump (no SUPER: RDS, Aurora), ${by}`;
}

/** The happy path's start: from NOT_STARTED, demoteDestination then start (SQL Server: start alone). */
export function describeStart(task: DatabaseTask, detail = 'then migrationJobs.get until phase CDC'): PlannedOperation {
  const n = gcpNames(task);
  const sqlserver = task.database.engine === 'sqlserver';
  return planned({
    state: 'FULL_DUMP',
    reads: [`${JOBS}.get`, `${OPERATIONS}.list`],
    calls: [
      ...(sqlserver ? [] : [plannedCall(`${JOBS}.demoteDestination`, n.jobName)]),
      plannedCall(`${JOBS}.start`, n.jobName),
    ],
    resource: n.jobName,
    detail: `${sqlserver ? 'start (DMS restores the backups)' : START_WORDS}; ${detail}${writesStop(task)}`,
  });
}

export function describeJobAction(
  task: DatabaseTask,
  action: JobAction,
  row: Pick<PlannedOperation, 'state' | 'detail'>,
): PlannedOperation {
  if (action === 'start') return { ...describeStart(task, row.detail), state: row.state };
  const n = gcpNames(task);
  return planned({
    ...row,
    reads: [`${JOBS}.get`],
    calls: [plannedCall(`${JOBS}.${action}`, n.jobName)],
    resource: n.jobName,
  });
}

export function describeJobRead(task: DatabaseTask, row: Pick<PlannedOperation, 'state' | 'detail'>) {
  return planned({ ...row, reads: [`${JOBS}.get`], resource: gcpNames(task).jobName });
}

/** After a promotion the job is COMPLETED: no stop; delete without force, then the source profile. */
export function describeJobDeletion(task: DatabaseTask): PlannedOperation[] {
  const n = gcpNames(task);
  return [
    planned({
      state: 'COMPLETED',
      reads: [`${JOBS}.get`, `${PROFILES}.get`],
      calls: [plannedCall(`${JOBS}.delete`, n.jobName), plannedCall(`${PROFILES}.delete`, n.sourceProfileName)],
      resource: n.jobName,
      detail:
        `without force (the destination instance stays); DMS deletes ${n.destinationProfile} with the job; ` +
        `then ${n.sourceProfile}`,
    }),
  ];
}
