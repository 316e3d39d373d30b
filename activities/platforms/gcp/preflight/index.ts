// `dbmig gcp check`: a read-only pre-flight of a gcp plan. It sends only reads (GETs, and
// testIamPermissions, which changes nothing) and answers what to fix before the plan runs, one
// table per check. It never logs in to a source and never resolves a password reference.
import type { AuthClient } from 'google-auth-library';
import type { Plan } from '../../../../common/plan';
import { applicationDefault } from '../billing/catalog';
import type { GcpEndpoint } from '../clients';
import {
  checkApis,
  checkPermissions,
  checkPrivateServicesAccess,
  checkQuota,
  checkSources,
  type CheckResult,
} from './checks';
import { checkCalendarAdvice } from './calendar';
import { PreflightClients } from './clients';
import { checkConnectivity } from './connectivity';
import { checkSqlServerBackups } from './sqlserver';
import { checkWorkers } from './workers';

export type { CheckResult, CheckStatus } from './checks';

export interface PreflightOptions {
  endpoint?: GcpEndpoint;
  authClient?: AuthClient;
  /** TCP connect timeout per direct source (default 3 s). */
  connectTimeoutMs?: number;
  /** Per-request deadline for the Google reads (default 20 s). */
  requestTimeoutMs?: number;
  /**
   * The id the migration will start with (dbmig start --id), which the workers' template and MIG
   * names derive from; default the plan's migrationId.
   */
  migrationId?: string;
}

export interface PreflightReport {
  results: CheckResult[];
  /** True when nothing needs fixing (warnings allowed). */
  ready: boolean;
}

/** Runs every check; each check reports its own failures, so one broken API does not hide the rest. */
export async function runPreflight(plan: Plan, opts: PreflightOptions = {}): Promise<PreflightReport> {
  if (plan.platform !== 'gcp' || !plan.gcp)
    throw new Error('dbmig gcp check: the plan is not a gcp plan (platform: gcp)');
  const authClient = opts.authClient ?? (await applicationDefault());
  const c = new PreflightClients({ ...opts, authClient });
  const ctx = { plan, gcp: plan.gcp, c, timeout: opts.requestTimeoutMs ?? 20_000, migrationId: opts.migrationId };
  try {
    const groups = await Promise.all([
      checkApis(ctx),
      checkPermissions(ctx),
      checkPrivateServicesAccess(ctx),
      checkConnectivity(ctx),
      checkWorkers(ctx),
      checkQuota(ctx),
      checkCalendarAdvice(ctx),
      checkSqlServerBackups(ctx),
      checkSources(plan, opts.connectTimeoutMs ?? 3_000),
    ]);
    const results = groups.flat();
    return { results, ready: results.every((r) => r.status !== 'FIX') };
  } finally {
    await c.close();
  }
}
