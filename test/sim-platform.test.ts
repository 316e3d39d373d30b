// The simulated platform: unit tests of its world (get-or-create, the job's state machine and its
// refusals, the lag curve, injected failures, durations, cancellation), then a small fleet on a real
// dev server with the real workflows, as the scale benchmark (bench/fleet-scale.ts) runs it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CancelledFailure, ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import { SimPlatform } from '../activities/platforms/sim';
import { lagAt } from '../activities/platforms/sim/settings';
import { MigrationError } from '../common/failures';
import { type DatabaseTask } from '../activities/steps';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan, type PlanInput } from '../common/plan';
import { simSchema, type SimSettings } from '../common/sim-plan';
import { STATES } from '../common/states';
import { MultiDatabaseMigration } from '../workflows';
import { startSimWorker, type SimWorker } from './helpers/sim-worker';
import { fakePlan } from './helpers/workflow-env';

function simPlan(names: string[], sim: PlanInput['sim'] = {}, extra: Partial<PlanInput> = {}): PlanInput {
  return {
    ...fakePlan(names, { platform: 'sim', sim, defaults: { stableWindow: '0s' } }),
    ...extra,
  };
}

/** The task the fleet would give the platform for `database` of a sim plan. */
function taskFor(migrationId: string, database: string, sim: PlanInput['sim'] = {}): DatabaseTask {
  const plan = validatePlan(simPlan([database], sim));
  const db = plan.databases[0];
  return {
    migrationId,
    platform: 'sim',
    database: db,
    settings: effectiveSettings(plan, db),
    sim: plan.sim,
  };
}

const noProgress = () => undefined;

async function toCdc(p: SimPlatform, task: DatabaseTask): Promise<void> {
  await p.provisionTarget(task);
  await p.reserveCapacity(task);
  await p.createMigrationJob(task);
  await p.startMigrationJob(task);
}

const failedAs = (type: string) => (err: unknown) => {
  assert.ok(err instanceof MigrationError, `expected a MigrationError, got ${err}`);
  assert.equal(err.type, type);
  return true;
};

