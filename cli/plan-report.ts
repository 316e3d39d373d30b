// Prints `dbmig plan`: the operations per database, in the order the fleet would start them. The
// operations come from the platform that would run them (MigrationPlatform.describe), built by
// the code that builds its real requests; only the approval, which is the workflow's, is added here.
import type { Platforms } from '../activities';
import type { DatabaseTask, PlannedOperation } from '../activities/platforms/platform';
import { describeMonitoring } from '../activities/platforms/gcp/monitoring';
import { byPriority, capacityMode, workerCount } from '../common/capacity';
import { effectiveSettings, type DatabasePlan, type Plan } from '../common/plan';
import { STATES } from '../common/states';
import { defaultPlatforms } from '../worker/worker';
import { table } from './format';

export interface PlannedDatabase {
  database: DatabasePlan;
  capacity: { mode: string; workers: number };
  operations: PlannedOperation[];
}

/** The task the fleet workflow would give the platform for this database. */
function taskFor(plan: Plan, migrationId: string, db: DatabasePlan): DatabaseTask {
  return {
    migrationId,
    platform: plan.platform,
    database: db,
    settings: effectiveSettings(plan, db),
    ...(plan.gcp ? { gcp: plan.gcp } : {}),
    ...(plan.sim ? { sim: plan.sim } : {}),
  };
}

function approval(plan: Plan, migrationId: string, db: DatabasePlan): PlannedOperation {
  return plan.approval.policy === 'auto'
    ? { state: 'AWAITING_APPROVAL', api: 'none (approval policy auto)', resource: '', detail: '' }
    : {
        state: 'AWAITING_APPROVAL',
        api: 'workflow Update approveCutover',
        resource: `${migrationId}/${db.name}`,
        detail: `dbmig approve ${migrationId} ${db.name} --approver NAME (within ${plan.approval.timeout})`,
      };
}

/** The platform's operations with the approval where the runbook waits for it. */
function withApproval(ops: PlannedOperation[], approvalOp: PlannedOperation): PlannedOperation[] {
  const at = ops.findIndex((o) => STATES.indexOf(o.state) > STATES.indexOf('AWAITING_APPROVAL'));
  return at < 0 ? [...ops, approvalOp] : [...ops.slice(0, at), approvalOp, ...ops.slice(at)];
}

/** Constructing the platforms contacts nothing: gcp clients are created on first use. */
export function planOperations(
  plan: Plan,
  migrationId: string,
  platforms: Platforms = defaultPlatforms(),
): PlannedDatabase[] {
  const platform = platforms[plan.platform];
  if (!platform) throw new Error(`platform ${plan.platform} is not available to describe`);
  return byPriority(plan.databases).map((db) => ({
    database: db,
    // On gcp the machine type decides whether calendar mode is offered at all (common/capacity.ts).
    capacity: { mode: capacityMode(db.priority, plan.gcp?.machineType), workers: workerCount(db.sizeGb) },
    operations: withApproval(platform.describe(taskFor(plan, migrationId, db)), approval(plan, migrationId, db)),
  }));
}

export function planReport(plan: Plan, migrationId: string, platforms?: Platforms): string {
  const where =
    plan.platform === 'gcp'
      ? `gcp (project ${plan.gcp!.project}, ${plan.gcp!.region}, zone ${plan.gcp!.zone})`
      : plan.platform === 'sim'
        ? 'sim (simulated: nothing real is touched)'
        : 'local (embedded PostgreSQL)';
  const head = [
    `dry run: nothing is called or created`,
    `migration ${migrationId}: ${plan.databases.length} database(s) on ${where}, ` +
      `${plan.concurrency} at a time, approval ${plan.approval.policy}`,
    `resource names derive from the migration id; start with --id ${migrationId} to get exactly these`,
  ];
  const blocks = planOperations(plan, migrationId, platforms).map((p, i) => {
    const db = p.database;
    const title =
      `${i + 1}. ${db.name}: ${db.engine} → ${db.target.kind} ${db.target.instance}, priority ${db.priority}, ` +
      `${db.sizeGb} GB, capacity ${p.capacity.mode} x${p.capacity.workers} workers`;
    const rows = p.operations.map((o, j) => [String(j + 1), o.state, o.api, o.resource, o.detail]);
    return `${title}\n${table(['#', 'STATE', 'OPERATION', 'RESOURCE', 'DETAIL'], rows)}`;
  });
  return [
    head.join('\n'),
    ...fleetBlock(plan, migrationId, 'prepare'),
    ...blocks,
    ...fleetBlock(plan, migrationId, 'finish'),
  ].join('\n\n');
}

/** gcp: the migration's own monitoring step, before the first database and when the fleet ends. */
function fleetBlock(plan: Plan, migrationId: string, when: 'prepare' | 'finish'): string[] {
  if (plan.platform !== 'gcp' || !plan.gcp) return [];
  const fleet = {
    migrationId,
    platform: plan.platform,
    databases: byPriority(plan.databases).map((d) => d.name),
    gcp: plan.gcp,
  };
  const ops = describeMonitoring(fleet)[when];
  const title = when === 'prepare' ? 'before the first database: the monitoring step' : 'when the fleet has finished';
  const rows = ops.map((o, j) => [String(j + 1), o.state, o.api, o.resource, o.detail]);
  return [`${title}\n${table(['#', 'STATE', 'OPERATION', 'RESOURCE', 'DETAIL'], rows)}`];
}
