// The embedded platform: targets are local PostgreSQL clusters (one per plan target instance),
// data moves with native logical replication. A plan that runs here runs unchanged on gcp.
import pg from 'pg';
import { capacityMode, workerCount } from '../../../common/capacity';
import { resourceNames } from '../../../common/naming';
import { sourcePassword } from '../../secrets';
import { activityCancellation, runToCompletion, throwIfCancelled } from '../../cancellation';
import { MigrationError } from '../../../common/failures';
import { copySettings, validationSettings } from '../../../common/plan-settings';
import {
  type AssessmentResult,
  type CapacityReservation,
  type CutoverResult,
  type CutoverUndo,
  type DatabaseTask,
  type Finding,
  type ReplicationStatus,
  type RollbackResult,
  type RollbackProgress,
  type ReverseWatch,
  type TargetInfo,
  type ValidationResult,
} from '../../steps';
import type { CopyProgress } from '../../../common/copy-progress';
import { type MigrationPlatform, type ValidationCheckpointing } from '../platform';
import { assess, listTables } from '../../engines/postgres/assess';
import { existingServerFindings, passwordRecordingFindings } from './existing-server-checks';
import { migrationUserFindings } from '../../engines/postgres/migration-user';
import { CapacityPool } from './capacity';
import { LocalClusters } from './clusters';
import { withClient, type ConnectionParams } from '../../engines/postgres/sessions';
import { runCutover } from '../../engines/postgres/cutover';
import { releaseKeeper, removeCopyTables } from '../../engines/postgres/copy-state';
import { snapshotCopy, type SnapshotCopyJob } from '../../engines/postgres/snapshot-copy';
import { helpSnapshotCopy } from '../../engines/postgres/copy-helper';
import { Throttle } from '../../engines/postgres/throttle';
import type { CutoverEnv } from '../../engines/postgres/cutover-env';
import { rollbackCutover } from '../../engines/postgres/cutover-undo';
import { finalValidation, notAtFence } from '../../engines/postgres/final-validation';
import { finalizeReverse } from '../../engines/postgres/finalize';
import { pastPointOfNoReturn, reverseLive, type JobRecordStore } from '../../engines/postgres/job-record';
import { withRecordFault } from './record-fault';
import { targetServer, type TargetServer } from './target-server';
import { warn } from '../../log';
import { ensureOwnedObjects, hasOwnedTables, OWNED_TABLES, removeOwnedObjects } from '../../engines/postgres/owned';
import {
  dropSourceObjects,
  dropSubscription,
  ensurePublication,
  ensureReplicaIdentity,
  ensureSlot,
  ensureSubscription,
  refuseConflictingJob,
  replicationStatus,
  setSubscriptionEnabled,
} from '../../engines/postgres/replication';
import { dropPreparedReverse, ensureReversePublication, rollbackRefusal } from '../../engines/postgres/reverse';
import { runRollback } from '../../engines/postgres/rollback';
import { rollbackProgress } from '../../engines/postgres/rollback-progress';
import { advanceSourceWatch, watchReverse } from '../../engines/postgres/reverse-watch';
import { applySchema, dumpSchema, settingNames, toSql } from '../../engines/postgres/schema';
import { subscriptionOptions } from '../../engines/postgres/subscription-options';
import { serverVersion, type ServerVersion } from '../../engines/postgres/server-version';
import { refuseVersion, targetVersion, versionFindings, type TargetVersion } from './versions';
import { compareTables } from '../../engines/postgres/validate';
import { forward, publishedAppTables } from '../../engines/postgres/cutover-checks';
import { publishedTables, validateLive } from '../../engines/postgres/migrated-set';
import { compareLive } from '../../engines/postgres/validate-live';
import { awaitCopies, carrySchemaChanges, HealedErrors, type Carried } from '../../engines/postgres/ddl-carry';
import { describeLocal, summarizeLocal } from './describe';
import {
  markSql,
  ownedBy,
  provisionRefusal,
  readMark,
  writeMark,
  type TargetOwner,
} from '../../engines/postgres/target-mark';

export class LocalPlatform implements MigrationPlatform {
  readonly name = 'local' as const;
  readonly clusters: LocalClusters;
  readonly capacity: CapacityPool;
  /** Apply errors explained by a column carried during CDC (ddl-carry.ts), per job. */
  private readonly healed = new HealedErrors();

