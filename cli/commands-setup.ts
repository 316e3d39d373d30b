// `dbmig setup`, and the same check when `dbmig worker` starts: the namespace must know the search
// attributes the workflows set, or no workflow task completes.
import type { Logger, NativeConnection } from '@temporalio/worker';
import {
  isTemporalCloud,
  missingMessage,
  missingWhat,
  setupSearchAttributes,
  wrongTypeMessage,
  type SetupReport,
  type TemporalTarget,
} from '../client/setup';
import type { WorkerConfig } from '../worker/config';
import type { Session } from './session';

/** What setup did, as lines for the operator; `ok` is false while an attribute is still missing or mistyped. */
export function setupReport(report: SetupReport, target: TemporalTarget): { lines: string[]; ok: boolean } {
  const ns = report.namespace;
  const lines: string[] = [];
  if (report.registered.length) lines.push(`registered in namespace ${ns}: ${report.registered.join(', ')}`);
  const before = report.present.filter((n) => !report.registered.includes(n));
  if (before.length) lines.push(`already registered in namespace ${ns}: ${before.join(', ')}`);
  const wrong = wrongTypeMessage(report);
  if (wrong) lines.push(wrong);
  if (report.missing.length) {
    const where = isTemporalCloud(target)
      ? 'Temporal Cloud does not let a client add search attributes'
      : 'this connection may not add search attributes (it needs the admin role)';
    lines.push(`${missingWhat(report)}, and ${where}. Run:`);
    lines.push(...report.instructions.map((i) => `  ${i}`));
  }
  return { lines, ok: report.missing.length === 0 && report.wrongType.length === 0 };
}

export async function setupCommand(s: Session): Promise<number> {
  const { connection, target } = await s.env();
  const report = await setupSearchAttributes(connection, target);
  const { lines, ok } = setupReport(report, target);
  console.log(lines.join('\n'));
  return ok ? 0 : 1;
}

/** Before the worker polls: registers what is missing where it can, else refuses to start saying why. */
export async function workerSearchAttributes(
  connection: NativeConnection,
  config: WorkerConfig,
  logger?: Logger,
): Promise<void> {
  const warn = (m: string) => (logger ? logger.warn(m) : console.error(`dbmig worker: ${m}`));
  const info = (m: string) => (logger ? logger.info(m) : console.error(`dbmig worker: ${m}`));
  const target = {
    namespace: config.namespace,
    address: config.address,
    apiKey: config.connection.apiKey !== undefined,
  };
  let report: SetupReport;
  try {
    report = await setupSearchAttributes(connection, target);
  } catch (err) {
    warn(`could not check the search attributes (${(err as Error).message}); starting anyway`);
    return;
  }
  if (report.registered.length)
    info(`registered search attributes ${report.registered.join(', ')} in namespace ${target.namespace}`);
  const problem = wrongTypeMessage(report) ?? missingMessage(report);
  if (problem) throw new Error(problem);
}
