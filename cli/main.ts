// dbmig: start, watch, approve and steer fleet migrations; replay histories; run a worker.
// Arguments are checked before anything connects, so a typo fails fast and offline. Exit codes:
// 0 done, 1 the operation failed or was refused, 2 bad usage or an invalid plan.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { InvalidPlanError } from '../common/plan';
import { runWorker } from '../worker/main';
import {
  approveCommand,
  cancelCommand,
  finalizeCommand,
  pauseCommand,
  planCommand,
  rejectCommand,
  retryCommand,
  revokeCommand,
  rollbackCommand,
  startCommand,
  statusCommand,
} from './commands-fleet';
import { gcpCheckCommand } from './commands-gcp';
import { rehearse } from './rehearse';
import { exportCommand, replayCommand } from './commands-sre';
import { setupCommand, workerSearchAttributes } from './commands-setup';
import { Session } from './session';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
}

function percent(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 100) throw new InvalidArgumentError('must be a percentage in (0, 100]');
  return n;
}

function program(session: Session, setExit: (code: number) => void): Command {
  const cli = new Command('dbmig')
    .description('A durable orchestrator for fleets of database migrations, on Temporal')
    .showHelpAfterError('(dbmig help COMMAND shows its options)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  cli
    .command('setup')
    .description('register the search attributes the workflows set in the namespace (once per namespace)')
    .addHelpText(
      'after',
      '\nIdempotent. On Temporal Cloud, which does not let a client add them, it prints the tcld command instead.',
    )
    .action(async () => setExit(await setupCommand(session)));

  cli
    .command('plan')
    .description('dry run: the operations per database, in start order, calling nothing')
    .requiredOption('--plan <file>', 'the plan (YAML or JSON)')
    .option('--id <id>', 'the migration id the resource names derive from')
    .option(
      '--prices-online',
      'gcp: price the estimate from the Cloud Billing Catalog API (DBMIG_PRICES_TIMEOUT_MS, 5 s), not the table',
    )
    .action((o: { plan: string; id?: string; pricesOnline?: boolean }) =>
      planCommand(o.plan, o.id, { pricesOnline: o.pricesOnline }),
    );

  cli
    .command('rehearse')
    .description('run the whole plan against copies of its sources on this machine; nothing on a source changes')
    .requiredOption('--plan <file>', 'the plan (YAML or JSON)')
    .addOption(new Option('--sample <pct>', 'copy this share of each table’s rows').argParser(percent).default(100))
    .option('--keep', 'keep the copies and targets (under DBMIG_STATE_DIR/rehearsals) for a look afterwards')
    .addHelpText(
      'after',
      '\nThe sources are only read, in one read-only snapshot. Exit 0: every database completed; 1: one did not.',
    )
    .action(async (o: { plan: string; sample: number; keep?: boolean }) => {
      const { ok, report } = await rehearse(o.plan, { samplePct: o.sample, keep: o.keep });
      console.log(report);
      setExit(ok ? 0 : EXIT_FAILED);
    });

  cli
    .command('start')
    .description('start a migration from a YAML or JSON plan')
    .requiredOption('--plan <file>', 'the plan (YAML or JSON)')
    .option('--id <id>', 'the migration id (default: the plan’s migrationId, else a timestamp)')
    .action((o: { plan: string; id?: string }) => startCommand(session, o.plan, o.id));

  cli
    .command('status')
    .description('a row per database: state, lag, rows, write block, last error')
    .argument('<id>', 'migration id')
    .option('--json', 'print the fleet status as JSON')
    .option('--watch', 'redraw until every database has finished')
    .addOption(new Option('--interval <seconds>', 'redraw interval with --watch').argParser(seconds).default(2))
    .action((id: string, o: { json?: boolean; watch?: boolean; interval: number }) => statusCommand(session, id, o));

  cli
    .command('approve')
    .description('approve the cutover of a database that awaits approval')
    .argument('<id>', 'migration id')
    .argument('<database>', 'database name in the plan')
    .requiredOption('--approver <name>', 'who approves (recorded in the history)')
    .option('--comment <text>', 'why, for the record')
    .action((id: string, db: string, o: { approver: string; comment?: string }) =>
      approveCommand(session, id, db, o.approver, o.comment),
    );

  cli
    .command('reject')
    .description('reject the cutover of a database that awaits approval (it compensates)')
    .argument('<id>', 'migration id')
    .argument('<database>', 'database name in the plan')
    .requiredOption('--approver <name>', 'who rejects (recorded in the history)')
    .option('--reason <text>', 'why, for the record')
    .action((id: string, db: string, o: { approver: string; reason?: string }) =>
      rejectCommand(session, id, db, o.approver, o.reason),
    );

  cli
    .command('revoke')
    .description('take back an approval before the cutover starts (it awaits a decision again)')
    .argument('<id>', 'migration id')
    .argument('<database>', 'database name in the plan')
    .requiredOption('--approver <name>', 'who revokes (recorded in the history)')
    .option('--reason <text>', 'why, for the record')
    .action((id: string, db: string, o: { approver: string; reason?: string }) =>
      revokeCommand(session, id, db, o.approver, o.reason),
    );

  cli
    .command('rollback')
    .description('give a COMPLETED database back to its source, while reverse replication still runs')
    .argument('<id>', 'migration id')
    .argument('<database>', 'database name in the plan')
    .requiredOption('--by <name>', 'who decides (recorded in the history)')
    .option('--reason <text>', 'why, for the record')
    .action((id: string, db: string, o: { by: string; reason?: string }) =>
      rollbackCommand(session, id, db, o.by, o.reason),
    );

  cli
    .command('finalize')
    .description('end the reverse replication of a COMPLETED database: no rollback after this')
    .argument('<id>', 'migration id')
    .argument('<database>', 'database name in the plan')
    .requiredOption('--by <name>', 'who decides (recorded in the history)')
    .action((id: string, db: string, o: { by: string }) => finalizeCommand(session, id, db, o.by));

  cli
    .command('pause')
    .description('start no new database until resumed; running ones go on')
    .argument('<id>', 'migration id')
    .action((id: string) => pauseCommand(session, id, true));
  cli
    .command('resume')
    .description('start databases again')
    .argument('<id>', 'migration id')
    .action((id: string) => pauseCommand(session, id, false));

  cli
    .command('cancel')
    .description('cancel one database (it compensates first), or give up a FAILED one')
    .argument('<id>', 'migration id')
    .argument('<database>', 'database name in the plan')
    .action((id: string, db: string) => cancelCommand(session, id, db));

  cli
    .command('retry')
    .description('run a FAILED or CANCELLED database again from the start')
    .argument('<id>', 'migration id')
    .argument('<database>', 'database name in the plan')
    .action((id: string, db: string) => retryCommand(session, id, db));

  cli
    .command('gcp')
    .description('Google Cloud')
    .command('check')
    .description('read-only pre-flight of a gcp plan: APIs, IAM, private services access, workers, quota, sources')
    .requiredOption('--plan <file>', 'the plan (YAML or JSON)')
    .option(
      '--id <id>',
      "the migration id it will start with (default the plan's migrationId): worker names derive from it",
    )
    .addOption(
      new Option('--connect-timeout <seconds>', 'TCP connect timeout per direct source').argParser(seconds).default(3),
    )
    .addHelpText(
      'after',
      '\nRun it as the worker (same identity, same network). Exit 0: nothing to fix; 1: something to fix.',
    )
    .action(async (o: { plan: string; id?: string; connectTimeout: number }) => {
      setExit(
        await gcpCheckCommand(o.plan, {
          connectTimeoutMs: o.connectTimeout * 1000,
          ...(o.id ? { migrationId: o.id } : {}),
        }),
      );
    });

  cli
    .command('replay')
    .description('replay histories against this code: from a file, by workflow id, or by visibility query')
    .option('--file <file>', 'a history file (temporal workflow show --output json, or dbmig history export)')
    .option('--workflow-id <id>', 'replay this workflow from the server (with --file: the id the file belongs to)')
    .option('--run-id <run>', 'with --workflow-id: this run')
    .option('--query <query>', 'replay every match, e.g. \'ExecutionStatus="Failed"\'')
    .action(async (o: { file?: string; workflowId?: string; runId?: string; query?: string }) => {
      setExit(await replayCommand(o, () => session.client()));
    });

  cli
    .command('history')
    .description('workflow histories')
    .command('export')
    .description('write a history as JSON (the same format as temporal workflow show --output json)')
    .argument('<workflow-id>', 'workflow id (a migration id, or MIGRATION/DATABASE for a child)')
    .requiredOption('--out <file>', 'where to write it')
    .option('--run-id <run>', 'a specific run')
    .action(async (workflowId: string, o: { out: string; runId?: string }) => {
      setExit(await exportCommand(workflowId, o, await session.client()));
    });

  cli
    .command('worker')
    .description('serve the migration task queue until SIGINT/SIGTERM')
    .addHelpText(
      'after',
      '\nTemporal connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, or a\n' +
        'temporal.toml profile (TEMPORAL_PROFILE), as the temporal CLI reads them. Also TEMPORAL_TASK_QUEUE,\n' +
        'DBMIG_STATE_DIR and DBMIG_METRICS_ADDRESS.\n' +
        'It first registers missing search attributes where it may (as `dbmig setup`); else it exits, saying why.',
    )
    .action(() => runWorker(undefined, { beforeRun: workerSearchAttributes }));

  return cli;
}

/** Runs one command line; resolves with the exit code (never exits the process itself). */
export async function main(argv: string[]): Promise<number> {
  const session = new Session();
  let code = 0;
  try {
    const cli = program(session, (c) => (code = c));
    if (argv.length === 0) {
      cli.outputHelp({ error: true });
      return EXIT_USAGE;
    }
    await cli.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, successfully.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    process.stderr.write(`dbmig: ${(err as Error).message}\n`);
    return err instanceof InvalidPlanError ? EXIT_USAGE : EXIT_FAILED;
  } finally {
    await session.close();
  }
}

export function runCli(argv = process.argv.slice(2)): void {
  void main(argv).then((code) => process.exit(code));
}

if (require.main === module) runCli();
