// The simulated platform (platform: sim): a faithful stand-in for a real one, in memory. Every call
// is get-or-create by deterministic names, the job moves NOT_CREATED → CREATED → FULL_DUMP → CDC →
// STOPPED and refuses what a real service refuses, the cutover keeps safety rule 1 (a target that
// took over is never deleted), and the plan's sim section sets how long each call takes, how the
// copy and lag behave and which calls fail. Nothing real is touched: it is for scale tests, the
// fan-out benchmark (bench/fleet-scale.ts) and rehearsing the orchestration of a large fleet.
import { ApplicationFailure } from '@temporalio/common';
import { capacityMode, workerCount } from '../../../common/capacity';
import { FAILURES, type FailureType } from '../../../common/failures';
import { cutoverLimits } from '../../../common/plan-settings';
import { resourceNames } from '../../../common/naming';
import type { SimSettings, SimStep } from '../../../common/sim-plan';
import { MigrationError } from '../../../common/failures';
import {
  notCreatedStatus,
  type AssessmentResult,
  type CapacityReservation,
  type CutoverResult,
  type CutoverUndo,
  type DatabaseTask,
  type PlannedOperation,
  type PlannedSummary,
  type ReplicationStatus,
  type RollbackResult,
  type TargetInfo,
  type ValidationResult,
} from '../../steps';
import { type MigrationPlatform } from '../platform';
import { describeSim } from './describe';
import { pause } from './pause';
import { estimatedRows, replicationStatus, simTables, validation } from './replication';
import { pollMs, simSettings, stepMs } from './settings';
import { SimWorld, type Counts, type DatabaseRecord, type JobRecord, type TargetRecord } from './world';

/**
 * What a real service refuses as a failed precondition (HTTP 400 FAILED_PRECONDITION, which the gcp
 * platform reports as InvalidArgument): not retried, since asking again changes nothing.
 */
function refused(message: string): MigrationError {
  return new MigrationError('InvalidArgument', message);
}

export class SimPlatform implements MigrationPlatform {
  readonly name = 'sim' as const;
  readonly world = new SimWorld();

  /**
   * `settingsFor`: a database's own settings in place of the plan's sim section, for `dbmig forecast`,
   * which calibrates each database from what a rehearsal measured (common/forecast-calibration.ts).
   */
  constructor(private readonly settingsFor?: (task: DatabaseTask) => SimSettings | undefined) {}

  private sim(task: DatabaseTask): SimSettings {
    return this.settingsFor?.(task) ?? simSettings(task);
  }

  pollIntervalMs(task: DatabaseTask): number {
    return pollMs(this.sim(task));
  }

  // What tests read.

  /** How many times each resource of this database was created (a retry that found it adds nothing). */
  created(migrationId: string, database: string): Counts {
    return { ...this.world.record(migrationId, database).created };
  }

  /** How many times a call found the resource already there. */
  found(migrationId: string, database: string): Counts {
    return { ...this.world.record(migrationId, database).found };
  }

  deleted(migrationId: string, database: string): Counts {
    return { ...this.world.record(migrationId, database).deleted };
  }

  /** How many times `step` was called for this database, failed calls included. */
  calls(migrationId: string, database: string, step: SimStep): number {
    return this.world.record(migrationId, database).calls[step] ?? 0;
  }

  /** The database's replication phase and whether its target exists and took over. */
  inspect(task: DatabaseTask): { phase: ReplicationStatus['phase']; target?: TargetRecord; cutover?: string } {
    const rec = this.rec(task);
    return {
      phase: this.status(task, rec).phase,
      target: this.world.targets.get(this.targetKey(task)),
      cutover: rec.cutover?.state,
    };
  }

  /** A target database that exists before any migration: it is never ours, so never reused or deleted. */
  addForeignTarget(instance: string, database: string): void {
    this.world.targets.set(`${instance}/${database}`, {
      owner: null,
      endpoint: `sim://${instance}/${database}`,
      cutOver: false,
    });
  }

