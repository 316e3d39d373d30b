// The gcp platform: DMS moves the data, Cloud SQL or AlloyDB receive it, Compute provides the
// capacity and Cloud Monitoring reports the lag. Same interface, same plan as `local`.
import { registerSecretScheme } from '../../secrets';
import {
  MigrationError,
  notCreatedStatus,
  type AssessmentResult,
  type CapacityReservation,
  type CutoverResult,
  type DatabaseTask,
  type Finding,
  type MigrationPlatform,
  type PlannedOperation,
  type ReplicationStatus,
  type RollbackResult,
  type TargetInfo,
  type ValidationResult,
} from '../platform';
import { deleteAlloyDb, ensureAlloyDb } from './alloydb';
import { reserveGcpCapacity, releaseGcpCapacity } from './capacity';
import { GcpClients, endpointFromEnv, type GcpClientOptions } from './clients';
import { deleteCloudSql, ensureCloudSql } from './cloudsql';
import { describeGcp } from './describe';
import { deleteJobAndProfiles, ensureJob, getJob, jobAction, JOB_STATE_WHEN_VALID, validateSourceProfile } from './dms';
import { call } from './errors';
import { LAG_BYTES_METRIC, LAG_SECONDS_METRIC, latestSample } from './lag';
import { gcpNames } from './names';
import { DEFAULT_POLL, type PollOptions } from './poll';

export interface GcpPlatformOptions extends GcpClientOptions {
  poll?: Partial<PollOptions>;
}

const RUNNING_PHASES_IN_DUMP = new Set(['FULL_DUMP', 'PREPARING_THE_DUMP']);

export class GcpPlatform implements MigrationPlatform {
  readonly name = 'gcp' as const;
  readonly clients: GcpClients;
  private readonly poll: PollOptions;

  constructor(opts: GcpPlatformOptions = {}) {
    this.clients = new GcpClients({ ...opts, endpoint: opts.endpoint ?? endpointFromEnv() });
    this.poll = { ...DEFAULT_POLL, ...opts.poll };
    registerSecretScheme('gcpsm', async (name, ctx) => {
      const full = name.startsWith('projects/')
        ? name
        : ctx.project
          ? `projects/${ctx.project}/secrets/${name}`
          : undefined;
      if (!full)
        throw new MigrationError(
          'SecretUnavailable',
          `secret gcpsm:${name}: a short name needs the plan's gcp.project`,
        );
      const version = /\/versions\/[^/]+$/.test(full) ? full : `${full}/versions/latest`;
      const [res] = await call(`access secret ${version.replace(/\/versions\/.*$/, '')}`, () =>
        this.clients.secrets.accessSecretVersion({ name: version }),
      );
      return Buffer.from(res.payload?.data ?? '').toString('utf8');
    });
  }

  private check(task: DatabaseTask): void {
    if (!task.gcp)
      throw new MigrationError(
        'InvalidPlan',
        "platform gcp needs the plan's gcp section (project, region, zone, network)",
      );
  }

  async assessSource(task: DatabaseTask): Promise<AssessmentResult> {
    this.check(task);
    const findings: Finding[] = [];
    const problem = await validateSourceProfile(this.clients, task);
    if (problem)
      findings.push({
        code: 'SOURCE_PROFILE_INVALID',
        severity: 'error',
        message: `DMS rejected the source connection: ${problem}`,
      });
    if (task.database.engine === 'mysql' && !task.gcp!.dumpBucket)
      findings.push({
        code: 'NO_DUMP_BUCKET',
        severity: 'info',
        message: 'no gcp.dumpBucket: DMS takes the initial MySQL dump itself',
      });
    return {
      serverVersion: `${task.database.engine} (through DMS)`,
      tables: [],
      estimatedRows: 0,
      findings,
      blocked: findings.some((f) => f.severity === 'error'),
    };
  }

  async provisionTarget(task: DatabaseTask): Promise<TargetInfo> {
    this.check(task);
    return task.database.target.kind === 'alloydb'
      ? ensureAlloyDb(this.clients, task, this.poll)
      : ensureCloudSql(this.clients, task, this.poll);
  }

  async reserveCapacity(task: DatabaseTask): Promise<CapacityReservation> {
    this.check(task);
    return reserveGcpCapacity(this.clients, task, this.poll);
  }

  async releaseCapacity(task: DatabaseTask): Promise<void> {
    this.check(task);
    await releaseGcpCapacity(this.clients, task, this.poll);
  }

  async createMigrationJob(task: DatabaseTask): Promise<void> {
    this.check(task);
    await ensureJob(this.clients, task, this.poll);
  }

  async verifyMigrationJob(task: DatabaseTask): Promise<string[]> {
    this.check(task);
    try {
      await jobAction(this.clients, task, 'verify', this.poll);
      return [];
    } catch (err) {
      if (err instanceof MigrationError && err.type === 'OperationFailed') return [err.message];
      throw err;
    }
  }