  constructor(readonly stateDir: string) {
    this.clusters = new LocalClusters(stateDir);
    this.capacity = new CapacityPool(stateDir);
  }

  private async source(task: DatabaseTask): Promise<ConnectionParams> {
    const s = task.database.source;
    return {
      host: s.host,
      port: s.port,
      user: s.user,
      database: s.database,
      password: await sourcePassword(s),
    };
  }

  /**
   * The target cluster, started if it is not running. `version`: the major it must run (default the
   * plan's target.version, when it names one); provisionTarget passes the one it resolved.
   */
  private async target(
    task: DatabaseTask,
    database = task.settings.targetDatabase,
    version = task.database.target.version ? parseInt(task.database.target.version, 10) : undefined,
    strict = true,
  ): Promise<ConnectionParams> {
    return { ...(await this.server(task).admin(version, strict)), database };
  }

  /** The server the target database lives on: an embedded cluster, or an existing server (target-server.ts). */
  private server(task: DatabaseTask): TargetServer {
    return targetServer(task, this.clusters, this.stateDir);
  }

  /** The target's major as provisionTarget will choose it, from the source's version and an existing server. */
  private async resolveTargetVersion(task: DatabaseTask, source: ServerVersion): Promise<TargetVersion> {
    const server = this.server(task);
    return targetVersion(task, source.major, await server.version(), server.existingServer);
  }

  private async both<T>(
    task: DatabaseTask,
    fn: (src: pg.Client, target: pg.Client, srcParams: ConnectionParams) => Promise<T>,
    targetParams?: ConnectionParams,
  ): Promise<T> {
    const srcParams = await this.source(task);
    const t = targetParams ?? (await this.target(task));
    return withClient(srcParams, (src) => withClient(t, (target) => fn(src, target, srcParams)));
  }

  /**
   * For reads that poll every few hundred ms: the cluster's recorded facts, without ensure()'s lock
   * file and probe connection (which made each status read 30-100 ms during a copy); ensure() runs
   * only when the cluster is not there or does not answer, e.g. after the worker restarted.
   */
  private async polled<T>(
    task: DatabaseTask,
    fn: (src: pg.Client, target: pg.Client, srcParams: ConnectionParams) => Promise<T>,
  ): Promise<T> {
    const known = await this.server(task).known();
    if (!known) return this.both(task, fn);
    const params = { ...known, database: task.settings.targetDatabase };
    try {
      return await this.both(task, fn, params);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ECONNREFUSED') throw err;
      return this.both(task, fn);
    }
  }

  /** The target cluster's admin connection, unless the cluster was never created: an undo must not create one. */
  private async existingTarget(task: DatabaseTask): Promise<ConnectionParams | undefined> {
    return this.server(task).ifExists();
  }

  private owner(task: DatabaseTask): TargetOwner {
    return { migrationId: task.migrationId, database: task.database.name };
  }

  private names(task: DatabaseTask) {
    return resourceNames(task.migrationId, task.database.name);
  }

  async assessSource(task: DatabaseTask): Promise<AssessmentResult> {
    return withClient(await this.source(task), async (c) => {
      const result = await assess(c, task.settings.noPrimaryKey);
      // The reverse subscription is made on the source: its text holds the target's password.
      result.findings.push(...(await passwordRecordingFindings(c, 'the source', 'SOURCE_RECORDS_PASSWORD', 'target')));
      const source = await serverVersion(c);
      const server = await this.existingServerFindings(task);
      if (server.unreachable) {
        const findings = [...result.findings, server.unreachable];
        return { ...result, findings, blocked: true };
      }
      const target = await this.resolveTargetVersion(task, source);
      const findings = [
        ...result.findings,
        ...(await migrationUserFindings(c)),
        ...server.findings,
        ...(await versionFindings(task, source, target)),
      ];
      return {
        ...result,
        targetVersion: String(target.major),
        findings,
        blocked: findings.some((f) => f.severity === 'error'),
      };
    });
  }

  /** An existing server's prerequisites; one it cannot reach (or may not send a password to) is one finding. */
  private async existingServerFindings(task: DatabaseTask): Promise<{ findings: Finding[]; unreachable?: Finding }> {
    const server = this.server(task);
    if (!server.existingServer) return { findings: [] };
    const t = task.database.target;
    const where = `the target server ${t.host}:${t.port ?? 5432}`;
    try {
      const admin = await server.admin();
      const db = task.settings.targetDatabase;
      return { findings: await withClient(admin, (c) => existingServerFindings(c, where, db, this.owner(task))) };
    } catch (err) {
      // A cancelled step is cancelled, not a finding about the server.
      throwIfCancelled(activityCancellation());
      const message = `${where} cannot be used: ${(err as Error).message}`;
      return { findings: [], unreachable: { code: 'TARGET_UNREACHABLE', severity: 'error', message } };
    }
  }

