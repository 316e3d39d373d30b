// `dbmig gcp check --plan FILE`: what to fix on Google Cloud before a gcp plan runs. Read-only;
// exit 0 when nothing needs fixing (warnings allowed), 1 otherwise.
import { endpointFromEnv } from '../activities/platforms/gcp/clients';
import { runPreflight, type CheckResult, type PreflightOptions } from '../activities/platforms/gcp/preflight';
import { loadPlan } from '../client/plan-file';
import { UsageError } from './exit-codes';
import { table } from './format';
import { printResult, type OutputFormat } from './output';

/** One table per check, in the order they ran, and a last line that says whether the plan may run. */
export function checkReport(results: CheckResult[], project: string): string {
  const checks = [...new Set(results.map((r) => r.check))];
  const blocks = checks.map((check) => {
    const rows = results.filter((r) => r.check === check).map((r) => [r.status, r.what, r.fix]);
    return `${check}\n${table(['STATUS', 'WHAT', 'HOW TO FIX'], rows)}`;
  });
  const fix = results.filter((r) => r.status === 'FIX').length;
  const warn = results.filter((r) => r.status === 'WARN').length;
  const verdict = fix
    ? `${fix} to fix${warn ? `, ${warn} warning(s)` : ''}: fix them, then run dbmig gcp check again`
    : `nothing to fix${warn ? ` (${warn} warning(s))` : ''}: the plan may run`;
  return [`dbmig gcp check: project ${project} (read-only: nothing is created or changed)`, ...blocks, verdict].join(
    '\n\n',
  );
}

export async function gcpCheckCommand(
  file: string,
  opts: PreflightOptions = {},
  format: OutputFormat = 'text',
): Promise<number> {
  const { plan } = loadPlan(file);
  if (plan.platform !== 'gcp' || !plan.gcp)
    throw new UsageError(`${file}: dbmig gcp check needs a gcp plan (platform: gcp with a gcp section)`);
  const endpoint = opts.endpoint ?? endpointFromEnv();
  const report = await runPreflight(plan, { ...opts, ...(endpoint ? { endpoint } : {}) });
  const project = plan.gcp.project;
  printResult(format, { project, ready: report.ready, results: report.results }, () =>
    checkReport(report.results, project),
  );
  return report.ready ? 0 : 1;
}
