// The operator's commands: preview, start, watch and steer a fleet migration. Each prints one
// line that says what happened, or throws with the workflow's own reason.
import type { Client } from '@temporalio/client';
import {
  approveCutover,
  cancelDatabase,
  finalizeDatabase,
  getStatus,
  pause,
  rejectCutover,
  resume,
  retryDatabase,
  revokeApproval,
  rollbackDatabase,
  startMigration,
} from '../client/client';
import { formatDuration } from '../common/durations';
import { loadPlan } from '../client/plan-file';
import {
  noWorkerMessage,
  NotReadyError,
  searchAttributeProblem,
  statusPreflight,
  workflowPollers,
} from '../client/readiness';
import { isTerminal } from '../common/states';
import { statusTable } from './format';
import { costText, pricePlan } from './plan-cost';
import { planData, planReport } from './plan-report';
import type { Session } from './session';

export interface PlanCommandOptions {
  pricesOnline?: boolean;
  /** Every column at full width instead of 120 columns. */
  wide?: boolean;
  output?: 'text' | 'json';
}

export async function planCommand(file: string, id: string | undefined, opts: PlanCommandOptions = {}): Promise<void> {
  const { plan } = loadPlan(file);
  const migrationId = id ?? plan.migrationId ?? 'MIGRATION-ID';
  const cost = plan.platform === 'gcp' ? await pricePlan(plan, { online: opts.pricesOnline }) : undefined;
  if (opts.output === 'json') {
    console.log(JSON.stringify({ ...planData(plan, migrationId), ...(cost ? { cost } : {}) }, null, 2));
    return;
  }
  console.log(planReport(plan, migrationId, { wide: opts.wide }));
  if (cost) console.log(`\n${costText(cost, !!opts.wide)}`);
}

export async function startCommand(s: Session, file: string, id: string | undefined): Promise<void> {
  const { raw: plan } = loadPlan(file); // before connecting: a bad plan fails offline, naming the field
  const client = await s.client();
  const taskQueue = await s.taskQueue();
  // A run started without them could not complete a single workflow task: start nothing.
  const saProblem = await searchAttributeProblem(client);
  if (saProblem) throw new NotReadyError(saProblem);
  const started = await startMigration(client, plan, { id, taskQueue });
  console.log(`started migration ${started}`);
  console.log(`  watch: dbmig status ${started} --watch\n  Temporal UI: workflow id ${started}`);
  // It waits for a worker, which may come later: worth saying, not refusing.
  const pollers = await workflowPollers(client, taskQueue).catch(() => undefined);
  if (pollers?.count === 0) console.log(`  ${noWorkerMessage(taskQueue)}`);
}

export async function statusCommand(
  s: Session,
  id: string,
  opts: { json?: boolean; watch?: boolean; interval: number },
): Promise<void> {
  const client = await s.client();
  await statusPreflight(client, id);
  if (opts.watch) return watch(client, id, opts.interval * 1000);
  const status = await getStatus(client, id);
  console.log(opts.json ? JSON.stringify(status, null, 2) : statusTable(status));
}

/** Redraws the status table until every database has finished (or Ctrl-C). */
async function watch(client: Client, id: string, everyMs: number): Promise<void> {
  for (;;) {
    const status = await getStatus(client, id);
    const clear = process.stdout.isTTY ? '\x1b[2J\x1b[H' : '\n';
    const header = `${new Date().toISOString()}  (every ${everyMs / 1000}s, Ctrl-C to stop)`;
    process.stdout.write(`${clear}${header}\n${statusTable(status)}\n`);
    if (status.databases.every((d) => isTerminal(d.state))) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function approveCommand(s: Session, id: string, db: string, approver: string, comment?: string) {
  const ack = await approveCutover(await s.client(), id, db, approver, comment);
  console.log(`cutover of ${ack.database} approved by ${ack.by}`);
}

export async function rejectCommand(s: Session, id: string, db: string, approver: string, reason?: string) {
  const ack = await rejectCutover(await s.client(), id, db, approver, reason);
  console.log(`cutover of ${ack.database} rejected by ${ack.by}`);
}

export async function revokeCommand(s: Session, id: string, db: string, approver: string, reason?: string) {
  const ack = await revokeApproval(await s.client(), id, db, approver, reason);
  console.log(`approval of ${ack.database}'s cutover revoked by ${ack.by}: it awaits a decision again`);
}

export async function rollbackCommand(s: Session, id: string, db: string, by: string, reason?: string) {
  console.log(`rolling back ${db}: fencing the target, draining it into the source, reopening the source ...`);
  const d = await rollbackDatabase(await s.client(), id, db, by, reason);
  const block = d.writeBlockMs === undefined ? '' : ` (writes blocked for ${formatDuration(d.writeBlockMs)})`;
  console.log(`${db} is ${d.state}${block}`);
  if (d.nextAction) console.log(`  next: ${d.nextAction}`);
}

export async function finalizeCommand(s: Session, id: string, db: string, by: string) {
  const d = await finalizeDatabase(await s.client(), id, db, by);
  console.log(`${db} is ${d.state}: reverse replication ended; a rollback is no longer possible`);
}

export async function pauseCommand(s: Session, id: string, paused: boolean): Promise<void> {
  const status = await (paused ? pause : resume)(await s.client(), id);
  console.log(`migration ${status.migrationId} ${status.paused ? 'paused: no new database will start' : 'resumed'}`);
}

export async function cancelCommand(s: Session, id: string, db: string): Promise<void> {
  const summary = await cancelDatabase(await s.client(), id, db);
  console.log(
    summary.state === 'CANCELLED'
      ? `${summary.database} is CANCELLED`
      : `cancel requested for ${summary.database}; it compensates before it stops`,
  );
}

export async function retryCommand(s: Session, id: string, db: string): Promise<void> {
  const summary = await retryDatabase(await s.client(), id, db);
  console.log(
    `${summary.database} will run again (retry ${summary.retries}); steps that still hold are found, not redone`,
  );
}