  async provisionTarget(task: DatabaseTask): Promise<TargetInfo> {
    const source = await withClient(await this.source(task), serverVersion);
    const version = await this.resolveTargetVersion(task, source);
    refuseVersion(task, source, version);
    // A version the plan does not name is a default: another database on the instance may have made
    // the cluster first, at its own source's version, which must then be no older than this source.
    const named = !!task.database.target.version;
    const params = await this.target(task, 'postgres', version.major, named);
    if (!named) {
      const server = this.server(task);
      refuseVersion(task, source, targetVersion(task, source.major, await server.version(), server.existingServer));
    }
    const db = task.settings.targetDatabase;
    const owner = this.owner(task);
    const where = `target database ${db} on instance ${task.database.target.instance}`;
    const state = await withClient(params, async (admin) => {
      const found = await readMark(admin, db);
      const refusal = provisionRefusal(found, owner, where);
      if (refusal) throw new MigrationError('AlreadyExistsMismatch', refusal);
      if (found.mark) return found.mark.state;
      await admin.query(`create database ${pg.escapeIdentifier(db)} template template0`);
      await writeMark(admin, db, owner, 'created');
      return 'created';
    });
    if (state !== 'schema') {
      const known = await withClient(params, settingNames);
      // A snapshot copy builds the indexes and constraints after the rows (snapshot-copy.ts).
      const section = copySettings(task.settings).method === 'snapshot' ? 'pre-data' : undefined;
      const sql = toSql(await dumpSchema(await this.source(task), { section }), known);
      // The mark moves to 'schema' in the schema's own transaction: a retry never applies it twice.
      await withClient({ ...params, database: db }, (c) => applySchema(c, `${sql};\n${markSql(db, owner, 'schema')};`));
    }
    return { endpoint: `postgresql://${params.host}:${params.port}/${db}`, ownedByMigration: true };
  }

  async reserveCapacity(task: DatabaseTask): Promise<CapacityReservation> {
    const workers = workerCount(task.database.sizeGb);
    // An existing server's copy workers are its own (max_sync_workers_per_subscription as its
    // operators set it); this machine's pool and settings are not its business.
    if (this.server(task).existingServer)
      return { name: this.names(task).capacityReservation, mode: capacityMode(task.database.priority), workers };
    const reservation = await this.capacity.reserve(
      this.names(task).capacityReservation,
      workers,
      capacityMode(task.database.priority),
    );
    // Table-sync parallelism on the target follows the reserved worker count.
    await withClient(await this.target(task, 'postgres'), async (c) => {
      const current = Number(
        (await c.query<{ max_sync_workers_per_subscription: string }>('show max_sync_workers_per_subscription')).rows[0]
          .max_sync_workers_per_subscription,
      );
      if (current < workers) {
        await c.query(`alter system set max_sync_workers_per_subscription = ${workers}`);
        await c.query('select pg_reload_conf()');
      }
    });
    return reservation;
  }

  async releaseCapacity(task: DatabaseTask): Promise<void> {
    if (this.server(task).existingServer) return;
    await this.capacity.release(this.names(task).capacityReservation);
  }

  async createMigrationJob(task: DatabaseTask): Promise<void> {
    const names = this.names(task);
    await this.both(task, async (src, target, srcParams) => {
      const tables = await listTables(src);
      await refuseConflictingJob(src, target, names, srcParams.database, tables);
      if (task.settings.noPrimaryKey === 'replica-identity-full') await ensureReplicaIdentity(src, tables);
      // dbmig's heartbeat and fence travel in the publication; the target needs the tables before
      // the subscription exists (CREATE SUBSCRIPTION resolves every published table locally).
      await ensureOwnedObjects(src, names.job);
      await ensurePublication(src, names.publication, tables);
      const snapshot = copySettings(task.settings).method === 'snapshot';
      // A snapshot copy's slot is made by its keeper, with the snapshot the rows are read in (below).
      if (!snapshot) await ensureSlot(src, names.slot, srcParams.database);
      await ensureOwnedObjects(target);
      const options = await subscriptionOptions(src, target, tables);
      await ensureSubscription(target, names, srcParams, { ...options, copyData: !snapshot });
      // The way back, ready long before the cutover needs it (reverse.ts). A snapshot copy makes it
      // once the keys are built: before them every target table looks key-less, and would be given
      // REPLICA IDENTITY FULL for good (the apply then refuses updates of tables with generated columns).
      if (!snapshot) await ensureReversePublication(src, target, names);
    });
  }

