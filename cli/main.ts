// dbmig: start, watch, approve and steer fleet migrations; replay histories; run a worker.
// Arguments are checked before anything connects, so a typo fails fast and offline. Exit codes
// (cli/exit-codes.ts): 0 done, 1 the operation failed or was refused, 2 bad usage or bad input.
// The worker, the Google Cloud checks and the rehearsal load what they need when they run: the
// platforms pull in the Google Cloud libraries, seconds a `dbmig status` should not wait for.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { PlanError } from '../client/plan-file';
import { ConnectionFailedError, resolveTemporal, type TemporalFlags } from '../client/temporal-target';
import { parseDuration } from '../common/durations';
import { migrationIdProblem } from '../common/plan-fields';
import { planJsonSchemaText } from '../common/plan-json-schema';
import { dbmigVersion } from '../worker/version';
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
import { checkCommand, defineCheck } from './commands-check';
import { listCommand } from './commands-list';
import { lazy } from './lazy';
import { exportCommand, replayCommand } from './commands-sre';
import { setupCommand, workerSearchAttributes } from './commands-setup';
import { EXIT_CODES_HELP, EXIT_FAILED, EXIT_USAGE, exitCodeFor } from './exit-codes';
import {
  argvWantsJson,
  jsonError,
  outputFormat,
  printJson,
  printResult,
  withOutput,
  type OutputOptions,
} from './output';
import { Session } from './session';

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
}

/** --id is checked here, offline, before any command connects: it names the workflow and every resource. */
function migrationId(value: string): string {
  const problem = migrationIdProblem(value);
  if (problem) throw new InvalidArgumentError(problem);
  return value;
}

function durationArg(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError('must be a duration like 30m, 4h or 2d');
  return ms;
}

function dateArg(value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError('must be a date like 2026-12-24T08:00:00Z');
  return d;
}

function percent(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 100) throw new InvalidArgumentError('must be a percentage in (0, 100]');
  return n;
}

const fmt = (o: OutputOptions) => outputFormat(o);

const TEMPORAL_OPTIONS = [
  ['--address <host:port>', 'Temporal frontend (over TEMPORAL_ADDRESS and the temporal.toml profile)'],
  ['--namespace <name>', 'Temporal namespace (over TEMPORAL_NAMESPACE and the profile)'],
  ['--profile <name>', 'temporal.toml profile to read (over TEMPORAL_PROFILE; default "default")'],
] as const;

/**
 * The connection options, on the program (before the command) and on each command that connects
 * (after it): commander reads a program option only before the command name.
 */
function withTemporal(cmd: Command): Command {
  for (const [flags, what] of TEMPORAL_OPTIONS) cmd.option(flags, what);
  return cmd;
}

function temporalFlags(...commands: Command[]): TemporalFlags {
  const flags: TemporalFlags = {};
  for (const c of commands) {
    const o = c.opts<TemporalFlags>();
    if (o.address) flags.address = o.address;
    if (o.namespace) flags.namespace = o.namespace;
    if (o.profile) flags.profile = o.profile;
  }
  return flags;
}