  async startMigrationJob(task: DatabaseTask): Promise<void> {
    this.check(task);
    const job = await getJob(this.clients, task);
    if (job && ['RUNNING', 'STARTING', 'COMPLETED'].includes(job.state ?? '')) return;
    await jobAction(this.clients, task, 'start', this.poll);
  }

  async getReplicationStatus(task: DatabaseTask): Promise<ReplicationStatus> {
    this.check(task);
    const job = await getJob(this.clients, task);
    const status: ReplicationStatus = { ...notCreatedStatus(), sampleAgeSeconds: null };
    if (!job) return status;
    status.detail = `${job.state}${job.phase ? `/${job.phase}` : ''}`;
    if (job.state === 'FAILED')
      throw new MigrationError(
        'ReplicationBroken',
        `DMS job ${gcpNames(task).migrationJob} failed: ${job.error?.message ?? 'no detail'}`,
      );
    if (job.state === 'NOT_STARTED' || job.state === 'CREATING') status.phase = 'CREATED';
    else if (job.state === 'STOPPED' || job.state === 'COMPLETED') status.phase = 'STOPPED';
    else status.phase = job.state === 'RUNNING' && !RUNNING_PHASES_IN_DUMP.has(job.phase ?? '') ? 'CDC' : 'FULL_DUMP';
    if (status.phase === 'CDC') {
      const id = gcpNames(task).migrationJob;
      const [secs, bytes] = await Promise.all([
        latestSample(this.clients, task.gcp!.project, id, LAG_SECONDS_METRIC),
        latestSample(this.clients, task.gcp!.project, id, LAG_BYTES_METRIC),
      ]);
      status.lagSeconds = secs?.value ?? null;
      status.lagBytes = bytes?.value ?? null;
      status.sampleAgeSeconds = secs?.ageSeconds ?? null;
    }
    return status;
  }

  /** DMS offers no per-table checksums: this checks the job's own health, and says so. */
  async validateData(task: DatabaseTask, mode: 'live' | 'final'): Promise<ValidationResult> {
    this.check(task);
    const job = await getJob(this.clients, task);
    const wanted = JOB_STATE_WHEN_VALID[mode];
    const ok = !!job && job.state === wanted && !job.error;
    const summary = ok
      ? `DMS job ${job!.state}${job!.phase ? `/${job!.phase}` : ''} without errors ` +
        '(row-level checks: rehearse on the local platform)'
      : `DMS job is ${job?.state ?? 'missing'}${job?.error ? `: ${job.error.message}` : ''}, expected ${wanted}`;
    return { mode, ok, tables: [], summary };
  }

  async cutover(task: DatabaseTask, onProgress: (step: string) => void): Promise<CutoverResult> {
    this.check(task);
    const n = gcpNames(task);
    const job = await getJob(this.clients, task);
    let writeBlockMs = 0;
    if (job?.state !== 'COMPLETED') {
      onProgress(`promoting ${n.migrationJob}`);
      writeBlockMs = await jobAction(this.clients, task, 'promote', this.poll);
    }
    return {
      endpoint: `${task.database.target.kind}://${task.gcp!.project}/${task.database.target.instance}`,
      finalLsn: 'n/a (DMS)',
      sequencesCopied: 0,
      writeBlockMs,
    };
  }

  /** A promoted DMS destination is standalone; promotion cannot be undone. */
  async rollbackCutover(): Promise<void> {}

  async rollbackAfterCutover(task: DatabaseTask): Promise<RollbackResult> {
    throw new MigrationError(
      'RollbackUnavailable',
      `DMS has no reverse replication: ${task.database.name} (migration ${task.migrationId}) cannot be rolled back ` +
        'to its source after the cutover; the promoted destination is the database of record',
    );
  }

  /** Nothing to drop: DMS set up no reverse replication. */
  async finalizeCutover(): Promise<void> {}

  async stopMigrationJob(task: DatabaseTask): Promise<void> {
    this.check(task);
    const job = await getJob(this.clients, task);
    if (job && ['RUNNING', 'STARTING', 'RESUMING'].includes(job.state ?? ''))
      await jobAction(this.clients, task, 'stop', this.poll);
  }

  async deleteMigrationJob(task: DatabaseTask): Promise<void> {
    this.check(task);
    await deleteJobAndProfiles(this.clients, task, this.poll);
  }

  async deleteTarget(task: DatabaseTask): Promise<void> {
    this.check(task);
    if (task.database.target.kind === 'alloydb') await deleteAlloyDb(this.clients, task, this.poll);
    else await deleteCloudSql(this.clients, task, this.poll);
  }

  async close(): Promise<void> {
    await this.clients.close();
  }

  /** Pure: builds the requests' names and bodies without sending any (clients are lazy). */
  describe(task: DatabaseTask): PlannedOperation[] {
    this.check(task);
    return describeGcp(task);
  }
}