  /** What the snapshot copy of `task` works on (snapshot-copy.ts). */
  private async copyJob(task: DatabaseTask): Promise<SnapshotCopyJob> {
    const names = this.names(task);
    const source = await this.source(task);
    // The job's tables are those its publication lists. A table a deploy made since is in neither
    // the copy's snapshot nor the target's schema: the migrated set names it (migrated-set.ts).
    const tables = await withClient(source, async (c) => {
      const published = await publishedTables(c, names.publication);
      return (await listTables(c)).filter((t) => published.has(t.name));
    });
    const owned = OWNED_TABLES.map((name) => ({ name, hasKey: true, partitioned: false }));
    const { streams, rangeMb, workerStreams } = copySettings(task.settings);
    return {
      migrationId: task.migrationId,
      ...(workerStreams !== undefined ? { workerStreams } : {}),
      job: names.job,
      slot: names.slot,
      subscription: names.subscription,
      source,
      target: await this.target(task),
      tables: [...tables, ...owned],
      streams,
      rangeBlocks: Math.max(1, Math.round((rangeMb * 1024 * 1024) / 8192)),
      ...(task.settings.throttle ? { throttle: task.settings.throttle } : {}),
    };
  }

  /** The snapshot copy, where the plan asks for it; the native copy needs nothing here (the subscription copies). */
  async copyInitialData(task: DatabaseTask, progress: (p: CopyProgress) => void): Promise<void> {
    if (copySettings(task.settings).method !== 'snapshot') return;
    await snapshotCopy(await this.copyJob(task), progress);
    await this.both(task, (src, target) => ensureReversePublication(src, target, this.names(task)));
  }

  /** A helper's share of the snapshot copy of `task` (copy-helper.ts); nothing to share in a native copy. */
  async helpCopyInitialData(task: DatabaseTask, beat: (ranges: number) => void, signal?: AbortSignal) {
    if (copySettings(task.settings).method !== 'snapshot') return 0;
    return helpSnapshotCopy(await this.copyJob(task), beat, signal);
  }

  async verifyMigrationJob(task: DatabaseTask): Promise<string[]> {
    const names = this.names(task);
    return this.both(task, async (src, target) => {
      const problems: string[] = [];
      if (!(await src.query('select 1 from pg_publication where pubname = $1', [names.publication])).rowCount)
        problems.push(`publication ${names.publication} is missing on the source`);
      // A snapshot copy's slot is made with its snapshot when the copy starts (snapshot-copy.ts).
      const slotLater = copySettings(task.settings).method === 'snapshot';
      if (
        !slotLater &&
        !(await src.query('select 1 from pg_replication_slots where slot_name = $1', [names.slot])).rowCount
      )
        problems.push(`slot ${names.slot} is missing on the source`);
      if (!(await target.query('select 1 from pg_subscription where subname = $1', [names.subscription])).rowCount)
        problems.push(`subscription ${names.subscription} is missing on the target`);
      if (!(await hasOwnedTables(target)))
        problems.push(`dbmig's heartbeat and fence tables are missing on the target`);
      // What the job publishes: a table created since (a deploy) is the live validation's and the
      // gate's to name (migrated-set.ts), not a reason to fail the run and drop the target.
      for (const t of await publishedAppTables(src, names.publication)) {
        const found = await target.query('select to_regclass($1) as r', [t]);
        if (!found.rows[0].r) problems.push(`table ${t} is missing on the target`);
      }
      return problems;
    });
  }

  async startMigrationJob(task: DatabaseTask): Promise<void> {
    // A snapshot copy enables the subscription itself, once the rows and the indexes are in.
    if (copySettings(task.settings).method === 'snapshot') return;
    await withClient(await this.target(task), (c) => setSubscriptionEnabled(c, this.names(task).subscription, true));
  }

