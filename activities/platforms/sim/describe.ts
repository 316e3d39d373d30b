// The sim dry run: what SimPlatform does for a task on the happy path, in runbook order, with the
// names it derives and the durations, lag and failures the plan's sim section sets. Calls nothing.
import { capacityMode, workerCount } from '../../../common/capacity';
import { formatDuration } from '../../../common/durations';
import { cutoverLimits } from '../../../common/plan-settings';
import type { ResourceNames } from '../../../common/naming';
import type { SimSettings, SimStep } from '../../../common/sim-plan';
import type { DatabaseTask, PlannedOperation } from '../../steps';
import { copyMsOf, stepMs } from './settings';

export function describeSim(
  task: DatabaseTask,
  sim: SimSettings,
  n: ResourceNames,
  target: string,
): PlannedOperation[] {
  const db = task.database;
  const s = task.settings;
  const limits = cutoverLimits(s);
  /** How long a step takes, and the failures the plan injects into it. */
  const takes = (...steps: SimStep[]) => {
    const ms = steps.reduce((sum, step) => sum + stepMs(sim, step), 0);
    const fails = sim.failures
      .filter((f) => steps.includes(f.step) && (f.database === undefined || f.database === db.name))
      .map((f) => `; fails ${f.times}x with ${f.type}`);
    return `takes ${formatDuration(ms)}${fails.join('')}`;
  };
  const copy = formatDuration(copyMsOf(sim, db.name, db.sizeGb));
  const noReverse = 'no reverse replication, so no rollback after';
  const lag = sim.lag.map((p) => `${p.seconds}s after ${p.after}`).join(', ');
  return [
    {
      state: 'ASSESSING',
      api: 'simulated assessment',
      resource: `sim source ${db.source.database}`,
      detail: takes('assessSource'),
    },
    {
      state: 'PROVISIONING_TARGET',
      api: 'get-or-create simulated target',
      resource: `sim target ${target}`,
      detail: takes('provisionTarget'),
    },
    {
      state: 'RESERVING_CAPACITY',
      api: 'get-or-create simulated reservation',
      resource: n.capacityReservation,
      detail: `${workerCount(db.sizeGb)} workers (${capacityMode(db.priority)}); ${takes('reserveCapacity')}`,
    },
    { state: 'CREATING_JOB', api: 'get-or-create simulated job', resource: n.job, detail: takes('createMigrationJob') },
    { state: 'VERIFYING', api: 'simulated job checks', resource: n.job, detail: takes('verifyMigrationJob') },
    {
      state: 'FULL_DUMP',
      api: 'start simulated job',
      resource: n.job,
      detail: `initial copy ${copy} (${db.sizeGb} GB); ${takes('startMigrationJob')}`,
    },
    {
      state: 'CDC',
      api: `simulated status every ${sim.pollInterval}`,
      resource: n.job,
      detail: `lag ${lag}; until lag <= ${s.lagThresholdSeconds}s for ${formatDuration(s.stableWindowMs)}`,
    },
    { state: 'VALIDATING', api: 'simulated comparison', resource: target, detail: takes('validateData') },
    {
      state: 'CUTTING_OVER',
      api: 'simulated write block and switch',
      resource: target,
      detail: `only if lag <= ${limits.maxLagSeconds}s; ${noReverse}; ${takes('cutover')}`,
    },
    { state: 'VERIFYING_TARGET', api: 'simulated comparison', resource: target, detail: takes('validateData') },
    {
      state: 'COMPLETED',
      api: 'delete simulated job, release reservation',
      resource: `${n.job}, ${n.capacityReservation}`,
      detail: `the target stays; ${takes('deleteMigrationJob', 'releaseCapacity')}`,
    },
  ];
}
