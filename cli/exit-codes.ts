// dbmig's exit codes, the same for every command: 0 done; 1 the operation failed, was refused, or
// the fleet is not healthy; 2 bad usage or bad input, found before anything is called.
import { CommanderError } from 'commander';
import { PlanError } from '../client/plan-file';
import { TemporalConfigError } from '../client/temporal-target';
import { InvalidPlanError } from '../common/plan';
import { WorkerConfigError } from '../worker/config';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Bad usage or bad input that commander itself cannot see (e.g. options that exclude each other). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The exit code for an error that ended a command. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  const badInput =
    err instanceof UsageError ||
    err instanceof InvalidPlanError ||
    err instanceof PlanError ||
    err instanceof TemporalConfigError ||
    err instanceof WorkerConfigError;
  return badInput ? EXIT_USAGE : EXIT_FAILED;
}

export const EXIT_CODES_HELP = `
Exit codes (every command):
  0  done: the command did what it says; status: no database is FAILED or NEEDS_ATTENTION
  1  the operation failed or was refused, Temporal could not be reached, or the fleet is not healthy
     (status: a database is FAILED or NEEDS_ATTENTION; status --watch: one ended so. A database that
     ended COMPLETED, FINALIZED, ROLLED_BACK or CANCELLED ended as planned or as an operator asked.)
     check: a bound given does not hold, one reason a line (0: the fleet meets every bound)
  2  bad usage or bad input: an unknown option or command, a missing argument, a plan file that is
     missing or does not parse, an invalid plan, an unusable Temporal profile or worker setting;
     check: no bound given, or an id that names no migration`;