  async getReplicationStatus(task: DatabaseTask): Promise<ReplicationStatus> {
    const status = await this.polled(task, async (src, target, source) => {
      // A deploy's additive DDL reaches the target here, before the rows that need it (ddl-carry.ts).
      const { job } = this.names(task);
      const done = await this.carrySchema(task, src, target, source);
      this.healed.carried(job, done);
      const s = await replicationStatus(src, target, this.names(task), this.healed.tables.get(job));
      const columns = done.carried.some((c) => / add column /.test(c));
      const errorCount = this.healed.count(job, s.errorCount, columns);
      return { ...s, errorCount, errors: done.refused.map((f) => f.message) };
    });
    if (status.errorCount > 0) status.errors = [...status.errors, ...(await this.replicationErrors(task))];
    return status;
  }

  /**
   * Schema changes of the source carried to the target, unless a cutover is closing the source or
   * has taken over (an attempt that was undone leaves its phase behind: carrying goes on after it).
   */
  private async carrySchema(
    task: DatabaseTask,
    src: pg.Client,
    target: pg.Client,
    source: ConnectionParams,
  ): Promise<Carried> {
    const rec = await this.jobRecords(task).read();
    if (pastPointOfNoReturn(rec) || rec.phase === 'closing') return { carried: [], refused: [] };
    const noPrimaryKey = task.settings.noPrimaryKey;
    return carrySchemaChanges({ src, target, source, names: this.names(task), noPrimaryKey });
  }

  /** The target's own words for why apply fails (its log, where the worker has it): the catalog only counts errors. */
  private async replicationErrors(task: DatabaseTask): Promise<string[]> {
    return this.server(task).applyErrors();
  }

  async validateData(
    task: DatabaseTask,
    mode: 'live' | 'final',
    checkpoint?: ValidationCheckpointing,
  ): Promise<ValidationResult> {
    // Live: what the source has now, against what is published and copied (migrated-set.ts), each
    // table compared in chunks at a consistent point, resumable (validate-live.ts). Schema changes
    // made since are carried first, and a table just carried is compared once copied (ddl-carry.ts);
    // one still copying after a minute is a finding.
    if (mode === 'live') {
      const env = { source: await this.source(task), target: await this.target(task), job: this.names(task).job };
      return this.both(task, async (src, target, source) => {
        this.healed.carried(this.names(task).job, await this.carrySchema(task, src, target, source));
        await awaitCopies(target, this.names(task).subscription, 60_000);
        const throttle = Throttle.for(env.source, task.settings.throttle);
        return validateLive(forward({ names: this.names(task) }, src, target), (tables) =>
          compareLive(env, tables, {
            ...validationSettings(task.settings),
            from: checkpoint?.from,
            save: (c) => checkpoint?.save(c),
            throttle,
          }),
        ).finally(() => throttle?.close());
      });
    }
    const now = () =>
      this.both(task, async (src, target) =>
        compareTables(
          src,
          target,
          (await listTables(src)).map((t) => t.name),
          mode,
        ),
      );
    // After the cutover: as of its fence, from the snapshots its switch took (final-validation.ts).
    const env = {
      source: await this.source(task),
      target: await this.target(task),
      records: this.jobRecords(task),
      job: this.names(task).job,
    };
    return finalValidation(env, async (why) => notAtFence(await now(), why));
  }

  private jobRecords(task: DatabaseTask): JobRecordStore {
    // Unchanged unless a test freezes the worker before a record write (record-fault.ts).
    return withRecordFault(this.server(task).records());
  }

  private async cutoverEnv(task: DatabaseTask): Promise<CutoverEnv> {
    return {
      task,
      names: this.names(task),
      source: await this.source(task),
      target: await this.target(task),
      records: this.jobRecords(task),
      applyErrors: () => this.replicationErrors(task),
      log: warn,
    };
  }

  async cutover(task: DatabaseTask, onProgress: (step: string) => void): Promise<CutoverResult> {
    // A cancel lets the attempt finish: cut short after closing the source, it would leave an outage.
    return runToCompletion(async () => runCutover(await this.cutoverEnv(task), onProgress));
  }

  async rollbackCutover(task: DatabaseTask): Promise<CutoverUndo> {
    const records = this.jobRecords(task);
    const rec = await records.read();
    // No cutover began (no attempt ever took the lease): nothing to connect to.
    if (!rec.phase && !rec.result && !rec.lease) return { pastPointOfNoReturn: false };
    return rollbackCutover(await this.cutoverEnv(task));
  }

