// The operator's commands: preview, start, watch and steer a fleet migration. Each prints one
// line that says what happened (or, with -o json, one object), or throws with the workflow's own reason.
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
  activityPollers,
  noDataPlaneMessage,
  noWorkerMessage,
  NotReadyError,
  searchAttributeProblem,
  statusPreflight,
  workflowPollers,
} from '../client/readiness';
import type { MigrationState } from '../common/states';
import { dataPlaneQueue } from '../common/task-queues';
import { isTerminal } from '../common/states';
import type { FleetStatus } from '../common/status';
import { EXIT_FAILED, EXIT_OK } from './exit-codes';
import { statusTable } from './format';
import { planHash, readRehearsals, rehearsalPolicyProblem } from './rehearsal-record';
import { expectedFromRehearsals } from '../common/expected-rates';
import { databaseDetail, onlyDatabase } from './progress-detail';
import { lazy } from './lazy';
import { printResult, type OutputFormat } from './output';
import type { Session } from './session';

export interface PlanCommandOptions {
  pricesOnline?: boolean;
  /** Every column at full width instead of 120 columns. */
  wide?: boolean;
  output?: OutputFormat;
}

export async function planCommand(file: string, id: string | undefined, opts: PlanCommandOptions = {}): Promise<void> {
  const { planData, planReport, pricePlan, costText } = lazy.plan();
  const { plan } = loadPlan(file);
  const migrationId = id ?? plan.migrationId ?? 'MIGRATION-ID';
  const cost = plan.platform === 'gcp' ? await pricePlan(plan, { online: opts.pricesOnline }) : undefined;
  printResult(opts.output ?? 'text', { ...planData(plan, migrationId), ...(cost ? { cost } : {}) }, () =>
    [planReport(plan, migrationId, { wide: opts.wide }), ...(cost ? [`\n${costText(cost, !!opts.wide)}`] : [])].join(
      '\n',
    ),
  );
}

export async function startCommand(s: Session, file: string, id: string | undefined): Promise<void> {
  const { raw: plan, plan: valid } = loadPlan(file); // before connecting: a bad plan fails offline, naming the field
  // The plan's policy (policy.requireRehearsal) is checked before anything else is done or asked.
  const refused = rehearsalPolicyProblem(valid);
  if (refused) throw new PolicyRefusedError(refused);
  const client = await s.client();
  const taskQueue = await s.taskQueue();
  // A run started without them could not complete a single workflow task: start nothing.
  const saProblem = await searchAttributeProblem(client);
  if (saProblem) throw new NotReadyError(saProblem);
  // What copy-slow and apply-slow compare with: the latest passed rehearsal of this plan, per database.
  const names = valid.databases.map((d) => d.name);
  const expected = expectedFromRehearsals(names, planHash(valid), readRehearsals());
  const started = await startMigration(client, plan, { id, taskQueue, expected });
  console.log(`started migration ${started}`);
  const measured = Object.keys(expected).length;
  console.log(
    `  expected rates: ${measured} of ${names.length} database(s) from a passed rehearsal of this plan` +
      (measured < names.length ? "; the others from the fleet's median once copies finish, else none" : ''),
  );
  console.log(`  watch: dbmig status ${started} --watch\n  Temporal UI: workflow id ${started}`);
  // It waits for a worker, which may come later: worth saying, not refusing.
  const pollers = await workflowPollers(client, taskQueue).catch(() => undefined);
  if (pollers?.count === 0) console.log(`  ${noWorkerMessage(taskQueue)}`);
  else if (pollers) {
    const dataQueue = dataPlaneQueue(taskQueue);
    const data = await activityPollers(client, dataQueue).catch(() => undefined);
    if (data?.count === 0) console.log(`  ${noDataPlaneMessage(dataQueue)}`);
  }
}

/** The plan's policy refuses to start it (exit 1: refused, not bad input). */
export class PolicyRefusedError extends Error {
  override name = 'PolicyRefused';
}

/** States a database ends in that no plan or operator asked for: the fleet is not healthy (exit 1). */
export const UNHEALTHY: ReadonlySet<MigrationState> = new Set(['FAILED', 'NEEDS_ATTENTION']);

export function statusExitCode(status: FleetStatus): number {
  return status.databases.some((d) => UNHEALTHY.has(d.state)) ? EXIT_FAILED : EXIT_OK;
}

