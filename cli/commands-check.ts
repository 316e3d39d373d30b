// `dbmig check ID --max-lag S --max-failed N --require STATE`: the gate a CI pipeline runs after
// (or during) a migration. It reads the fleet as `dbmig status` does and exits 0 when every bound
// holds, 1 with one reason per database and bound when one does not, 2 on bad usage; an id that
// names no migration is bad input too (2), so a pipeline tells a typo from an unhealthy fleet.
import { WorkflowNotFoundError } from '@temporalio/client';
import { Command, InvalidArgumentError } from 'commander';
import { getStatus } from '../client/client';
import { statusPreflight } from '../client/readiness';
import type { MigrationState } from '../common/states';
import { gateText, judgeFleet, parseStateName, type GateBounds } from './check-gate';
import { EXIT_FAILED, EXIT_OK, UsageError } from './exit-codes';
import { outputFormat, printResult, type OutputFormat, type OutputOptions } from './output';
import type { Session } from './session';

export async function checkCommand(s: Session, id: string, bounds: GateBounds, format: OutputFormat): Promise<number> {
  // Offline, before connecting: a gate without a bound would pass every fleet.
  if (bounds.maxLagSeconds === undefined && bounds.maxFailed === undefined && !bounds.require)
    throw new UsageError('give at least one bound: --max-lag SECONDS, --max-failed N or --require STATE');
  const client = await s.client();
  await statusPreflight(client, id);
  const status = await getStatus(client, id).catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError)
      throw new UsageError(`no migration "${id}" in namespace ${client.options.namespace} (dbmig list shows them)`);
    throw err;
  });
  const result = judgeFleet(status, bounds);
  printResult(format, result, () => gateText(result));
  return result.ok ? EXIT_OK : EXIT_FAILED;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number ≥ 0');
  return n;
}

function count(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError('must be a whole number ≥ 0');
  return n;
}

/** --require repeats and takes comma lists: every database is in one of the states named. */
function states(value: string, previous: MigrationState[] | undefined): MigrationState[] {
  const out = [...(previous ?? [])];
  for (const name of value.split(',').filter((n) => n.trim() !== '')) {
    const parsed = parseStateName(name);
    if ('error' in parsed) throw new InvalidArgumentError(parsed.error);
    if (!out.includes(parsed.state)) out.push(parsed.state);
  }
  if (!out.length) throw new InvalidArgumentError('name a state, e.g. COMPLETED');
  return out;
}

type CheckOptions = OutputOptions & { maxLag?: number; maxFailed?: number; require?: MigrationState[] };

/** The command's options and help, on a command main.ts has given the connection and output options. */
export function defineCheck(
  cmd: Command,
  run: (id: string, bounds: GateBounds, format: OutputFormat) => Promise<void>,
): Command {
  return cmd
    .description('CI gate: exit 0 when the fleet meets every bound given, 1 (with the reasons) when not')
    .argument('<id>', 'migration id')
    .option('--max-lag <seconds>', 'every replicating database lags at most this much', nonNegative)
    .option('--max-failed <n>', 'at most n databases are FAILED or NEEDS_ATTENTION', count)
    .option('--require <state>', 'every database is in this state (repeat, or a comma list: any of them)', states)
    .addHelpText(
      'after',
      '\nReplicating: CDC, VALIDATING, AWAITING_APPROVAL, APPROVED_WAITING_WINDOW; one of them without a lag\n' +
        'reading fails --max-lag ("no lag reading"); the others have no forward replication to judge. States are\n' +
        'the ones dbmig status shows, in any case, - or _ (awaiting-approval). Exit 2: bad usage, no bound given,\n' +
        'or an id that names no migration. Documented in docs/ci-gate.md.',
    )
    .action(async (id: string, o: CheckOptions) => {
      const bounds: GateBounds = {
        ...(o.maxLag !== undefined ? { maxLagSeconds: o.maxLag } : {}),
        ...(o.maxFailed !== undefined ? { maxFailed: o.maxFailed } : {}),
        ...(o.require ? { require: o.require } : {}),
      };
      await run(id, bounds, outputFormat(o));
    });
}
