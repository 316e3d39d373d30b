// dbmig: start, watch, approve and steer fleet migrations; `dbmig worker` serves the task queue.
import { parseArgs } from 'node:util';
import { InvalidPlanError, validatePlan } from '../common/plan';
import { approveCutover, cancelDatabase, getStatus, pause, RefusedError, rejectCutover, resume, startMigration } from './client';
import { clientFromEnv } from './connection';
import { statusTable } from './format';
import { readPlanFile } from './plan-file';
import { runWorker } from '../worker/main';
import { planReport } from './plan-report';

const USAGE = `dbmig: a durable orchestrator for fleets of database migrations

usage:
  dbmig plan --plan FILE [--id ID]              dry run: the operations per database, calling nothing
  dbmig start --plan FILE [--id ID]             start a migration from a YAML or JSON plan
  dbmig status ID [--json]                      one line per database: state, lag, rows, last error
  dbmig approve ID DATABASE --approver NAME [--comment TEXT]
  dbmig reject ID DATABASE --approver NAME [--reason TEXT]
  dbmig pause ID | dbmig resume ID              stop or resume starting new databases
  dbmig cancel ID DATABASE                      cancel one database (compensates)
  dbmig worker                                  run a worker (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
                                                TEMPORAL_TASK_QUEUE, DBMIG_STATE_DIR, DBMIG_METRICS_ADDRESS)
`;

class UsageError extends Error {}

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`missing ${what}`);
  return value;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command === 'worker') {
    await runWorker();
    return 0;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      plan: { type: 'string' },
      id: { type: 'string' },
      approver: { type: 'string' },
      comment: { type: 'string' },
      reason: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const [id, database] = positionals;
  // Arguments are checked before connecting, so a typo fails fast and offline.
  const args = {
    id: (): string => need(id, 'migration ID'),
    database: (): string => need(database, 'DATABASE'),
    approver: (): string => need(values.approver, '--approver NAME'),
  };
  if (command === 'plan') {
    const plan = validatePlan(readPlanFile(need(values.plan, '--plan FILE')));
    console.log(planReport(plan, values.id ?? plan.migrationId ?? 'MIGRATION-ID'));
    return 0;
  }
  if (!['start', 'status', 'approve', 'reject', 'pause', 'resume', 'cancel'].includes(command)) throw new UsageError(`unknown command "${command}"`);
  if (command === 'start') need(values.plan, '--plan FILE');
  else args.id();
  if (['approve', 'reject', 'cancel'].includes(command)) args.database();
  if (['approve', 'reject'].includes(command)) args.approver();
  const plan = command === 'start' ? readPlanFile(values.plan!) : undefined;
  if (plan !== undefined) validatePlan(plan);

  const conn = await clientFromEnv();
  try {
    const { client, taskQueue } = conn;
    switch (command) {
      case 'start': {
        const started = await startMigration(client, plan, { id: values.id, taskQueue });
        console.log(`started migration ${started}\n  watch:   dbmig status ${started}\n  Temporal UI: workflow id ${started}`);
        return 0;
      }
      case 'status': {
        const status = await getStatus(client, args.id());
        console.log(values.json ? JSON.stringify(status, null, 2) : statusTable(status));
        return 0;
      }
      case 'approve': {
        const ack = await approveCutover(client, args.id(), args.database(), args.approver(), values.comment);
        console.log(`cutover of ${ack.database} approved by ${ack.by}`);
        return 0;
      }
      case 'reject': {
        const ack = await rejectCutover(client, args.id(), args.database(), args.approver(), values.reason);
        console.log(`cutover of ${ack.database} rejected by ${ack.by}`);
        return 0;
      }
      case 'pause':
      case 'resume': {
        const status = await (command === 'pause' ? pause : resume)(client, args.id());
        console.log(`migration ${status.migrationId} ${status.paused ? 'paused: no new database will start' : 'resumed'}`);
        return 0;
      }
      case 'cancel': {
        const s = await cancelDatabase(client, args.id(), args.database());
        console.log(`cancel requested for ${s.database} (was ${s.state}); it compensates before it stops`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } finally {
    await conn.close();
  }
}

export function runCli(argv = process.argv.slice(2)): void {
  main(argv).then(
    (code) => process.exit(code),
    (err: Error) => {
      if (err instanceof UsageError) process.stderr.write(`dbmig: ${err.message}\n\n${USAGE}`);
      else if (err instanceof InvalidPlanError || err instanceof RefusedError) process.stderr.write(`dbmig: ${err.message}\n`);
      else process.stderr.write(`dbmig: ${err.message}\n`);
      process.exit(err instanceof UsageError || err instanceof InvalidPlanError ? 2 : 1);
    },
  );
}

if (require.main === module) runCli();
