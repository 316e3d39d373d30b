// The gcp platform: DMS moves the data, Cloud SQL or AlloyDB receive it, Compute provides the
// capacity and Cloud Monitoring reports the lag. Same interface, same plan as `local`.
import { withClient, type ConnectionParams } from '../../engines/postgres/sessions';
import { registerSecretScheme, resolveSecret } from '../../secrets';
import { MigrationError } from '../../../common/failures';
import { cutoverLimits } from '../../../common/plan-settings';
import {
  notCreatedStatus,
  type AssessmentResult,
  type CapacityReservation,
  type CutoverResult,
  type CutoverUndo,
  type DatabaseTask,
  type FleetTask,
  type PlannedOperation,
  type PlannedSummary,
  type PreparedMigration,
  type ReplicationStatus,
  type RollbackResult,
  type TargetInfo,
  type ValidationResult,
} from '../../steps';
import { type MigrationPlatform } from '../platform';
import { deleteAlloyDb, ensureAlloyDb } from './sql/alloydb';
import { assessGcpSource, readSourceVersion } from './dms/assess-source';
import { reserveGcpCapacity, releaseGcpCapacity } from './compute/capacity';
import { GcpClients, endpointFromEnv, type GcpClientOptions } from './clients';
import { deleteCloudSql, ensureCloudSql } from './sql/cloudsql';
import { cutoverRefusal, gcpCutover, promoted, type GcpCutoverDeps } from './cutover';
import { settleSourceClose } from './cutover/postgres';
import {
  dropSourceFence,
  endStaleFences,
  fenceJob,
  fencesOverSql,
  prepareSourceFence,
  sourceParams,
} from './cutover/fence';
import { endStaleMysqlFences } from '../../engines/mysql/fence';
import { withMysql } from '../../engines/mysql/sessions';
import { describeGcp, summarizeGcp } from './describe';
import {
  assessThroughDms,
  deleteJobAndProfiles,
  ensureJob,
  getJob,
  JOB_STATE_WHEN_VALID,
  promoteJob,
  promoteOperationState,
  startOrResumeJob,
  stopJob,
  verifyJob,
  waitForPromotion,
  type PromoteAccepted,
} from './dms';
import { call } from './errors';
import { LAG_BYTES_METRIC, LAG_SECONDS_METRIC, lagSampleAfter, latestSample } from './monitoring/lag';
import { ensureMonitoring, removeMonitoring } from './monitoring';
import { gcpNames } from './names';
import { DEFAULT_POLL, type PollOptions } from './poll';
import { warn } from '../../log';
import { readTargetPrivateIp } from './sql/target-address';
import { markTookOver, refuseIfTookOver } from './sql/target-mark';
import { replicationPhaseOf } from './dms/phases';
import { stopWritesForDump } from './dms/source-writes';
import { sqlServerStatus } from './dms/sqlserver-objects';
import type { SqlServerCutoverDeps } from './cutover/sqlserver';
import { BACKUP_FILE_PATTERN } from './dms/job-sqlserver';
import { assessSqlServerSource } from './sqlserver/assess';
import { openTds, type TdsSession } from './sqlserver/tds-session';
import { settleTailLogClose } from './cutover/sqlserver-tail';
import { sqlServerCutoverDeps } from './cutover/sqlserver-deps';

export interface GcpPlatformOptions extends GcpClientOptions {
  poll?: Partial<PollOptions>;
  /** SQL Server cutover: how long READY_FOR_PROMOTE must hold unchanged where the bucket is not read. */
  sqlServerSettleMs?: number;
  /** How the worker reaches a SQL Server source over TDS (default: the mssql driver, sqlserver/tds-session.ts). */
  openSqlServer?: (task: DatabaseTask) => Promise<TdsSession>;
}

export class GcpPlatform implements MigrationPlatform {
  readonly name = 'gcp' as const;
  readonly clients: GcpClients;
  private readonly poll: PollOptions;
  private readonly sqlServerSettleMs?: number;
  private readonly openSqlServer: (task: DatabaseTask) => Promise<TdsSession>;

