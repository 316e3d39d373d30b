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

export interface SreArgs {
  file?: string;
  workflowId?: string;
  runId?: string;
  query?: string;
  out?: string;
}

/** Prints PASS/FAIL per history; returns the exit code (1 if any history fails to replay). */
export async function replayCommand(args: SreArgs, client: () => Promise<Client>): Promise<number> {
  let inputs: ReplayInput[];
  if (args.file) inputs = [historyFromFile(args.file, args.workflowId)];
  else if (args.workflowId) inputs = [await historyFromServer(await client(), args.workflowId, args.runId)];
  else if (args.query) inputs = await historiesFromQuery(await client(), args.query);
  else throw new Error('replay needs --file FILE, --workflow-id ID [--run-id R] or --query "<visibility query>"');
  if (!inputs.length) {
    console.log('no history matched');
    return 0;
  }
  const outcomes = await replay(inputs);
  for (const o of outcomes)
    console.log(
      `${o.ok ? 'PASS' : 'FAIL'}  ${o.workflowId}${o.runId ? ` (run ${o.runId})` : ''}` +
        (o.detail ? `\n      ${o.detail}` : ''),
    );
  const failed = outcomes.filter((o) => !o.ok).length;
  console.log(`${outcomes.length - failed} of ${outcomes.length} histories replay against the current code`);
  return failed ? 1 : 0;
}

export async function exportCommand(workflowId: string, args: SreArgs, client: Client): Promise<number> {
  if (!args.out) throw new Error('history export needs --out FILE');
  const events = await exportHistory(client, workflowId, args.out, args.runId);
  console.log(`wrote ${events} events of ${workflowId} to ${args.out}`);
  return 0;
}