  // The platform.

  async assessSource(task: DatabaseTask): Promise<AssessmentResult> {
    return this.step(task, 'assessSource', () => ({
      serverVersion: task.database.engine === 'mysql' ? '8.0.36' : '16.4',
      tables: simTables(),
      estimatedRows: estimatedRows(task),
      findings: [],
      blocked: false,
    }));
  }

  async provisionTarget(task: DatabaseTask): Promise<TargetInfo> {
    return this.step(task, 'provisionTarget', (rec) => {
      const key = this.targetKey(task);
      const found = this.world.targets.get(key);
      if (found) {
        if (!this.ours(task, found))
          throw new MigrationError(
            'AlreadyExistsMismatch',
            `target database ${key} exists and was not created by migration ${task.migrationId} for ` +
              `${task.database.name}: it is never reused`,
          );
        rec.found.target++;
        return { endpoint: found.endpoint, ownedByMigration: true };
      }
      const target: TargetRecord = {
        owner: { migrationId: task.migrationId, database: task.database.name },
        endpoint: `sim://${key}`,
        cutOver: false,
      };
      this.world.targets.set(key, target);
      rec.created.target++;
      return { endpoint: target.endpoint, ownedByMigration: true };
    });
  }

  async reserveCapacity(task: DatabaseTask): Promise<CapacityReservation> {
    return this.step(task, 'reserveCapacity', (rec) => {
      if (rec.capacity) {
        rec.found.capacity++;
        return rec.capacity;
      }
      rec.capacity = {
        name: this.names(task).capacityReservation,
        mode: capacityMode(task.database.priority),
        workers: workerCount(task.database.sizeGb),
      };
      rec.created.capacity++;
      return rec.capacity;
    });
  }

  async releaseCapacity(task: DatabaseTask): Promise<void> {
    return this.step(task, 'releaseCapacity', (rec) => {
      if (!rec.capacity) return;
      rec.capacity = undefined;
      rec.deleted.capacity++;
    });
  }

  async createMigrationJob(task: DatabaseTask): Promise<void> {
    return this.step(task, 'createMigrationJob', (rec) => {
      const target = this.world.targets.get(this.targetKey(task));
      if (!target || !this.ours(task, target))
        throw new MigrationError('NotFound', `target ${this.targetKey(task)} of this migration does not exist`);
      if (rec.job) {
        rec.found.job++;
        return;
      }
      rec.job = { state: 'CREATED' };
      rec.created.job++;
    });
  }

  async verifyMigrationJob(task: DatabaseTask): Promise<string[]> {
    return this.step(task, 'verifyMigrationJob', (rec) => {
      const problems: string[] = [];
      if (!rec.job) problems.push(`migration job ${this.names(task).job} does not exist`);
      else if (rec.job.state === 'STOPPED') problems.push(`migration job ${this.names(task).job} is stopped`);
      if (!this.world.targets.has(this.targetKey(task))) problems.push(`target ${this.targetKey(task)} is missing`);
      return problems;
    });
  }

  async startMigrationJob(task: DatabaseTask): Promise<void> {
    return this.step(task, 'startMigrationJob', (rec) => {
      const job = this.job(task, rec);
      if (job.state === 'STOPPED') throw refused(`migration job ${this.names(task).job} is stopped: it cannot start`);
      if (job.state === 'RUNNING') return; // a retry of a start that happened
      job.state = 'RUNNING';
      job.startedAt = Date.now();
    });
  }

  async getReplicationStatus(task: DatabaseTask): Promise<ReplicationStatus> {
    return this.step(task, 'getReplicationStatus', (rec) => this.status(task, rec));
  }

