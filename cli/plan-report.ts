// Prints `dbmig plan`: the operations per database, in the order the fleet would start them.
import { planOperations } from '../common/dry-run';
import type { Plan } from '../common/plan';
import { table } from './format';

export function planReport(plan: Plan, migrationId: string): string {
  const where =
    plan.platform === 'gcp'
      ? `gcp (project ${plan.gcp!.project}, ${plan.gcp!.region}, zone ${plan.gcp!.zone})`
      : 'local (embedded PostgreSQL)';
  const head = [
    `dry run: nothing is called or created`,
    `migration ${migrationId}: ${plan.databases.length} database(s) on ${where}, ${plan.concurrency} at a time, approval ${plan.approval.policy}`,
    `resource names derive from the migration id; start with --id ${migrationId} to get exactly these`,
  ];
  const blocks = planOperations(plan, migrationId).map((p, i) => {
    const db = p.database;
    const title = `${i + 1}. ${db.name}: ${db.engine} → ${db.target.kind} ${db.target.instance}, priority ${db.priority}, ${db.sizeGb} GB, capacity ${p.capacity.mode} x${p.capacity.workers} workers`;
    const rows = p.operations.map((o, j) => [String(j + 1), o.state, o.api, o.resource, o.detail]);
    return `${title}\n${table(['#', 'STATE', 'OPERATION', 'RESOURCE', 'DETAIL'], rows)}`;
  });
  return [head.join('\n'), ...blocks].join('\n\n');
}
