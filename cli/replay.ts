// Replays histories against the current workflow code, for SREs: one history from a file (the
// `temporal workflow show --output json` format), one from the server, or every match of a
// visibility query. A failure carries the SDK's non-determinism detail.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Client } from '@temporalio/client';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { childWorkflowId } from '../common/naming';
import { quietLogger, workflowsPath } from '../worker/bundle';

type History = temporal.api.history.v1.IHistory;

export interface ReplayInput {
  workflowId: string;
  runId?: string;
  history: History;
}

export interface ReplayOutcome {
  workflowId: string;
  runId?: string;
  ok: boolean;
  detail?: string;
}

/**
 * A history does not carry its own workflow id, and replay needs it (child ids derive from it):
 * a child's input names its migration and database; a parent's children carry its id as prefix.
 */
export function inferWorkflowId(history: History, fallback: string): string {
  const events = history.events ?? [];
  const input = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
  if (input) {
    try {
      const arg = JSON.parse(Buffer.from(input).toString('utf8')) as {
        migrationId?: string;
        database?: { name?: string };
      };
      if (arg.migrationId && arg.database?.name) return childWorkflowId(arg.migrationId, arg.database.name);
    } catch {
      // not JSON: fall through
    }
  }
  const child = events.find((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)
    ?.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
  if (child && child.includes('/')) return child.slice(0, child.lastIndexOf('/'));
  return fallback;
}

export function historyFromFile(path: string, workflowId?: string): ReplayInput {
  const history = historyFromJSON(JSON.parse(readFileSync(path, 'utf8')));
  return {
    workflowId:
      workflowId ??
      inferWorkflowId(
        history,
        basename(path)
          .replace(/\.json$/, '')
          .replace(/__/g, '/'),
      ),
    history,
  };
}

export async function historyFromServer(client: Client, workflowId: string, runId?: string): Promise<ReplayInput> {
  return { workflowId, runId, history: await client.workflow.getHandle(workflowId, runId).fetchHistory() };
}

export async function historiesFromQuery(client: Client, query: string): Promise<ReplayInput[]> {
  const out: ReplayInput[] = [];
  for await (const wf of client.workflow.list({ query }))
    out.push(await historyFromServer(client, wf.workflowId, wf.runId));
  return out;
}

export async function exportHistory(client: Client, workflowId: string, out: string, runId?: string): Promise<number> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  writeFileSync(out, JSON.stringify(JSON.parse(historyToJSON(history)), null, 2));
  return history.events?.length ?? 0;
}

/** Replays each history; the workflow code is bundled once (from `workflows` if given, else ours). */
export async function replay(inputs: ReplayInput[], opts: { workflows?: string } = {}): Promise<ReplayOutcome[]> {
  const bundle = await bundleWorkflowCode({ workflowsPath: opts.workflows ?? workflowsPath(), logger: quietLogger });
  const options: ReplayWorkerOptions = { workflowBundle: bundle };
  const outcomes: ReplayOutcome[] = [];
  for (const input of inputs) {
    try {
      await Worker.runReplayHistory(options, input.history, input.workflowId);
      outcomes.push({ workflowId: input.workflowId, runId: input.runId, ok: true });
    } catch (err) {
      outcomes.push({
        workflowId: input.workflowId,
        runId: input.runId,
        ok: false,
        detail: `${(err as Error).name}: ${(err as Error).message}`,
      });
    }
  }
  return outcomes;
}
