// `dbmig gcp check`: a read-only pre-flight of a gcp plan. It sends only reads (GETs, and
// testIamPermissions, which changes nothing) and answers what to fix before the plan runs, one
// table per check. It never logs in to a source and never resolves a password reference.
import type { AuthClient } from 'google-auth-library';
import type { Plan } from '../../../common/plan';
import { applicationDefault } from './billing';
import type { GcpEndpoint } from './clients';
import {
  checkApis,
  checkPermissions,
  checkPrivateServicesAccess,
  checkQuota,
  checkSources,
  type CheckResult,
} from './preflight-checks';
import { checkWorkers } from './preflight-workers';

export type { CheckResult, CheckStatus } from './preflight-checks';

/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-explicit-any */
const libs = {
  compute: () => require('@google-cloud/compute') as typeof import('@google-cloud/compute'),
  serviceUsage: () => require('@google-cloud/service-usage') as typeof import('@google-cloud/service-usage'),
  resourceManager: () => require('@google-cloud/resource-manager') as typeof import('@google-cloud/resource-manager'),
};

/**
 * The gax clients the check reads through, created on first use with REST transport, pointed at an
 * endpoint (the fake) when given, exactly as GcpClients (clients.ts) points the platform's.
 */
export class PreflightClients {
  private cache = new Map<string, unknown>();

  constructor(private readonly opts: { endpoint?: GcpEndpoint; authClient?: AuthClient } = {}) {}

  private options(): any {
    const e = this.opts.endpoint;
    return {
      fallback: true,
      ...(e ? { apiEndpoint: e.host, port: e.port, protocol: e.protocol } : {}),
      ...(this.opts.authClient ? { authClient: this.opts.authClient } : {}),
    };
  }

  private once<T>(key: string, make: () => T): T {
    if (!this.cache.has(key)) this.cache.set(key, make());
    return this.cache.get(key) as T;
  }

  get serviceUsage() {
    return this.once('su', () => new (libs.serviceUsage().ServiceUsageClient)(this.options()));
  }
  get projects() {
    return this.once('rm', () => new (libs.resourceManager().ProjectsClient)(this.options()));
  }
  get networks() {
    return this.once('networks', () => new (libs.compute().NetworksClient)(this.options()));
  }
  get globalAddresses() {
    return this.once('addresses', () => new (libs.compute().GlobalAddressesClient)(this.options()));
  }
  get instanceTemplates() {
    return this.once('templates', () => new (libs.compute().InstanceTemplatesClient)(this.options()));
  }
  get instanceGroupManagers() {
    return this.once('groups', () => new (libs.compute().InstanceGroupManagersClient)(this.options()));
  }
  get zones() {
    return this.once('zones', () => new (libs.compute().ZonesClient)(this.options()));
  }
  get regions() {
    return this.once('regions', () => new (libs.compute().RegionsClient)(this.options()));
  }
  get machineTypes() {
    return this.once('machineTypes', () => new (libs.compute().MachineTypesClient)(this.options()));
  }

  async close(): Promise<void> {
    for (const c of this.cache.values()) await (c as { close?: () => Promise<void> }).close?.().catch(() => undefined);
    this.cache.clear();
  }
}
/* eslint-enable @typescript-eslint/no-require-imports, @typescript-eslint/no-explicit-any */

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
      checkWorkers(ctx),
      checkQuota(ctx),
      checkSources(plan, opts.connectTimeoutMs ?? 3_000),
    ]);
    const results = groups.flat();
    return { results, ready: results.every((r) => r.status !== 'FIX') };
  } finally {
    await c.close();
  }
}
