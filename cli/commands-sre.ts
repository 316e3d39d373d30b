// The SRE commands: replay histories against the current code, export a history.
import type { Client } from '@temporalio/client';
import {
  exportHistory,
  historiesFromQuery,
  historyFromFile,
  historyFromServer,
  replay,
  type ReplayInput,
} from './replay';
import { UsageError } from './exit-codes';
import { printResult, type OutputFormat } from './output';

export interface SreArgs {
  file?: string;
  workflowId?: string;
  runId?: string;
  query?: string;
  out?: string;
}

/** Prints PASS/FAIL per history; returns the exit code (1 if any history fails to replay). */
export async function replayCommand(
  args: SreArgs,
  client: () => Promise<Client>,
  format: OutputFormat = 'text',
): Promise<number> {
  let inputs: ReplayInput[];
  if (args.file) inputs = [historyFromFile(args.file, args.workflowId)];
  else if (args.workflowId) inputs = [await historyFromServer(await client(), args.workflowId, args.runId)];
  else if (args.query) inputs = await historiesFromQuery(await client(), args.query);
  else throw new UsageError('replay needs --file FILE, --workflow-id ID [--run-id R] or --query "<visibility query>"');
  const outcomes = inputs.length ? await replay(inputs) : [];
  const failed = outcomes.filter((o) => !o.ok).length;
  printResult(format, { replayed: outcomes.length, passed: outcomes.length - failed, failed, outcomes }, () =>
    outcomes.length
      ? [
          ...outcomes.map(
            (o) =>
              `${o.ok ? 'PASS' : 'FAIL'}  ${o.workflowId}${o.runId ? ` (run ${o.runId})` : ''}` +
              (o.detail ? `\n      ${o.detail}` : ''),
          ),
          `${outcomes.length - failed} of ${outcomes.length} histories replay against the current code`,
        ].join('\n')
      : 'no history matched',
  );
  return failed ? 1 : 0;
}

export async function exportCommand(workflowId: string, args: SreArgs, client: Client): Promise<number> {
  if (!args.out) throw new Error('history export needs --out FILE');
  const events = await exportHistory(client, workflowId, args.out, args.runId);
  console.log(`wrote ${events} events of ${workflowId} to ${args.out}`);
  return 0;
}