  async validateData(task: DatabaseTask, mode: 'live' | 'final'): Promise<ValidationResult> {
    return this.step(task, 'validateData', (rec) => {
      const status = this.status(task, rec);
      const ready = mode === 'live' ? status.phase === 'CDC' : rec.cutover?.state === 'done';
      return validation(task, mode, status.rowsOnTarget, ready);
    });
  }

  async cutover(task: DatabaseTask, onProgress: (step: string) => void): Promise<CutoverResult> {
    const sim = this.sim(task);
    const rec = this.rec(task);
    rec.calls.cutover = (rec.calls.cutover ?? 0) + 1;
    if (rec.cutover?.state === 'done') return rec.cutover.result!; // a retry after the target took over
    // The gate: nothing is blocked unless replication is in CDC with lag under the cutover's bound.
    if (!rec.job || rec.job.state !== 'RUNNING') {
      const state = rec.job?.state ?? 'NOT_CREATED';
      throw refused(`migration job ${this.names(task).job} is ${state}: there is nothing to cut over`);
    }
    const status = this.status(task, rec);
    const { maxLagSeconds } = cutoverLimits(task.settings);
    if (status.phase !== 'CDC' || (status.lagSeconds ?? Infinity) > maxLagSeconds)
      throw new MigrationError(
        'CutoverNotReady',
        `replication is ${status.phase} with lag ${status.lagSeconds ?? '-'}s (the cutover needs CDC and at most ` +
          `${maxLagSeconds}s); nothing was blocked`,
      );
    onProgress('writes blocked');
    const block = (rec.cutover ??= { state: 'blocked', blockedAt: Date.now() });
    // The step's duration is the block itself; a cancel ends it with the source still blocked, for
    // rollbackCutover to give its writes back, as a real cutover interrupted midway would.
    await pause(stepMs(sim, 'cutover'));
    try {
      this.failIfDue(task, sim, 'cutover', rec.calls.cutover);
    } catch (err) {
      rec.cutover = undefined; // the cutover restores the source itself, like a timed-out drain
      throw err;
    }
    onProgress('target takes writes');
    const result: CutoverResult = {
      endpoint: this.world.targets.get(this.targetKey(task))?.endpoint ?? `sim://${this.targetKey(task)}`,
      finalLsn: `0/${status.rowsOnTarget.toString(16).toUpperCase()}`,
      sequencesCopied: 0,
      writeBlockMs: Date.now() - block.blockedAt,
    };
    rec.cutover = { ...block, state: 'done', result };
    const target = this.world.targets.get(this.targetKey(task));
    if (target) target.cutOver = true;
    // Replication has done its work: the job stops (it is deleted with the rest of the cleanup).
    if (rec.job?.state === 'RUNNING') Object.assign(rec.job, { state: 'STOPPED', stoppedAt: Date.now() });
    return result;
  }

  async rollbackCutover(task: DatabaseTask): Promise<CutoverUndo> {
    return this.step(task, 'rollbackCutover', (rec) => {
      if (rec.cutover?.state === 'done') return { pastPointOfNoReturn: true };
      rec.cutover = undefined; // the source takes writes again (or never stopped)
      return { pastPointOfNoReturn: false };
    });
  }

  async rollbackAfterCutover(task: DatabaseTask): Promise<RollbackResult> {
    return this.step(task, 'rollbackAfterCutover', () => {
      throw new MigrationError(
        'RollbackUnavailable',
        `${task.database.name} (migration ${task.migrationId}): the simulated platform sets up no reverse replication`,
      );
    });
  }

  /** Nothing to finalize: the simulated cutover sets up no reverse replication. */
  async finalizeCutover(task: DatabaseTask): Promise<void> {
    return this.step(task, 'finalizeCutover', () => undefined);
  }

  async stopMigrationJob(task: DatabaseTask): Promise<void> {
    return this.step(task, 'stopMigrationJob', (rec) => {
      if (rec.job?.state !== 'RUNNING') return; // nothing runs
      rec.job.state = 'STOPPED';
      rec.job.stoppedAt = Date.now();
    });
  }