function program(session: Session, setExit: (code: number) => void, quietErrors: boolean): Command {
  const cli = withTemporal(
    new Command('dbmig')
      .description('A durable orchestrator for fleets of database migrations, on Temporal')
      .version(dbmigVersion(), '-V, --version', 'print the version of dbmig'),
  )
    .showHelpAfterError('(dbmig help COMMAND shows its options)')
    .exitOverride()
    // With JSON output the error is printed once, as JSON, by main().
    .configureOutput({ writeErr: (s) => (quietErrors ? undefined : process.stderr.write(s)) })
    .addHelpText(
      'after',
      '\nTemporal connection: --address, --namespace and --profile, over TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,\n' +
        'TEMPORAL_PROFILE and the temporal.toml config file (TEMPORAL_CONFIG_FILE, else\n' +
        '~/.config/temporalio/temporal.toml), over localhost:7233 and namespace default: as the temporal CLI.\n' +
        EXIT_CODES_HELP,
    );
  cli.hook('preAction', (_, action) => {
    session.flags = temporalFlags(cli, ...(action.parent && action.parent !== cli ? [action.parent] : []), action);
  });

  withTemporal(cli.command('setup'))
    .description('register the search attributes the workflows set in the namespace (once per namespace)')
    .addHelpText(
      'after',
      '\nIdempotent. On Temporal Cloud, which does not let a client add them, it prints the tcld command instead.',
    )
    .action(async () => setExit(await setupCommand(session)));

  withOutput(cli.command('plan'))
    .description('dry run: the operations per database, in start order, calling nothing')
    .requiredOption('--plan <file>', 'the plan (YAML or JSON)')
    .addOption(new Option('--id <id>', 'the migration id the resource names derive from').argParser(migrationId))
    .option(
      '--prices-online',
      'gcp: price the estimate from the Cloud Billing Catalog API (DBMIG_PRICES_TIMEOUT_MS, 5 s), not the table',
    )
    .option('--wide', 'print every column in full (default: fit 120 columns, wrapping long cells)')
    .action((o: OutputOptions & { plan: string; id?: string; pricesOnline?: boolean; wide?: boolean }) =>
      planCommand(o.plan, o.id, { pricesOnline: o.pricesOnline, wide: o.wide, output: fmt(o) }),
    );

  cli
    .command('schema')
    .description("print the plan's JSON Schema (the same as plan.schema.json), for editors and validators")
    .action(() => {
      process.stdout.write(planJsonSchemaText());
    });

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
      const { rehearse } = lazy.rehearse();
      const { ok, report } = await rehearse(o.plan, { samplePct: o.sample, keep: o.keep });
      console.log(report);
      setExit(ok ? 0 : EXIT_FAILED);
    });

  withOutput(cli.command('forecast'))
    .description(
      'when the fleet will finish: the plan run on the simulated platform, calibrated by the latest rehearsal',
    )
    .requiredOption('--plan <file>', 'the plan (YAML or JSON)')
    .addOption(
      new Option('--approval-wait <duration>', 'how long a manual approval takes (default 1h)').argParser(durationArg),
    )
    .addOption(new Option('--start <date>', 'when the fleet starts (default now)').argParser(dateArg))
    .addHelpText(
      'after',
      '\nEach database is calibrated from the newest `dbmig rehearse` of this plan, else of a database of the same\n' +
        'name, else from named defaults (the report says which). Nothing real is touched.',
    )
    .action(async (o: { plan: string; approvalWait?: number; start?: Date } & OutputOptions) => {
      const f = await lazy.forecast().forecast(o.plan, { approvalWaitMs: o.approvalWait, start: o.start });
      printResult(outputFormat(o), f, () => lazy.forecastReport().forecastReport(f));
    });

  withTemporal(cli.command('start'))
    .description('start a migration from a YAML or JSON plan')
    .requiredOption('--plan <file>', 'the plan (YAML or JSON)')
    .addOption(
      new Option('--id <id>', 'the migration id (default: the plan’s migrationId, else a timestamp)').argParser(
        migrationId,
      ),
    )
    .action((o: { plan: string; id?: string }) => startCommand(session, o.plan, o.id));

  withOutput(withTemporal(cli.command('status')))
    .description('a row per database: state, lag, rows, write block, last error')
    .argument('<id>', 'migration id')
    .option('--watch', 'redraw until every database has finished (with -o json: print the final status)')
    .addOption(new Option('--interval <seconds>', 'redraw interval with --watch').argParser(seconds).default(2))
    .option('--database <name>', "only this database, with its copy's progress table by table")
    .addHelpText(
      'after',
      '\nExit 1 when a database is (with --watch: ended) FAILED or NEEDS_ATTENTION; 0 otherwise: COMPLETED,\n' +
        'FINALIZED, ROLLED_BACK and CANCELLED are ends as planned or as an operator asked.',
    )
    .action(async (id: string, o: OutputOptions & { watch?: boolean; interval: number; database?: string }) =>
      setExit(
        await statusCommand(session, id, {
          format: fmt(o),
          watch: o.watch,
          interval: o.interval,
          database: o.database,
        }),
      ),
    );

  defineCheck(withOutput(withTemporal(cli.command('check'))), async (id, bounds, format) =>
    setExit(await checkCommand(session, id, bounds, format)),
  );

  withOutput(
    withTemporal(cli.command('list'))
      .description('migrations and their databases by state, from the visibility store (no worker needed)')
      .option('--state <state>', 'only databases in this state, one row each (e.g. FAILED, AWAITING_APPROVAL)'),
  )
    .addHelpText('after', '\nA database is listed once its own workflow has started; dbmig status ID shows every one.')
    .action(async (o: OutputOptions & { state?: string }) =>
      setExit(await listCommand(session, { state: o.state, format: fmt(o) })),
    );

  withOutput(withTemporal(cli.command('approve')))
    .description('approve the cutover of a database that awaits approval')
    .argument('<id>', 'migration id')
    .argument('<database>', 'database name in the plan')
    .requiredOption('--approver <name>', 'who approves (recorded in the history)')
    .option('--comment <text>', 'why, for the record')
    .action((id: string, db: string, o: OutputOptions & { approver: string; comment?: string }) =>
      approveCommand(session, fmt(o), id, db, o.approver, o.comment),
    );

  withOutput(withTemporal(cli.command('reject')))
    .description('reject the cutover of a database that awaits approval (it compensates)')
    .argument('<id>', 'migration id')
    .argument('<database>', 'database name in the plan')
    .requiredOption('--approver <name>', 'who rejects (recorded in the history)')
    .option('--reason <text>', 'why, for the record')
    .action((id: string, db: string, o: OutputOptions & { approver: string; reason?: string }) =>
      rejectCommand(session, fmt(o), id, db, o.approver, o.reason),
    );

  withOutput(withTemporal(cli.command('revoke')))
    .description('take back an approval before the cutover starts (it awaits a decision again)')
    .argument('<id>', 'migration id')
    .argument('<database>', 'database name in the plan')
    .requiredOption('--approver <name>', 'who revokes (recorded in the history)')
    .option('--reason <text>', 'why, for the record')
    .action((id: string, db: string, o: OutputOptions & { approver: string; reason?: string }) =>
      revokeCommand(session, fmt(o), id, db, o.approver, o.reason),
    );

  withOutput(withTemporal(cli.command('rollback')))
    .description('give a COMPLETED database back to its source, while reverse replication still runs')
    .argument('<id>', 'migration id')
    .argument('<database>', 'database name in the plan')
    .requiredOption('--by <name>', 'who decides (recorded in the history)')
    .option('--reason <text>', 'why, for the record')
    .action((id: string, db: string, o: OutputOptions & { by: string; reason?: string }) =>
      rollbackCommand(session, fmt(o), id, db, o.by, o.reason),
    );

  withOutput(withTemporal(cli.command('finalize')))
    .description('end the reverse replication of a COMPLETED database: no rollback after this')
    .argument('<id>', 'migration id')
    .argument('<database>', 'database name in the plan')
    .requiredOption('--by <name>', 'who decides (recorded in the history)')
    .option('--acknowledge-source-writes', 'finalize although writes were found on the closed source (explained)')
    .action((id: string, db: string, o: OutputOptions & { by: string; acknowledgeSourceWrites?: boolean }) =>
      finalizeCommand(session, fmt(o), id, db, o.by, o.acknowledgeSourceWrites === true),
    );

  withOutput(withTemporal(cli.command('pause')))
    .description('start no new database until resumed; running ones go on')
    .argument('<id>', 'migration id')
    .action((id: string, o: OutputOptions) => pauseCommand(session, fmt(o), id, true));
  withOutput(withTemporal(cli.command('resume')))
    .description('start databases again')
    .argument('<id>', 'migration id')
    .action((id: string, o: OutputOptions) => pauseCommand(session, fmt(o), id, false));

  withOutput(withTemporal(cli.command('cancel')))
    .description('cancel one database (it compensates first), or give up a FAILED one')
    .argument('<id>', 'migration id')
    .argument('<database>', 'database name in the plan')
    .action((id: string, db: string, o: OutputOptions) => cancelCommand(session, fmt(o), id, db));

  withOutput(withTemporal(cli.command('retry')))
    .description('run a FAILED or CANCELLED database again from the start')
    .argument('<id>', 'migration id')
    .argument('<database>', 'database name in the plan')
    .action((id: string, db: string, o: OutputOptions) => retryCommand(session, fmt(o), id, db));

  const gcp = cli.command('gcp').description('Google Cloud');
  withOutput(gcp.command('check'))
    .description('read-only pre-flight of a gcp plan: APIs, IAM, private services access, workers, quota, sources')
    .requiredOption('--plan <file>', 'the plan (YAML or JSON)')
    .addOption(
      new Option(
        '--id <id>',
        "the migration id it will start with (default the plan's migrationId): worker names derive from it",
      ).argParser(migrationId),
    )
    .addOption(
      new Option('--connect-timeout <seconds>', 'TCP connect timeout per direct source').argParser(seconds).default(3),
    )
    .addHelpText(
      'after',
      '\nRun it as the worker (same identity, same network). Exit 0: nothing to fix; 1: something to fix.',
    )
    .action(async (o: OutputOptions & { plan: string; id?: string; connectTimeout: number }) => {
      const { gcpCheckCommand } = lazy.gcp();
      const opts = { connectTimeoutMs: o.connectTimeout * 1000, ...(o.id ? { migrationId: o.id } : {}) };
      setExit(await gcpCheckCommand(o.plan, opts, fmt(o)));
    });

  withOutput(withTemporal(cli.command('replay')))
    .description('replay histories against this code: from a file, by workflow id, or by visibility query')
    .option('--file <file>', 'a history file (temporal workflow show --output json, or dbmig history export)')
    .option('--workflow-id <id>', 'replay this workflow from the server (with --file: the id the file belongs to)')
    .option('--run-id <run>', 'with --workflow-id: this run')
    .option('--query <query>', 'replay every match, e.g. \'ExecutionStatus="Failed"\'')
    .action(async (o: OutputOptions & { file?: string; workflowId?: string; runId?: string; query?: string }) => {
      setExit(await replayCommand(o, () => session.client(), fmt(o)));
    });

  const history = cli.command('history').description('workflow histories');
  withTemporal(history.command('export'))
    .description('write a history as JSON (the same format as temporal workflow show --output json)')
    .argument('<workflow-id>', 'workflow id (a migration id, or MIGRATION/DATABASE for a child)')
    .requiredOption('--out <file>', 'where to write it')
    .option('--run-id <run>', 'a specific run')
    .action(async (workflowId: string, o: { out: string; runId?: string }) => {
      setExit(await exportCommand(workflowId, o, await session.client()));
    });

  withTemporal(cli.command('worker'))
    .description('serve the migration task queue and its data plane until SIGINT/SIGTERM')
    .addOption(
      new Option(
        '--data-plane',
        'serve only the data plane (<task queue>-data): the snapshot copy and the validations',
      ).conflicts('controlPlane'),
    )
    .option('--control-plane', 'serve only the task queue: the workflows and every other step')
    .addHelpText(
      'after',
      '\nBy default one worker serves both. To spread the data work over machines, run workers with\n' +
        '--data-plane on them (as many as you like, same TEMPORAL_TASK_QUEUE) and keep at least one\n' +
        'worker without it; with --control-plane alone the copy and the validations wait for a data-plane worker.\n' +
        '\nTemporal connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, or a\n' +
        'temporal.toml profile (TEMPORAL_PROFILE), as the temporal CLI reads them. Also TEMPORAL_TASK_QUEUE,\n' +
        'DBMIG_STATE_DIR, DBMIG_METRICS_ADDRESS (HOST:PORT of the Prometheus exporter, default 127.0.0.1:9464;\n' +
        '`off` or empty: none), DBMIG_LOG_FORMAT (text or json) and DBMIG_LOG_LEVEL (debug, info, warn, error).\n' +
        'It first registers missing search attributes where it may (as `dbmig setup`); else it exits, saying why.',
    )
    .action(async (o: { dataPlane?: boolean; controlPlane?: boolean }) => {
      const { runWorker, configFromEnv } = lazy.worker();
      const target = resolveTemporal(session.flags);
      const plane = o.dataPlane ? 'data' : o.controlPlane ? 'control' : 'both';
      await runWorker(
        { ...configFromEnv(target.env), plane },
        {
          beforeRun: workerSearchAttributes,
          connectError: (err) => new ConnectionFailedError(target, err.message),
        },
      );
    });

  return cli;
}

/** Runs one command line; resolves with the exit code (never exits the process itself). */
export async function main(argv: string[]): Promise<number> {
  const session = new Session();
  const json = argvWantsJson(argv);
  let code = 0;
  try {
    const cli = program(session, (c) => (code = c), json);
    if (argv.length === 0) {
      cli.outputHelp({ error: true });
      return EXIT_USAGE;
    }
    await cli.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    // --help and --version end here too, successfully; commander has printed its own errors.
    const exit = exitCodeFor(err);
    if (json && exit !== 0) printJson(jsonError(err, exit));
    // A plan's problems are file:line:column lines, as a compiler prints them: no prefix.
    else if (err instanceof PlanError) process.stderr.write(`${err.message}\n`);
    else if (!(err instanceof CommanderError)) process.stderr.write(`dbmig: ${(err as Error).message}\n`);
    return exit;
  } finally {
    await session.close();
  }
}

export function runCli(argv = process.argv.slice(2)): void {
  void main(argv).then((code) => process.exit(code));
}

if (require.main === module) runCli();