  constructor(opts: GcpPlatformOptions = {}) {
    const endpoint = opts.endpoint ?? endpointFromEnv();
    this.clients = new GcpClients({ ...opts, endpoint });
    this.poll = { ...DEFAULT_POLL, ...opts.poll };
    this.sqlServerSettleMs = opts.sqlServerSettleMs;
    // Batches as long as the cutover's: the tail-log backup and the disarm's lock wait run within it.
    this.openSqlServer =
      opts.openSqlServer ?? ((task) => openTds(task, { requestTimeoutMs: cutoverLimits(task.settings).timeoutMs }));
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

  /** The recipe's monitoring step: a dashboard and alert policies per migration (monitoring.ts). */
  prepareMigration(fleet: FleetTask): Promise<PreparedMigration> {
    return ensureMonitoring(this.clients, fleet);
  }

  async finishMigration(fleet: FleetTask): Promise<void> {
    await removeMonitoring(this.clients, fleet);
  }

  /**
   * Over SQL where the worker reaches the source (assess-source.ts); through DMS's verify, after the
   * job exists, where only DMS does (source.access dms-only).
   */
  async assessSource(task: DatabaseTask): Promise<AssessmentResult> {
    this.check(task);
    // SQL Server: its backup bucket always, the source over TDS where the worker reaches it (sqlserver/assess.ts).
    const result =
      task.database.engine === 'sqlserver'
        ? await assessSqlServerSource(task, {
            storage: this.clients.storage,
            backupFilePattern: BACKUP_FILE_PATTERN,
            open: this.openSqlServer,
          })
        : task.database.source.access === 'dms-only'
          ? assessThroughDms(task)
          : await assessGcpSource(task);
    const refusal = cutoverRefusal(task);
    const findings = refusal
      ? [...result.findings, { code: 'CUTOVER_UNFENCED', severity: 'error' as const, message: refusal }]
      : result.findings;
    return { ...result, findings, blocked: findings.some((f) => f.severity === 'error') };
  }

  /** The target's version follows the plan, else the source's (asked of it where the worker reaches it). */
  async provisionTarget(task: DatabaseTask): Promise<TargetInfo> {
    this.check(task);
    const { target, source } = task.database;
    const sourceVersion =
      target.version || source.version || task.database.engine === 'sqlserver'
        ? undefined
        : await readSourceVersion(task);
    return target.kind === 'alloydb'
      ? ensureAlloyDb(this.clients, task, this.poll, { sourceVersion })
      : ensureCloudSql(this.clients, task, this.poll, { sourceVersion });
  }

  async reserveCapacity(task: DatabaseTask): Promise<CapacityReservation> {
    this.check(task);
    return reserveGcpCapacity(this.clients, task, this.poll);
  }

  async releaseCapacity(task: DatabaseTask): Promise<void> {
    this.check(task);
    await releaseGcpCapacity(this.clients, task, this.poll);
  }

  /** The fence table goes onto the source first: DMS copies only what exists when it starts (no DDL). */
  async createMigrationJob(task: DatabaseTask): Promise<void> {
    this.check(task);
    // A job onto a target that took over would only lead to demoting it: refused here already.
    await refuseIfTookOver(this.clients, task, 'creating a migration job into it');
    await prepareSourceFence(task);
    await ensureJob(this.clients, task, this.poll);
  }

  async verifyMigrationJob(task: DatabaseTask): Promise<string[]> {
    this.check(task);
    return verifyJob(this.clients, task, this.poll);
  }

  /**
   * demoteDestination + start from NOT_STARTED, resume from STOPPED in CDC (dms/actions.ts); a job
   * that waits for the source's writes to stop before its dump gets them stopped where the worker
   * reaches the source (dms/source-writes.ts), else the status's detail tells the operator.
   */
  async startMigrationJob(task: DatabaseTask): Promise<void> {
    this.check(task);
    await startOrResumeJob(this.clients, task, this.poll);
    await stopWritesForDump(this.clients, task, this.poll, (step) => warn(`startMigrationJob: ${step}`));
  }

  async getReplicationStatus(task: DatabaseTask): Promise<ReplicationStatus> {
    this.check(task);
    const job = await getJob(this.clients, task);
    const status: ReplicationStatus = { ...notCreatedStatus(), sampleAgeSeconds: null };
    if (!job) return status;
    if (job.state === 'FAILED')
      throw new MigrationError(
        'ReplicationBroken',
        `DMS job ${gcpNames(task).migrationJob} failed: ${job.error?.message ?? 'no detail'}`,
      );
    // SQL Server: progress per database backup, from the job's objects (dms/sqlserver-objects.ts).
    if (task.database.engine === 'sqlserver') return sqlServerStatus(this.clients, task, job);
    // Phases Google defines beyond the dump and CDC (the RDS flow's wait for writes to stop,
    // READY_FOR_PROMOTE, PHASE_FAILBACK) are read as what they are: dms/phases.ts.
    const { phase, detail } = replicationPhaseOf(job, task.database.source.database);
    status.phase = phase;
    status.detail = detail;
    if (status.phase === 'CDC') {
      const id = gcpNames(task).migrationJob;
      const [secs, bytes] = await Promise.all([
        latestSample(this.clients, task.gcp!.project, id, LAG_SECONDS_METRIC, task.database.source.database),
        latestSample(this.clients, task.gcp!.project, id, LAG_BYTES_METRIC, task.database.source.database),
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

  /**
   * Writes stopped on the source and drained to a fence the target shows (source.access direct),
   * a fresh DMS lag reading, then promote: cutover.ts. The promote's acceptance is the point of no return.
   */
  async cutover(task: DatabaseTask, onProgress: (step: string) => void): Promise<CutoverResult> {
    this.check(task);
    return gcpCutover(task, await this.cutoverDeps(task), onProgress);
  }

  /** What the cutover (and its undo) reads and does through DMS and on the target. */
  private async cutoverDeps(
    task: DatabaseTask,
    withTarget = true,
  ): Promise<GcpCutoverDeps & Partial<SqlServerCutoverDeps>> {
    let accepted: PromoteAccepted | undefined;
    return {
      jobState: async () => {
        const j = await getJob(this.clients, task);
        return { state: j?.state ?? 'NOT_FOUND', phase: j?.phase ?? undefined };
      },
      freshLag: (since) => lagSampleAfter(this.clients, task, since),
      promote: async () => {
        accepted = await promoteJob(this.clients, task);
      },
      waitPromoted: async () => {
        await waitForPromotion(this.clients, task, this.poll, accepted);
      },
      markTookOver: async () => {
        await markTookOver(this.clients, task, this.poll);
      },
      promoteOperation: () => promoteOperationState(this.clients, task),
      ...(task.database.engine === 'sqlserver'
        ? sqlServerCutoverDeps(this.clients, task, { open: this.openSqlServer, settleMs: this.sqlServerSettleMs })
        : {}),
      jobPollMs: Math.min(1_000, this.poll.intervalMs),
      target: withTarget && fencesOverSql(task) ? await this.targetSql(task) : undefined,
      lagPollMs: Math.min(5_000, this.poll.intervalMs),
    };
  }

  /** The target over SQL (its private IP on the plan's network), for reading the fence there. */
  private async targetSql(task: DatabaseTask): Promise<ConnectionParams | undefined> {
    const { target } = task.database;
    const host = await readTargetPrivateIp(this.clients, task);
    if (!host || !target.passwordRef) return undefined;
    return {
      host,
      port: task.database.engine === 'mysql' ? 3306 : 5432,
      user: target.user ?? (task.database.engine === 'mysql' ? 'root' : 'postgres'),
      password: await resolveSecret(target.passwordRef, { project: task.gcp!.project }),
      database: task.settings.targetDatabase,
    };
  }

  /**
   * Undo a cutover that did not finish. Past the promote's acceptance (the point of no return) the
   * destination has taken over: nothing is reopened (rule 1). Before it nothing was closed, and a
   * fence session ends at its deadline on its own; one a dead attempt left is ended now.
   */
  async rollbackCutover(task: DatabaseTask): Promise<CutoverUndo> {
    this.check(task);
    const job = await getJob(this.clients, task);
    if (job && promoted({ state: job.state ?? '', phase: job.phase ?? undefined }))
      return { pastPointOfNoReturn: true };
    // SQL Server: a source the worker's tail-log backup closed is reopened only once DMS is known not
    // to have promoted (cutover/sqlserver-tail.ts); the operator's tail log is the operator's to undo.
    if (task.database.engine === 'sqlserver') {
      if (task.database.backups?.tailLog !== 'worker') return { pastPointOfNoReturn: false };
      const deps = await this.cutoverDeps(task, false);
      const s = await this.openSqlServer(task);
      try {
        const settled = await settleTailLogClose(task, deps, s, (step) => warn(`rollbackCutover: ${step}`));
        return { pastPointOfNoReturn: settled === 'promoted' };
      } finally {
        await s.close();
      }
    }
    if (!fencesOverSql(task)) return { pastPointOfNoReturn: false };
    const source = await sourceParams(task);
    if (task.database.engine === 'mysql') {
      await withMysql(source, (c) => endStaleMysqlFences(c, fenceJob(task)));
      return { pastPointOfNoReturn: false };
    }
    // A PostgreSQL source closed for a promote whose answer nobody saw is reopened only once DMS is
    // known not to have promoted (cutover.ts); until then this waits, the source closed.
    const deps = await this.cutoverDeps(task, false);
    const settled = await withClient(source, async (h) => {
      await endStaleFences(h);
      return settleSourceClose(task, deps, h, (step) => warn(`rollbackCutover: ${step}`));
    });
    return { pastPointOfNoReturn: settled === 'promoted' };
  }

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
    await stopJob(this.clients, task, this.poll);
  }

  /** Never forced: a forced delete also deletes the destination (migrationJobs.delete `force`). */
  async deleteMigrationJob(task: DatabaseTask): Promise<void> {
    this.check(task);
    await deleteJobAndProfiles(this.clients, task, this.poll);
    await dropSourceFence(task).catch(() => undefined); // best effort: the source may be gone or closed to us
  }

  /** Throws TargetTookOver for a target marked as taken over (took-over.ts): never deleted. */
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

  summarize(task: DatabaseTask): PlannedSummary {
    return summarizeGcp(task);
  }
}
