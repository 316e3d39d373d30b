// dbmig: start, watch, approve and steer fleet migrations; replay histories; run a worker.
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { InvalidPlanError, validatePlan } from '../common/plan';
import { isTerminal } from '../common/states';
import { runWorker } from '../worker/main';
import {
  approveCutover,
  cancelDatabase,
  getStatus,
  pause,
  rejectCutover,
  resume,
  retryDatabase,
  startMigration,
} from '../client/client';
import { exportCommand, replayCommand } from './commands-sre';
import { clientFromEnv } from '../client/connection';
import { statusTable } from './format';
import { planReport } from './plan-report';
import { readPlanFile } from '../client/plan-file';

const USAGE = `dbmig: a durable orchestrator for fleets of database migrations

usage:
  dbmig plan --plan FILE [--id ID]              dry run: the operations per database, calling nothing
  dbmig start --plan FILE [--id ID]             start a migration from a YAML or JSON plan
  dbmig status ID [--json] [--watch]            a row per database: state, lag, rows, last error
  dbmig approve ID DATABASE --approver NAME [--comment TEXT]
  dbmig reject ID DATABASE --approver NAME [--reason TEXT]
  dbmig pause ID | dbmig resume ID              stop or resume starting new databases
  dbmig cancel ID DATABASE                      cancel one database (compensates), or give up a FAILED one
  dbmig retry ID DATABASE                       run a FAILED or CANCELLED database again
  dbmig replay --file FILE [--workflow-id ID]   replay a history (temporal workflow show --output json)
  dbmig replay --workflow-id ID [--run-id R]    replay a history fetched from the server
  dbmig replay --query "VISIBILITY QUERY"       replay every match, e.g. 'ExecutionStatus="Failed"'
  dbmig history export ID --out FILE [--run-id R]
  dbmig worker                                  run a worker (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
                                                TEMPORAL_TASK_QUEUE, DBMIG_STATE_DIR, DBMIG_METRICS_ADDRESS)
`;

class UsageError extends Error {}

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`missing ${what}`);
  return value;
}

const OPTIONS = {
  plan: { type: 'string' },
  id: { type: 'string' },
  approver: { type: 'string' },
  comment: { type: 'string' },
  reason: { type: 'string' },
  json: { type: 'boolean' },
  watch: { type: 'boolean' },
  interval: { type: 'string' },
  file: { type: 'string' },
  'workflow-id': { type: 'string' },
  'run-id': { type: 'string' },
  query: { type: 'string' },
  out: { type: 'string' },
} as const;

/** Redraws the status table until every database has finished (or Ctrl-C). */
async function watch(client: Client, id: string, everyMs: number): Promise<void> {
  for (;;) {
    const status = await getStatus(client, id);
    process.stdout.write(
      `${process.stdout.isTTY ? '\x1b[2J\x1b[H' : '\n'}${new Date().toISOString()}  (every ${everyMs / 1000}s, Ctrl-C to stop)\n${statusTable(status)}\n`,
    );
    if (status.databases.every((d) => isTerminal(d.state))) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
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
  const { values: v, positionals } = parseArgs({ args: rest, allowPositionals: true, options: OPTIONS });
  const [id, database] = positionals;
  // Arguments are checked before connecting, so a typo fails fast and offline.
  const arg = {
    id: (): string => need(id, 'migration ID'),
    database: (): string => need(database, 'DATABASE'),
    approver: (): string => need(v.approver, '--approver NAME'),
  };
  const sre = { file: v.file, workflowId: v['workflow-id'], runId: v['run-id'], query: v.query, out: v.out };
  let connection: Awaited<ReturnType<typeof clientFromEnv>> | undefined;
  const client = async () => (connection ??= await clientFromEnv()).client;
  try {
    switch (command) {
      case 'plan': {
        const plan = validatePlan(readPlanFile(need(v.plan, '--plan FILE')));
        console.log(planReport(plan, v.id ?? plan.migrationId ?? 'MIGRATION-ID'));
        return 0;
      }
      case 'start': {
        const plan = readPlanFile(need(v.plan, '--plan FILE'));
        validatePlan(plan);
        const started = await startMigration(await client(), plan, { id: v.id, taskQueue: connection!.taskQueue });
        console.log(
          `started migration ${started}\n  watch: dbmig status ${started} --watch\n  Temporal UI: workflow id ${started}`,
        );
        return 0;
      }
      case 'status': {
        const mid = arg.id();
        if (v.watch) await watch(await client(), mid, Number(v.interval ?? 2) * 1000);
        else {
          const status = await getStatus(await client(), mid);
          console.log(v.json ? JSON.stringify(status, null, 2) : statusTable(status));
        }
        return 0;
      }
      case 'approve': {
        const [mid, db, who] = [arg.id(), arg.database(), arg.approver()];
        const ack = await approveCutover(await client(), mid, db, who, v.comment);
        console.log(`cutover of ${ack.database} approved by ${ack.by}`);
        return 0;
      }
      case 'reject': {
        const [mid, db, who] = [arg.id(), arg.database(), arg.approver()];
        const ack = await rejectCutover(await client(), mid, db, who, v.reason);
        console.log(`cutover of ${ack.database} rejected by ${ack.by}`);
        return 0;
      }
      case 'pause':
      case 'resume': {
        const status = await (command === 'pause' ? pause : resume)(await client(), arg.id());
        console.log(
          `migration ${status.migrationId} ${status.paused ? 'paused: no new database will start' : 'resumed'}`,
        );
        return 0;
      }
      case 'cancel': {
        const [mid, db] = [arg.id(), arg.database()];
        const s = await cancelDatabase(await client(), mid, db);
        console.log(
          s.state === 'CANCELLED'
            ? `${s.database} is CANCELLED`
            : `cancel requested for ${s.database}; it compensates before it stops`,
        );
        return 0;
      }
      case 'retry': {
        const [mid, db] = [arg.id(), arg.database()];
        const s = await retryDatabase(await client(), mid, db);
        console.log(`${s.database} will run again (retry ${s.retries}); steps that still hold are found, not redone`);
        return 0;
      }
      case 'replay':
        return await replayCommand(sre, client);
      case 'history': {
        if (id !== 'export') throw new UsageError('usage: dbmig history export ID --out FILE');
        return await exportCommand(need(database, 'workflow ID'), sre, await client());
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } finally {
    await connection?.close();
  }
}

export function runCli(argv = process.argv.slice(2)): void {
  main(argv).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`dbmig: ${err.message}\n${err instanceof UsageError ? `\n${USAGE}` : ''}`);
      process.exit(err instanceof UsageError || err instanceof InvalidPlanError ? 2 : 1);
    },
  );
}

if (require.main === module) runCli();
