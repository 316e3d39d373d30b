// The assembled fake: every Google Cloud REST endpoint the gcp platform calls, on one port.
import { OAuth2Client } from 'google-auth-library';
import { ApiError, FakeGcp } from './server';
import { alloyDbRoutes, cloudSqlRoutes } from './routes-targets';
import { targetLabelRoutes } from './routes-target-labels';
import { computeRoutes } from './routes-compute';
import { dmsRoutes, type DmsBehaviour } from './routes-dms';
import { monitoringRoutes, secretRoutes } from './routes-observability';
import { monitoringAdminRoutes, type MonitoringAdmin } from './routes-monitoring';
import { preflightRoutes, type PreflightWorld } from './routes-preflight';
import { storageRoutes } from './routes-storage';

export { ApiError, FakeGcp };
export type { DedupeHit, LoggedRequest } from './server';
export { DMS_PROTO_ROOT } from './schema/protos';
export { objectsOf, putBucket, putObject } from './routes-storage';

export interface FakeGcpOptions {
  migs?: string[];
  secrets?: Record<string, string>;
  dms?: Partial<DmsBehaviour>;
  /** Check requests against Google's protos (default true); off only to debug. */
  strict?: boolean;
  /** Notification channels that exist (projects/P/notificationChannels/ID), for the monitoring step. */
  notificationChannels?: string[];
  /** The project `dbmig gcp check` reads (APIs, IAM, network, quotas); its reads only when given. */
  preflight?: PreflightWorld;
}

export function createFakeGcp(opts: FakeGcpOptions = {}): {
  fake: FakeGcp;
  behaviour: DmsBehaviour;
  secrets: Map<string, string>;
  monitoring: MonitoringAdmin;
} {
  const fake = new FakeGcp();
  if (opts.strict !== undefined) fake.strict = opts.strict;
  const behaviour: DmsBehaviour = {
    fullDumpMs: 300,
    lagStartSeconds: 20,
    lagDecayPerSecond: 40,
    unreachableHosts: new Set(),
    ...opts.dms,
  };
  const secrets = new Map(Object.entries(opts.secrets ?? {}));
  cloudSqlRoutes(fake);
  alloyDbRoutes(fake);
  targetLabelRoutes(fake);
  computeRoutes(fake, new Set(opts.migs ?? ['dbmig-migration-workers']));
  dmsRoutes(fake, behaviour);
  monitoringRoutes(fake, behaviour);
  secretRoutes(fake, secrets);
  const monitoring = monitoringAdminRoutes(fake, { channels: new Set(opts.notificationChannels ?? []) });
  storageRoutes(fake);
  if (opts.preflight) preflightRoutes(fake, opts.preflight);
  return { fake, behaviour, secrets, monitoring };
}

/** A token the fake accepts; no Google credentials are needed or looked up. */
export function fakeAuth(): OAuth2Client {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: 'fake-token', expiry_date: Date.now() + 24 * 3600_000 });
  return auth;
}
