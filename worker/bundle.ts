// Where the workflow code is and how to bundle it. Kept apart from worker.ts, which loads every
// platform (the Google Cloud libraries take seconds to load), so replay and tests that only
// bundle stay fast.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';

export function workflowsPath(): string {
  const ts = join(__dirname, '..', 'workflows', 'index.ts');
  return existsSync(ts) ? ts : join(__dirname, '..', 'workflows', 'index.js');
}

const quiet = () => undefined;
/** The bundler reports every module at info level; only its warnings and errors matter here. */
export const quietLogger = {
  log: quiet,
  trace: quiet,
  debug: quiet,
  info: quiet,
  warn: console.warn,
  error: console.error,
};

/** Bundling takes seconds; tests and the demo bundle once and share it between workers. */
export function bundleWorkflows(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: quietLogger });
}
