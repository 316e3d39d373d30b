// The output option every command that prints a result shares: `-o text|json` (text by default)
// and `--json`, its short form. JSON is one object on stdout, with stable keys and no colours;
// an error is one object too ({"error": {...}}), so a script always has something to parse.
import { Option, type Command } from 'commander';

export type OutputFormat = 'text' | 'json';

export interface OutputOptions {
  output?: OutputFormat;
  json?: boolean;
}

/** Adds `-o, --output <format>` and `--json` to a command; read them back with `outputFormat`. */
export function withOutput(cmd: Command): Command {
  return cmd
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addOption(new Option('--json', 'the same as -o json'));
}

export function outputFormat(opts: OutputOptions): OutputFormat {
  return opts.json || opts.output === 'json' ? 'json' : 'text';
}

/** One JSON document on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints the result in the chosen format: the object as JSON, or the text lines. */
export function printResult(format: OutputFormat, value: unknown, text: () => string): void {
  if (format === 'json') printJson(value);
  else console.log(text());
}

/** The error object JSON output ends with instead of a result. */
export function jsonError(
  err: unknown,
  exitCode: number,
): { error: { type: string; message: string; exitCode: number } } {
  const e = err instanceof Error ? err : new Error(String(err));
  return { error: { type: e.name, message: e.message, exitCode } };
}

/**
 * Whether a command line asks for JSON, read before commander parses it: its own errors (an
 * unknown option, a missing argument) happen before any action knows its options.
 */
export function argvWantsJson(argv: string[]): boolean {
  return argv.some(
    (a, i) =>
      a === '--json' ||
      a === '-ojson' ||
      a === '--output=json' ||
      (/^(-o|--output)$/.test(a) && argv[i + 1] === 'json'),
  );
}
