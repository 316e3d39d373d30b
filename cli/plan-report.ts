// Prints `dbmig plan`: the operations per database, in the order the fleet would start them. The
// operations come from the platform that would run them (MigrationPlatform.describe), built by
// the code that builds its real requests; only the approval, which is the workflow's, is added here.
import type { Platforms } from '../activities';
import type { DatabaseTask, PlannedOperation, PlannedSummary } from '../activities/steps';
import { describeMonitoring } from '../activities/platforms/gcp/monitoring';
import { byPriority } from '../common/capacity';
import { allowedApprovers, inWaves } from '../common/plan-waves';
import { effectiveSettings } from '../common/plan-settings';
import { type DatabasePlan, type Plan } from '../common/plan';
import { STATES } from '../common/states';
import { defaultPlatforms } from '../worker/worker';
import { table } from './format';
import { fitTable, TERMINAL_COLUMNS, wrapText } from './fit-table';

export interface PlannedDatabase {
  database: DatabasePlan;
  /** The platform's own words for the target and capacity. */
  summary: PlannedSummary;
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
  // Waves (dependsOn) hold the cutover after the decision until those databases completed.
  const waits = db.dependsOn?.length ? `; the cutover then waits for ${db.dependsOn.join(', ')} to complete` : '';
  const who = db.approvers ? ` (${allowedApprovers(db.approvers, plan.roles).join(' or ')})` : '';
  return plan.approval.policy === 'auto'
    ? { state: 'AWAITING_APPROVAL', api: 'none (approval policy auto)', resource: '', detail: waits.slice(2) }
    : {
        state: 'AWAITING_APPROVAL',
        api: 'workflow Update approveCutover',
        resource: `${migrationId}/${db.name}`,
        detail:
          `dbmig approve ${migrationId} ${db.name} --approver NAME${who} ` +
          `(within ${plan.approval.timeout})${waits}`,
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
  return inWaves(byPriority(plan.databases)).map((db) => {
    const task = taskFor(plan, migrationId, db);
    return {
      database: db,
      summary: platform.summarize(task),
      operations: withApproval(platform.describe(task), approval(plan, migrationId, db)),
    };
  });
}

/** Where the plan runs, in the platform's words: no managed-service names for a local run. */
function where(plan: Plan): string {
  if (plan.platform === 'gcp') return `gcp (project ${plan.gcp!.project}, ${plan.gcp!.region}, zone ${plan.gcp!.zone})`;
  if (plan.platform === 'sim') return 'sim (simulated: nothing real is touched)';
  const count = (existing: boolean) =>
    new Set(plan.databases.filter((d) => (d.target.kind === 'postgres') === existing).map((d) => d.target.instance))
      .size;
  const [clusters, servers] = [count(false), count(true)];
  const parts = [
    ...(clusters ? [`${clusters} embedded PostgreSQL cluster(s) on this machine`] : []),
    ...(servers ? [`${servers} existing server(s)`] : []),
  ];
  return `local (targets: ${parts.join(' and ')})`;
}

/** The dry run as one object, for `dbmig plan -o json`. */
export function planData(plan: Plan, migrationId: string, platforms?: Platforms) {
  const fleet = fleetOps(plan, migrationId);
  return {
    migrationId,
    platform: plan.platform,
    where: where(plan),
    concurrency: plan.concurrency,
    approval: plan.approval,
    ...(plan.cutoverWindow ? { cutoverWindow: plan.cutoverWindow } : {}),
    ...(fleet ? { beforeFirstDatabase: fleet.prepare } : {}),
    databases: planOperations(plan, migrationId, platforms).map((p) => ({
      name: p.database.name,
      engine: p.database.engine,
      priority: p.database.priority,
      sizeGb: p.database.sizeGb,
      ...p.summary,
      operations: p.operations,
    })),
    ...(fleet ? { afterLastDatabase: fleet.finish } : {}),
  };
}

export interface ReportOptions {
  platforms?: Platforms;
  /** Print every column at its full width (default: fit 120 columns, wrapping the widest). */
  wide?: boolean;
}

const HEADERS = ['#', 'STATE', 'OPERATION', 'RESOURCE', 'DETAIL'];

export function planReport(plan: Plan, migrationId: string, opts: ReportOptions = {}): string {
  const show = (rows: string[][]) => (opts.wide ? table(HEADERS, rows) : fitTable(HEADERS, rows));
  const para = (text: string) => (opts.wide ? text : wrapText(text, TERMINAL_COLUMNS - 3).join('\n   '));
  const rowsOf = (ops: PlannedOperation[]) => ops.map((o, j) => [String(j + 1), o.state, o.api, o.resource, o.detail]);
  const head = [
    `dry run: nothing is called or created`,
    para(
      `migration ${migrationId}: ${plan.databases.length} database(s) on ${where(plan)}, ` +
        `${plan.concurrency} at a time, approval ${plan.approval.policy}`,
    ),
    para(`resource names derive from the migration id; start with --id ${migrationId} to get exactly these`),
  ];
  const blocks = planOperations(plan, migrationId, opts.platforms).map((p, i) => {
    const db = p.database;
    const title = para(
      `${i + 1}. ${db.name}: ${db.engine} → ${p.summary.target}, priority ${db.priority}, ${db.sizeGb} GB, ` +
        p.summary.capacity,
    );
    return `${title}\n${show(rowsOf(p.operations))}`;
  });
  const fleet = fleetOps(plan, migrationId);
  return [
    head.join('\n'),
    ...(fleet ? [`before the first database: the monitoring step\n${show(rowsOf(fleet.prepare))}`] : []),
    ...blocks,
    ...(fleet ? [`when the fleet has finished\n${show(rowsOf(fleet.finish))}`] : []),
  ].join('\n\n');
}

/** gcp: the migration's own monitoring step, before the first database and when the fleet ends. */
function fleetOps(plan: Plan, migrationId: string) {
  if (plan.platform !== 'gcp' || !plan.gcp) return undefined;
  return describeMonitoring({
    migrationId,
    platform: plan.platform,
    databases: byPriority(plan.databases).map((d) => d.name),
    gcp: plan.gcp,
  });
}