describe('SimPlatform', () => {
  test('every call made twice leaves one resource, and undos made twice delete it once', async () => {
    const p = new SimPlatform();
    const task = taskFor('twice', 'alpha');
    for (let i = 0; i < 2; i++) {
      await p.assessSource(task);
      await p.provisionTarget(task);
      await p.reserveCapacity(task);
      await p.createMigrationJob(task);
      assert.deepEqual(await p.verifyMigrationJob(task), []);
      await p.startMigrationJob(task);
    }
    assert.deepEqual(p.created('twice', 'alpha'), { target: 1, capacity: 1, job: 1 });
    assert.deepEqual(p.found('twice', 'alpha'), { target: 1, capacity: 1, job: 1 });
    assert.equal((await p.getReplicationStatus(task)).phase, 'CDC');

    const first = await p.cutover(task, noProgress);
    const again = await p.cutover(task, noProgress);
    assert.deepEqual(again, first, 'a retried cutover returns the result of the one that happened');
    assert.equal((await p.getReplicationStatus(task)).phase, 'STOPPED');
    assert.equal((await p.validateData(task, 'final')).ok, true);

    for (let i = 0; i < 2; i++) {
      await p.deleteMigrationJob(task);
      await p.releaseCapacity(task);
      await p.finalizeCutover(task);
    }
    assert.deepEqual(p.deleted('twice', 'alpha'), { target: 0, capacity: 1, job: 1 });
    assert.equal(p.inspect(task).target?.cutOver, true, 'the target stays: it is the database now');
  });

  test('compensation before the cutover deletes what it created, once', async () => {
    const p = new SimPlatform();
    const task = taskFor('undo', 'alpha');
    await toCdc(p, task);
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(await p.rollbackCutover(task), { pastPointOfNoReturn: false });
      await p.stopMigrationJob(task);
      await p.deleteMigrationJob(task);
      await p.releaseCapacity(task);
      await p.deleteTarget(task);
    }
    assert.deepEqual(p.deleted('undo', 'alpha'), { target: 1, capacity: 1, job: 1 });
    assert.equal(p.inspect(task).target, undefined);
    assert.equal(p.inspect(task).phase, 'NOT_CREATED');
  });

  test('the job refuses steps out of order', async () => {
    const p = new SimPlatform();
    const task = taskFor('order', 'alpha', { fullDump: '10s' });
    await assert.rejects(p.createMigrationJob(task), failedAs('NotFound'), 'no job without its target');
    await p.provisionTarget(task);
    await assert.rejects(p.startMigrationJob(task), failedAs('NotFound'), 'no start before create');
    await assert.rejects(p.cutover(task, noProgress), failedAs('InvalidArgument'), 'no cutover without a job');
    await p.createMigrationJob(task);
    assert.equal((await p.getReplicationStatus(task)).phase, 'CREATED');
    await assert.rejects(p.cutover(task, noProgress), failedAs('InvalidArgument'), 'no cutover before start');
    await p.startMigrationJob(task);
    const copying = await p.getReplicationStatus(task);
    assert.equal(copying.phase, 'FULL_DUMP');
    assert.equal(copying.lagSeconds, null);
    await assert.rejects(p.cutover(task, noProgress), failedAs('CutoverNotReady'), 'no cutover during the copy');
    assert.equal((await p.validateData(task, 'live')).ok, false, 'the copy is not done');
    assert.equal(p.inspect(task).cutover, undefined, 'nothing was blocked');
    await p.stopMigrationJob(task);
    assert.equal((await p.getReplicationStatus(task)).phase, 'STOPPED');
    await assert.rejects(p.startMigrationJob(task), failedAs('InvalidArgument'), 'a stopped job does not start');
    assert.match((await p.verifyMigrationJob(task)).join(), /is stopped/);
  });

  test('the cutover needs lag under its bound; then the target is never deleted (safety rule 1)', async () => {
    const p = new SimPlatform();
    const task = taskFor('gate', 'alpha', { lag: [{ after: '0s', seconds: 5 }] });
    await toCdc(p, task);
    await assert.rejects(p.cutover(task, noProgress), failedAs('CutoverNotReady'));
    const quiet = taskFor('gate', 'beta');
    await toCdc(p, quiet);
    const steps: string[] = [];
    const cut = await p.cutover(quiet, (s) => steps.push(s));
    assert.deepEqual(steps, ['writes blocked', 'target takes writes']);
    // No cutover time configured: the block is what the process takes, well under the default 30 s deadline.
    assert.ok(cut.writeBlockMs >= 0 && cut.writeBlockMs < 15_000, `writeBlockMs ${cut.writeBlockMs}`);
    assert.deepEqual(await p.rollbackCutover(quiet), { pastPointOfNoReturn: true });
    await assert.rejects(p.deleteTarget(quiet), failedAs('InvalidArgument'));
    assert.equal(p.inspect(quiet).target?.cutOver, true);
    await assert.rejects(p.rollbackAfterCutover(quiet), failedAs('RollbackUnavailable'));
  });

  test('a target that was there before is neither reused nor deleted', async () => {
    const p = new SimPlatform();
    const task = taskFor('foreign', 'alpha');
    p.addForeignTarget(task.database.target.instance, task.settings.targetDatabase);
    await assert.rejects(p.provisionTarget(task), failedAs('AlreadyExistsMismatch'));
    await p.deleteTarget(task);
    assert.equal(p.inspect(task).target?.owner, null, 'still there');
    assert.deepEqual(p.created('foreign', 'alpha'), { target: 0, capacity: 0, job: 0 });
  });

  test('lag follows the curve: straight lines between points, the ends held', () => {
    const sim: SimSettings = simSchema.parse({
      lag: [
        { after: '0s', seconds: 10 },
        { after: '10s', seconds: 2 },
        { after: '20s', seconds: 0.5 },
      ],
    });
    assert.equal(lagAt(sim, 0), 10);
    assert.equal(lagAt(sim, 5_000), 6);
    assert.equal(lagAt(sim, 10_000), 2);
    assert.equal(lagAt(sim, 15_000), 1.25);
    assert.equal(lagAt(sim, 60_000), 0.5);
    const late = simSchema.parse({ lag: [{ after: '1s', seconds: 3 }] });
    assert.equal(lagAt(late, 0), 3, 'before the first point: its value');
  });

  test('status moves from FULL_DUMP to CDC after fullDump + fullDumpPerGb × size, then follows the lag', async () => {
    const p = new SimPlatform();
    // fakePlan's databases are 10 GB: 40 ms + 10 × 4 ms of copy.
    const task = taskFor('phases', 'alpha', {
      fullDump: '40ms',
      fullDumpPerGb: '4ms',
      lag: [
        { after: '0s', seconds: 8 },
        { after: '200ms', seconds: 0 },
      ],
    });
    const beforeStart = Date.now();
    await toCdc(p, task);
    const started = Date.now();
    const first = await p.getReplicationStatus(task);
    assert.equal(first.phase, 'FULL_DUMP');
    assert.ok(first.rowsOnTarget < 10_000_000);
    // Each read is bracketed by the clock: the phase and lag it reports are checked against the
    // curve at both ends of its bracket, so a loaded machine widens the bracket, never fails it.
    let s = first;
    let readFrom = 0;
    let readTo = 0;
    while (s.phase === 'FULL_DUMP') {
      await new Promise((r) => setTimeout(r, 5));
      readFrom = Date.now();
      s = await p.getReplicationStatus(task);
      readTo = Date.now();
    }
    // Not before the configured 80 ms from the job's start (which lies between beforeStart and started).
    assert.ok(readTo - beforeStart >= 80, `CDC after ${readTo - beforeStart} ms, 80 expected`);
    assert.ok(readTo - started < 80 + 10_000, `copy took ${readTo - started} ms, 80 expected`);
    // Lag falls from 8 s to 0 over 200 ms of CDC: the first CDC read reads the curve inside its bracket.
    const curve = simSchema.parse(task.sim);
    const high = lagAt(curve, Math.max(0, readFrom - started - 80));
    const low = lagAt(curve, readTo - beforeStart - 80);
    assert.equal(typeof s.lagSeconds, 'number');
    assert.ok(
      s.lagSeconds! >= low && s.lagSeconds! <= high,
      `lag at the start of CDC ${s.lagSeconds}, between ${low} and ${high} expected`,
    );
    assert.equal(s.tablesReady, s.tablesTotal);
    await new Promise((r) => setTimeout(r, 250));
    const later = await p.getReplicationStatus(task);
    assert.equal(later.lagSeconds, 0, 'the last point is held');
    assert.ok(later.rowsOnTarget >= s.rowsOnTarget, 'rows keep growing in CDC');
  });

  test('failures: the first `times` calls of a step fail, per database, with the given type', async () => {
    const p = new SimPlatform();
    const sim = {
      failures: [
        { step: 'provisionTarget' as const, times: 2, type: 'CapacityUnavailable' },
        { step: 'reserveCapacity' as const, database: 'beta', type: 'Flaky', message: 'try again' },
      ],
    };
    const alpha = taskFor('fail', 'alpha', sim);
    const beta = taskFor('fail', 'beta', sim);
    await assert.rejects(p.provisionTarget(alpha), failedAs('CapacityUnavailable'));
    await assert.rejects(p.provisionTarget(alpha), failedAs('CapacityUnavailable'));
    await p.provisionTarget(alpha);
    for (let i = 0; i < 2; i++)
      await assert.rejects(p.provisionTarget(beta), failedAs('CapacityUnavailable'), 'every database fails its own');
    await p.provisionTarget(beta);
    await p.reserveCapacity(alpha);
    await assert.rejects(p.reserveCapacity(beta), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, 'an unknown type is an ordinary, retryable failure');
      assert.equal(err.type, 'Flaky');
      assert.equal(err.nonRetryable, false);
      assert.equal(err.message, 'try again');
      return true;
    });
    await p.reserveCapacity(beta);
    assert.equal(p.calls('fail', 'alpha', 'provisionTarget'), 3);
    assert.deepEqual(p.created('fail', 'alpha'), { target: 1, capacity: 1, job: 0 }, 'a failed call creates nothing');
  });

  test('steps take their configured time', async () => {
    const p = new SimPlatform();
    const task = taskFor('slow', 'alpha', { steps: { provisionTarget: '2s' } });
    let t = Date.now();
    await p.provisionTarget(task);
    const slow = Date.now() - t;
    // At least the configured time; past it by what a loaded machine adds, not by another 2 s step.
    assert.ok(slow >= 1_990 && slow < 2_000 + 10_000, `provisionTarget took ${slow} ms, 2000 expected`);
    t = Date.now();
    await p.reserveCapacity(task);
    // Under the 1,990 ms a 2 s step takes at least (above): the bound is the other step's, not the machine's.
    assert.ok(Date.now() - t < 1_990, 'an unlisted step returns at once, not after the 2 s configured for another');
  });

  test('a cancelled activity stops a slow step, and the step changes nothing', async () => {
    const p = new SimPlatform();
    const task = taskFor('cancel', 'alpha', { steps: { provisionTarget: '30s' } });
    const env = new MockActivityEnvironment();
    const t = Date.now();
    const running = env.run(() => p.provisionTarget(task));
    setTimeout(() => env.cancel(), 50);
    await assert.rejects(running, (err: unknown) => err instanceof CancelledFailure);
    assert.ok(Date.now() - t < 15_000, `stopped after ${Date.now() - t} ms, not the step's 30 s`);
    assert.deepEqual(p.created('cancel', 'alpha'), { target: 0, capacity: 0, job: 0 });
  });

  test('a cancelled cutover leaves the source blocked until rollbackCutover gives its writes back', async () => {
    const p = new SimPlatform();
    const task = taskFor('cancel-cut', 'alpha', { steps: { cutover: '30s' } });
    await toCdc(p, task);
    const env = new MockActivityEnvironment();
    const running = env.run(() => p.cutover(task, noProgress));
    setTimeout(() => env.cancel(), 50);
    await assert.rejects(running, (err: unknown) => err instanceof CancelledFailure);
    assert.equal(p.inspect(task).cutover, 'blocked');
    await assert.rejects(p.deleteTarget(task), failedAs('InvalidArgument'), 'not while the cutover is under way');
    assert.deepEqual(await p.rollbackCutover(task), { pastPointOfNoReturn: false });
    assert.equal(p.inspect(task).cutover, undefined);
    assert.equal(p.inspect(task).phase, 'CDC', 'replication still runs');
  });

  test('poll interval and dry run come from the sim section, defaults without one', () => {
    const p = new SimPlatform();
    assert.equal(p.pollIntervalMs(taskFor('poll', 'alpha', { pollInterval: '5ms' })), 5);
    const bare = { ...taskFor('poll', 'alpha') };
    delete bare.sim;
    assert.equal(p.pollIntervalMs(bare), 1000);
    const ops = p.describe(taskFor('poll', 'alpha', { steps: { cutover: '2s' }, fullDump: '1m' }));
    const states = ops.map((o) => o.state);
    assert.deepEqual(
      states,
      [...states].sort((a, b) => STATES.indexOf(a) - STATES.indexOf(b)),
      'in runbook order',
    );
    assert.match(ops.find((o) => o.state === 'CUTTING_OVER')!.detail, /takes 2\.0s/);
    assert.match(ops.find((o) => o.state === 'FULL_DUMP')!.detail, /1m0s/);
    assert.equal(p.describe(bare).length, ops.length);
  });
});

