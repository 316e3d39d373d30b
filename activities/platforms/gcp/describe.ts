// The gcp dry run: the operations GcpPlatform performs for a task on the happy path, in the order
// the runbook calls them, each built by the module that sends the real requests. What it lists as
// `calls` is checked against the requests the fake records in test/gcp-fleet.test.ts (the dry-run
// test: per database, in order).
import type { DatabaseTask, PlannedOperation, PlannedSummary } from '../../steps';
import { capacityMode, workerCount } from '../../../common/capacity';
import { describeAlloyDb } from './sql/alloydb';
import { describeRelease, describeReserve } from './compute/capacity';
import { describeCloudSql } from './sql/cloudsql';
import {
  describeAssessment,
  describeJobAction,
  describeJobCreation,
  describeJobDeletion,
  describeJobRead,
  describeStart,
  JOB_STATE_WHEN_VALID,
} from './dms';
import { fencesOverSql } from './cutover/fence';
import { describeLagWatch } from './monitoring/lag';
import { describeMark } from './sql/target-mark';
import { sqlServerPromoteDetail } from './cutover/sqlserver';

/** The managed service and instance, and the Dynamic Workload Scheduler mode the worker group is grown in. */
export function summarizeGcp(task: DatabaseTask): PlannedSummary {
  const { target, priority, sizeGb } = task.database;
  const mode = capacityMode(priority, task.gcp?.machineType);
  return { target: `${target.kind} ${target.instance}`, capacity: `capacity ${mode} x${workerCount(sizeGb)} workers` };
}

function promoteDetail(task: DatabaseTask): string {
  return fencesOverSql(task)
    ? 'after a fresh DMS lag sample at most cutover.maxLagSeconds, writes blocked on the source and drained to a ' +
        'fence token the target shows; the promote is the point of no return, then the source is closed'
    : 'source.access dms-only: stop the writes by hand before approving; promotes after a fresh DMS lag sample ' +
        'at most cutover.maxLagSeconds';
}

export function describeGcp(task: DatabaseTask): PlannedOperation[] {
  const target = task.database.target.kind === 'alloydb' ? describeAlloyDb(task) : describeCloudSql(task);
  return [
    ...describeAssessment(task),
    ...target,
    ...describeReserve(task),
    ...describeJobCreation(task),
    describeJobAction(task, 'verify', { state: 'VERIFYING', detail: 'a failed operation names the problems' }),
    describeStart(task),
    ...describeLagWatch(task),
    describeJobRead(task, { state: 'VALIDATING', detail: `${JOB_STATE_WHEN_VALID.live} without error` }),
    describeMark(task),
    describeJobAction(task, 'promote', {
      state: 'CUTTING_OVER',
      detail: task.database.engine === 'sqlserver' ? sqlServerPromoteDetail(task) : promoteDetail(task),
    }),
    describeJobRead(task, { state: 'VERIFYING_TARGET', detail: `${JOB_STATE_WHEN_VALID.final} without error` }),
    ...describeJobDeletion(task),
    ...describeRelease(task),
  ];
}