  async deleteMigrationJob(task: DatabaseTask): Promise<void> {
    return this.step(task, 'deleteMigrationJob', (rec) => {
      if (!rec.job) return;
      rec.job = undefined;
      rec.deleted.job++;
    });
  }

  async deleteTarget(task: DatabaseTask): Promise<void> {
    return this.step(task, 'deleteTarget', (rec) => {
      const key = this.targetKey(task);
      const target = this.world.targets.get(key);
      if (!target || !this.ours(task, target)) return; // gone, or not ours: never deleted
      // Safety rule 1: once the target took the writes (or may be taking them), it is the database.
      if (target.cutOver || rec.cutover)
        throw refused(`target ${key} is kept: its cutover ${target.cutOver ? 'happened' : 'is under way'}`);
      this.world.targets.delete(key);
      rec.deleted.target++;
    });
  }

  async close(): Promise<void> {}

  describe(task: DatabaseTask): PlannedOperation[] {
    return describeSim(task, this.sim(task), this.names(task), this.targetKey(task));
  }

  summarize(task: DatabaseTask): PlannedSummary {
    const { priority, sizeGb } = task.database;
    return {
      target: `simulated target ${this.targetKey(task)}`,
      capacity: `simulated reservation x${workerCount(sizeGb)} workers (${capacityMode(priority)})`,
    };
  }

  // Helpers.

  /** One call: it counts, takes its simulated time (ending early on cancel), may fail, then acts. */
  private async step<T>(task: DatabaseTask, step: SimStep, act: (rec: DatabaseRecord) => T): Promise<T> {
    const sim = this.sim(task);
    const rec = this.rec(task);
    const n = (rec.calls[step] = (rec.calls[step] ?? 0) + 1);
    await pause(stepMs(sim, step));
    this.failIfDue(task, sim, step, n);
    return act(rec);
  }

  /** The plan's failures: call `n` of `step` fails while n ≤ times, per database (or for one only). */
  private failIfDue(task: DatabaseTask, sim: SimSettings, step: SimStep, n: number): void {
    const f = sim.failures.find(
      (x) => x.step === step && (x.database === undefined || x.database === task.database.name) && n <= x.times,
    );
    if (!f) return;
    const message = f.message ?? `simulated ${f.type} in ${step} of ${task.database.name} (call ${n} of ${f.times})`;
    if (f.type in FAILURES) throw new MigrationError(f.type as FailureType, message);
    // Not one of dbmig's failure types: retried like any unexpected error.
    throw ApplicationFailure.create({ type: f.type, message });
  }

  private status(task: DatabaseTask, rec: DatabaseRecord): ReplicationStatus {
    const job = rec.job;
    if (!job) return notCreatedStatus();
    if (job.state === 'CREATED') return { ...notCreatedStatus(), phase: 'CREATED' };
    const sim = this.sim(task);
    const at = job.state === 'STOPPED' ? job.stoppedAt! : Date.now();
    const s = replicationStatus(task, sim, job.startedAt!, at);
    return job.state === 'STOPPED' ? { ...s, phase: 'STOPPED', lagSeconds: null, lagBytes: null } : s;
  }

  private job(task: DatabaseTask, rec: DatabaseRecord): JobRecord {
    if (!rec.job) throw new MigrationError('NotFound', `migration job ${this.names(task).job} does not exist`);
    return rec.job;
  }

  private rec(task: DatabaseTask): DatabaseRecord {
    return this.world.record(task.migrationId, task.database.name);
  }

  private names(task: DatabaseTask) {
    return resourceNames(task.migrationId, task.database.name);
  }

  private targetKey(task: DatabaseTask): string {
    return `${task.database.target.instance}/${task.settings.targetDatabase}`;
  }

  private ours(task: DatabaseTask, target: TargetRecord): boolean {
    return target.owner?.migrationId === task.migrationId && target.owner.database === task.database.name;
  }
}