describe('a fleet on the sim platform, real workflows on a dev server', () => {
  let sim: SimWorker;
  let env: TestWorkflowEnvironment;
  const platform = new SimPlatform();
  const taskQueue = 'test-sim-fleet';

  before(async () => {
    sim = await startSimWorker(taskQueue, platform);
    env = sim.env;
  });
  after(async () => {
    await sim?.stop();
  });

  test('three databases complete, each resource created once', { timeout: 120_000 }, async () => {
    const names = ['alpha', 'beta', 'gamma'];
    const plan = simPlan(names, {
      pollInterval: '5ms',
      fullDump: '30ms',
      lag: [
        { after: '0s', seconds: 3 },
        { after: '50ms', seconds: 0 },
      ],
      // A retry inside the run: the activity's retry policy gets through it.
      failures: [{ step: 'createMigrationJob', database: 'beta', type: 'Flaky' }],
    });
    const handle = await env.client.workflow.start(MultiDatabaseMigration, {
      taskQueue,
      workflowId: 'sim-fleet',
      args: [{ plan }],
    });
    const report = await handle.result();
    assert.deepEqual(
      report.databases.map((d) => [d.database, d.state]),
      names.map((n) => [n, 'COMPLETED']),
    );
    assert.equal(report.completed, 3);
    for (const n of names) {
      assert.deepEqual(platform.created('sim-fleet', n), { target: 1, capacity: 1, job: 1 }, n);
      assert.deepEqual(platform.deleted('sim-fleet', n), { target: 0, capacity: 1, job: 1 }, n);
    }
    assert.equal(platform.calls('sim-fleet', 'beta', 'createMigrationJob'), 2);
  });
});
