// The real Google Cloud client libraries, created lazily. All gax clients use the REST
// transport (compute only has REST), so tests against the local fake exercise the transport
// production uses. Tests pass an endpoint and an auth client; production uses ADC.
import type { AuthClient } from 'google-auth-library';
import { google, type datamigration_v1 } from 'googleapis';
import { SqlInstancesServiceClient, SqlOperationsServiceClient } from '@google-cloud/sql';
import { AlloyDBAdminClient } from '@google-cloud/alloydb';
import {
  FutureReservationsClient,
  InstanceGroupManagerResizeRequestsClient,
  ZoneOperationsClient,
} from '@google-cloud/compute';
import { MetricServiceClient } from '@google-cloud/monitoring';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';

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
    return this.once('sqlInstances', () => new SqlInstancesServiceClient(this.gaxOptions() as any));
  }
  get sqlOperations() {
    return this.once('sqlOperations', () => new SqlOperationsServiceClient(this.gaxOptions() as any));
  }
  get alloydb() {
    return this.once('alloydb', () => new AlloyDBAdminClient(this.gaxOptions() as any));
  }
  get futureReservations() {
    return this.once('futureReservations', () => new FutureReservationsClient(this.gaxOptions() as any));
  }
  get resizeRequests() {
    return this.once('resizeRequests', () => new InstanceGroupManagerResizeRequestsClient(this.gaxOptions() as any));
  }
  get zoneOperations() {
    return this.once('zoneOperations', () => new ZoneOperationsClient(this.gaxOptions() as any));
  }
  get monitoring() {
    return this.once('monitoring', () => new MetricServiceClient(this.gaxOptions() as any));
  }
  get secrets() {
    return this.once('secrets', () => new SecretManagerServiceClient(this.gaxOptions() as any));
  }
  get dms(): datamigration_v1.Datamigration {
    return this.once('dms', () => {
      const e = this.opts.endpoint;
      const auth =
        this.opts.authClient ??
        new google.auth.GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
      return google.datamigration({
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
