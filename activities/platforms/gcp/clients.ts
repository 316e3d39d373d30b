// The real Google Cloud client libraries, created lazily. All gax clients use the REST
// transport (compute only has REST), so tests against the local fake exercise the transport
// production uses. Tests pass an endpoint and an auth client; production uses ADC.
import type { AuthClient } from 'google-auth-library';
import type { datamigration_v1 } from 'googleapis';

/**
 * The Google client libraries, loaded on first use: together they cost a worker about 350 MB and
 * 3 s at start, which a worker that never runs a gcp plan (local, sim) should not pay.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const libs = {
  sql: () => require('@google-cloud/sql') as typeof import('@google-cloud/sql'),
  alloydb: () => require('@google-cloud/alloydb') as typeof import('@google-cloud/alloydb'),
  compute: () => require('@google-cloud/compute') as typeof import('@google-cloud/compute'),
  monitoring: () => require('@google-cloud/monitoring') as typeof import('@google-cloud/monitoring'),
  dashboards: () =>
    require('@google-cloud/monitoring-dashboards') as typeof import('@google-cloud/monitoring-dashboards'),
  secrets: () => require('@google-cloud/secret-manager') as typeof import('@google-cloud/secret-manager'),
  // Only the DMS API of googleapis, not its index of every Google API.
  datamigration: () =>
    require('googleapis/build/src/apis/datamigration') as typeof import('googleapis/build/src/apis/datamigration'),
  storage: () => require('@google-cloud/storage') as typeof import('@google-cloud/storage'),
  auth: () => require('google-auth-library') as typeof import('google-auth-library'),
};
/* eslint-enable @typescript-eslint/no-require-imports */

export interface GcpEndpoint {
  /** Host name or address, e.g. 127.0.0.1 for the fake. */
  host: string;
  port: number;
  protocol: 'http' | 'https';
}

export interface GcpClientOptions {
  endpoint?: GcpEndpoint;
  authClient?: AuthClient;
}

/** Reads DBMIG_GCP_ENDPOINT (e.g. http://127.0.0.1:8089) so a worker process can target a fake. */
export function endpointFromEnv(env: NodeJS.ProcessEnv = process.env): GcpEndpoint | undefined {
  if (!env.DBMIG_GCP_ENDPOINT) return undefined;
  const u = new URL(env.DBMIG_GCP_ENDPOINT);
  return {
    host: u.hostname,
    port: Number(u.port || (u.protocol === 'http:' ? 80 : 443)),
    protocol: u.protocol === 'http:' ? 'http' : 'https',
  };
}

export class GcpClients {
  private cache = new Map<string, unknown>();

  constructor(private readonly opts: GcpClientOptions = {}) {}

  private gaxOptions() {
    const e = this.opts.endpoint;
    return {
      fallback: true as const,
      ...(e ? { apiEndpoint: e.host, port: e.port, protocol: e.protocol } : {}),
      ...(this.opts.authClient ? { authClient: this.opts.authClient } : {}),
    };
  }

  private once<T>(key: string, make: () => T): T {
    if (!this.cache.has(key)) this.cache.set(key, make());
    return this.cache.get(key) as T;
  }

  // The gax constructors' option types differ between library majors; the shape is the same.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  get sqlInstances() {
    return this.once('sqlInstances', () => new (libs.sql().SqlInstancesServiceClient)(this.gaxOptions() as any));
  }
  get sqlOperations() {
    return this.once('sqlOperations', () => new (libs.sql().SqlOperationsServiceClient)(this.gaxOptions() as any));
  }
  get alloydb() {
    return this.once('alloydb', () => new (libs.alloydb().AlloyDBAdminClient)(this.gaxOptions() as any));
  }
  get futureReservations() {
    return this.once(
      'futureReservations',
      () => new (libs.compute().FutureReservationsClient)(this.gaxOptions() as any),
    );
  }
  get resizeRequests() {
    return this.once(
      'resizeRequests',
      () => new (libs.compute().InstanceGroupManagerResizeRequestsClient)(this.gaxOptions() as any),
    );
  }
  get instanceTemplates() {
    return this.once('instanceTemplates', () => new (libs.compute().InstanceTemplatesClient)(this.gaxOptions() as any));
  }
  get instanceGroupManagers() {
    return this.once(
      'instanceGroupManagers',
      () => new (libs.compute().InstanceGroupManagersClient)(this.gaxOptions() as any),
    );
  }
  get globalOperations() {
    return this.once('globalOperations', () => new (libs.compute().GlobalOperationsClient)(this.gaxOptions() as any));
  }
  get zoneOperations() {
    return this.once('zoneOperations', () => new (libs.compute().ZoneOperationsClient)(this.gaxOptions() as any));
  }
  get monitoring() {
    return this.once('monitoring', () => new (libs.monitoring().MetricServiceClient)(this.gaxOptions() as any));
  }
  get alertPolicies() {
    return this.once('alertPolicies', () => new (libs.monitoring().AlertPolicyServiceClient)(this.gaxOptions() as any));
  }
  get channels() {
    return this.once(
      'channels',
      () => new (libs.monitoring().NotificationChannelServiceClient)(this.gaxOptions() as any),
    );
  }
  get dashboards() {
    return this.once('dashboards', () => new (libs.dashboards().DashboardsServiceClient)(this.gaxOptions() as any));
  }
  get secrets() {
    return this.once('secrets', () => new (libs.secrets().SecretManagerServiceClient)(this.gaxOptions() as any));
  }
  /** Cloud Storage (JSON API): the bucket of a SQL Server source's backup files. */
  get storage() {
    return this.once('storage', () => {
      const e = this.opts.endpoint;
      return new (libs.storage().Storage)({
        ...(e ? { apiEndpoint: `${e.protocol}://${e.host}:${e.port}`, useAuthWithCustomEndpoint: true } : {}),
        ...(this.opts.authClient ? { authClient: this.opts.authClient as any } : {}),
      });
    });
  }
  get dms(): datamigration_v1.Datamigration {
    return this.once('dms', () => {
      const e = this.opts.endpoint;
      const auth =
        this.opts.authClient ??
        new (libs.auth().GoogleAuth)({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
      return libs.datamigration().datamigration({
        version: 'v1',
        auth: auth as any,
        ...(e ? { rootUrl: `${e.protocol}://${e.host}:${e.port}/` } : {}),
      });
    });
  }
  /* eslint-enable @typescript-eslint/no-explicit-any */

  async close(): Promise<void> {
    for (const c of this.cache.values()) {
      const closable = c as { close?: () => Promise<void> };
      if (typeof closable.close === 'function') await closable.close().catch(() => undefined);
    }
    this.cache.clear();
  }
}

export type { datamigration_v1 };
