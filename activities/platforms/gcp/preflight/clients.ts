// The read-only clients `dbmig gcp check` reads through (preflight.ts): apart from the check's
// entry point, so the checks can name them without importing it back.
import type { AuthClient } from 'google-auth-library';
import { GcpClients, type datamigration_v1, type GcpEndpoint } from '../clients';

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
  get advice() {
    return this.once('advice', () => new (libs.compute().AdviceClient)(this.options()));
  }
  get instances() {
    return this.once('instances', () => new (libs.compute().InstancesClient)(this.options()));
  }
  /** Cloud Storage, as the platform reads it (clients.ts): the SQL Server backups check's reads. */
  get storage() {
    return this.once('storage', () => new GcpClients(this.opts)).storage;
  }
  /** DMS through googleapis, as the platform reads it (clients.ts): the connectivity check's reads. */
  get dms(): datamigration_v1.Datamigration {
    return this.once('dms', () => new GcpClients(this.opts)).dms;
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
