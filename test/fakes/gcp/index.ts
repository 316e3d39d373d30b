// The assembled fake: every Google Cloud REST endpoint the gcp platform calls, on one port.
import { OAuth2Client } from 'google-auth-library';
import { FakeGcp } from './server';
import { alloyDbRoutes, cloudSqlRoutes } from './routes-targets';
import { computeRoutes } from './routes-compute';
import { dmsRoutes, type DmsBehaviour } from './routes-dms';
import { monitoringRoutes, secretRoutes } from './routes-observability';

export { FakeGcp };

export interface FakeGcpOptions {
  migs?: string[];
  secrets?: Record<string, string>;
  dms?: Partial<DmsBehaviour>;
}

export function createFakeGcp(opts: FakeGcpOptions = {}): {
  fake: FakeGcp;
  behaviour: DmsBehaviour;
  secrets: Map<string, string>;
} {
  const fake = new FakeGcp();
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
  computeRoutes(fake, new Set(opts.migs ?? ['dbmig-migration-workers']));
  dmsRoutes(fake, behaviour);
  monitoringRoutes(fake, behaviour);
  secretRoutes(fake, secrets);
  return { fake, behaviour, secrets };
}

/** A token the fake accepts; no Google credentials are needed or looked up. */
export function fakeAuth(): OAuth2Client {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: 'fake-token', expiry_date: Date.now() + 24 * 3600_000 });
  return auth;
}