  async rollbackAfterCutover(
    task: DatabaseTask,
    onProgress: (step: string) => void = () => {},
  ): Promise<RollbackResult> {
    const what = `${task.database.name} (migration ${task.migrationId})`;
    // Refused from the record alone, before anything is reached (or a target cluster started).
    const refusal = rollbackRefusal(await this.jobRecords(task).read(), what);
    if (refusal) throw refusal;
    return runToCompletion(async () => runRollback(await this.cutoverEnv(task), onProgress));
  }

  async finalizeCutover(task: DatabaseTask): Promise<void> {
    const rec = await this.jobRecords(task).read();
    if (!rec.result || !rec.reverse || rec.reverse.rollback?.result) return; // nothing to finalize, or rolled back
    await runToCompletion(async () => finalizeReverse(await this.cutoverEnv(task)));
  }

  async rollbackProgress(task: DatabaseTask): Promise<RollbackProgress> {
    return rollbackProgress(await this.cutoverEnv(task));
  }

  async watchReverse(task: DatabaseTask): Promise<ReverseWatch> {
    return watchReverse(await this.cutoverEnv(task));
  }

  async advanceReverseWatch(task: DatabaseTask, upTo: string): Promise<void> {
    await advanceSourceWatch(await this.cutoverEnv(task), upTo);
  }

  async stopMigrationJob(task: DatabaseTask): Promise<void> {
    const params = await this.existingTarget(task);
    if (!params) return;
    await withClient(params, async (admin) => {
      const exists = await admin.query('select 1 from pg_database where datname = $1', [task.settings.targetDatabase]);
      if (exists.rowCount)
        await withClient({ ...params, database: task.settings.targetDatabase }, async (c) => {
          await setSubscriptionEnabled(c, this.names(task).subscription, false);
          await releaseKeeper(c, this.names(task).job); // a snapshot held for a stopped copy holds back vacuum
        });
    });
  }

  async deleteMigrationJob(task: DatabaseTask): Promise<void> {
    const names = this.names(task);
    // While reverse replication runs, dbmig's tables carry its heartbeat and fence on both sides:
    // finalize or rollback removes them.
    const rec = await this.jobRecords(task).read();
    const keepOwned = reverseLive(rec);
    // Reverse replication prepared by a cutover that never passed its point of no return goes too.
    const dropPrepared = !rec.reverse && !pastPointOfNoReturn(rec);
    const targetParams = await this.existingTarget(task);
    if (targetParams)
      await withClient(targetParams, async (admin) => {
        const exists = await admin.query('select 1 from pg_database where datname = $1', [
          task.settings.targetDatabase,
        ]);
        if (exists.rowCount)
          await withClient({ ...targetParams, database: task.settings.targetDatabase }, async (c) => {
            await dropSubscription(c, names.subscription);
            await releaseKeeper(c, names.job);
            await removeCopyTables(c, names.job);
            if (dropPrepared) await dropPreparedReverse(c, names);
            if (!keepOwned) await removeOwnedObjects(c, names.job);
          });
      });
    await withClient(await this.source(task), async (src) => {
      await dropSourceObjects(src, names);
      if (!keepOwned) await removeOwnedObjects(src, names.job);
    });
  }

  async deleteTarget(task: DatabaseTask): Promise<void> {
    const db = task.settings.targetDatabase;
    const where = `${db} on ${task.database.target.instance}`;
    const rec = await this.jobRecords(task).read();
    if (pastPointOfNoReturn(rec) || rec.phase === 'closing') {
      // Once the target has taken over (or may have), nothing automatic deletes it.
      warn(`deleteTarget: ${where} is kept: its cutover passed the point of no return`);
      return;
    }
    const params = await this.existingTarget(task);
    if (!params) return;
    await withClient(params, async (admin) => {
      const { mark } = await readMark(admin, db);
      if (!ownedBy(mark, this.owner(task))) return; // not ours (or gone): never dropped
      if (mark!.state === 'cutover') {
        warn(`deleteTarget: ${where} is kept: it is marked as cut over, whatever the job record says`);
        return;
      }
      await admin.query(`drop database ${pg.escapeIdentifier(db)} with (force)`);
    });
  }

  async close(): Promise<void> {}

  /** The dry run (`dbmig plan`): calls nothing. */
  describe(task: DatabaseTask) {
    return describeLocal(task);
  }

  summarize(task: DatabaseTask) {
    return summarizeLocal(task);
  }
}