/** Prints the status (or redraws it until every database has finished); exit 1 if one is FAILED or NEEDS_ATTENTION. */
export async function statusCommand(
  s: Session,
  id: string,
  opts: { format: OutputFormat; watch?: boolean; interval: number; database?: string },
): Promise<number> {
  const client = await s.client();
  await statusPreflight(client, id);
  const read = async () => {
    const all = await getStatus(client, id);
    return opts.database ? onlyDatabase(all, opts.database) : all;
  };
  const text = opts.database ? databaseDetail : statusTable;
  const status = opts.watch ? await watch(read, opts.interval * 1000, opts.format, text) : await read();
  // --watch in text has drawn the final table already.
  if (!(opts.watch && opts.format === 'text')) printResult(opts.format, status, () => text(status));
  return statusExitCode(status);
}

/**
 * Redraws the status table until every database has finished (or Ctrl-C); resolves with the last
 * status. With JSON output it draws nothing meanwhile: the caller prints the final one, one object.
 */
async function watch(
  read: () => Promise<FleetStatus>,
  everyMs: number,
  format: OutputFormat,
  text: (s: FleetStatus) => string,
): Promise<FleetStatus> {
  for (;;) {
    const status = await read();
    if (format === 'text') {
      const clear = process.stdout.isTTY ? '\x1b[2J\x1b[H' : '\n';
      const header = `${new Date().toISOString()}  (every ${everyMs / 1000}s, Ctrl-C to stop)`;
      process.stdout.write(`${clear}${header}\n${text(status)}\n`);
    }
    if (status.databases.every((d) => isTerminal(d.state))) return status;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** What every decision command prints with -o json: the action, its target, and the workflow's answer. */
function decision(action: string, migrationId: string, database: string | undefined, result: unknown) {
  return { action, migrationId, ...(database !== undefined ? { database } : {}), result };
}

export async function approveCommand(
  s: Session,
  f: OutputFormat,
  id: string,
  db: string,
  approver: string,
  comment?: string,
) {
  const ack = await approveCutover(await s.client(), id, db, approver, comment);
  printResult(f, decision('approve', id, db, ack), () => `cutover of ${ack.database} approved by ${ack.by}`);
}

export async function rejectCommand(
  s: Session,
  f: OutputFormat,
  id: string,
  db: string,
  approver: string,
  reason?: string,
) {
  const ack = await rejectCutover(await s.client(), id, db, approver, reason);
  printResult(f, decision('reject', id, db, ack), () => `cutover of ${ack.database} rejected by ${ack.by}`);
}

export async function revokeCommand(
  s: Session,
  f: OutputFormat,
  id: string,
  db: string,
  approver: string,
  reason?: string,
) {
  const ack = await revokeApproval(await s.client(), id, db, approver, reason);
  printResult(
    f,
    decision('revoke', id, db, ack),
    () => `approval of ${ack.database}'s cutover revoked by ${ack.by}: it awaits a decision again`,
  );
}

export async function rollbackCommand(
  s: Session,
  f: OutputFormat,
  id: string,
  db: string,
  by: string,
  reason?: string,
) {
  if (f === 'text')
    console.log(`rolling back ${db}: fencing the target, draining it into the source, reopening the source ...`);
  const d = await rollbackDatabase(await s.client(), id, db, by, reason);
  printResult(f, decision('rollback', id, db, d), () => {
    const block = d.writeBlockMs === undefined ? '' : ` (writes blocked for ${formatDuration(d.writeBlockMs)})`;
    return `${db} is ${d.state}${block}${d.nextAction ? `\n  next: ${d.nextAction}` : ''}`;
  });
}

export async function finalizeCommand(s: Session, f: OutputFormat, id: string, db: string, by: string, ack = false) {
  const d = await finalizeDatabase(await s.client(), id, db, by, ack);
  printResult(
    f,
    decision('finalize', id, db, d),
    () => `${db} is ${d.state}: reverse replication ended; a rollback is no longer possible`,
  );
}

export async function pauseCommand(s: Session, f: OutputFormat, id: string, paused: boolean): Promise<void> {
  const status = await (paused ? pause : resume)(await s.client(), id);
  printResult(
    f,
    decision(paused ? 'pause' : 'resume', id, undefined, status),
    () => `migration ${status.migrationId} ${status.paused ? 'paused: no new database will start' : 'resumed'}`,
  );
}

export async function cancelCommand(s: Session, f: OutputFormat, id: string, db: string): Promise<void> {
  const summary = await cancelDatabase(await s.client(), id, db);
  printResult(f, decision('cancel', id, db, summary), () =>
    summary.state === 'CANCELLED'
      ? `${summary.database} is CANCELLED`
      : `cancel requested for ${summary.database}; it compensates before it stops`,
  );
}

export async function retryCommand(s: Session, f: OutputFormat, id: string, db: string): Promise<void> {
  const summary = await retryDatabase(await s.client(), id, db);
  printResult(
    f,
    decision('retry', id, db, summary),
    () => `${summary.database} will run again (retry ${summary.retries}); steps that still hold are found, not redone`,
  );
}
