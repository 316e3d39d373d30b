// The platform contract against the gcp platform on the fake Google Cloud, once per kind of
// target and capacity: MySQL to Cloud SQL with calendar capacity, PostgreSQL to AlloyDB with
// flex-start capacity. The world is the fake's stored resources.
import { GcpPlatform } from '../activities/platforms/gcp';
import type { DatabaseTask } from '../activities/platforms/platform';
import { gcpResourceNames } from '../common/naming';
import { effectiveSettings, validatePlan } from '../common/plan';
import { createFakeGcp, fakeAuth, type FakeGcp } from './fakes/gcp';
import { gcpPlan, PROJECT } from './helpers/gcp-plan';
import { platformContract, type ConflictCase, type TaskOptions } from './helpers/platform-contract';

const LOCATION = `projects/${PROJECT}/locations/us-central1`;
const ZONE = `${PROJECT}/us-central1-a`;

function gcpSubject(name: string, index: 0 | 1, conflicts: (fake: () => FakeGcp) => ConflictCase[]) {
  let fake: FakeGcp;
  let platform: GcpPlatform;
  return {
    name,
    async start() {
      process.env.GCP_TEST_SOURCE_PASSWORD = 's3cret-mysql';
      process.env.DBMIG_ALLOWED_HOSTS = '203.0.113.0/24';
      fake = createFakeGcp({ secrets: { [`projects/${PROJECT}/secrets/ledger-source-password`]: 's3cret-pg' } }).fake;
      platform = new GcpPlatform({ endpoint: await fake.start(), authClient: fakeAuth(), poll: { intervalMs: 10 } });
      return platform;
    },
    async stop() {
      await platform?.close();
      await fake?.stop();
    },
    async task(scenario: string, opts: TaskOptions = {}): Promise<DatabaseTask> {
      const plan = validatePlan(gcpPlan());
      const db = plan.databases[index];
      // Every scenario has its own target instance, so "absent" needs no other name.
      const database = { ...db, target: { ...db.target, instance: `${db.target.instance}-${scenario}` } };
      return {
        migrationId: opts.migrationId ?? `contract-${scenario}`,
        platform: 'gcp',
        database,
        settings: effectiveSettings(plan, database),
        gcp: plan.gcp,
      };
    },
    async describeWorld() {
      const entries = [...fake.resources.entries()].sort(([a], [b]) => a.localeCompare(b));
      // Stored source passwords (the API never returns them) are described as set, not printed.
      const redact = (k: string, v: unknown) => (k === 'password' && v ? '(set)' : v);
      return Object.fromEntries(entries.map(([k, v]) => [k, JSON.parse(JSON.stringify(v, redact)) as unknown]));
    },
    conflicts: conflicts(() => fake),
    knownBugs: {
      'createMigrationJob refuses a destination connection profile for another instance':
        'gcp bug: ensureJob creates the source profile before it checks the destination profile, ' +
        'so the refusal leaves a new profile behind',
    },
  };
}

const names = (t: DatabaseTask) => gcpResourceNames(t.migrationId, t.database.name);

/** Conflicts on the migration job, alike for both engines. */
function jobConflicts(fake: () => FakeGcp, engine: 'mysql' | 'postgresql'): ConflictCase[] {
  const profile = (t: DatabaseTask, id: string) => `dms/${LOCATION}/connectionProfiles/${id}`;
  return [
    {
      operation: 'createMigrationJob',
      what: 'a source connection profile for another host',
      async arrange(t) {
        const key = profile(t, names(t).sourceProfile);
        const conn = { host: '198.51.100.7', port: t.database.source.port, username: t.database.source.user };
        fake().resources.set(key, { name: key.slice(4), [engine]: conn, state: 'READY' });
        return new RegExp(`"host":"198\\.51\\.100\\.7".*plan needs .*"host":"${t.database.source.host}"`);
      },
    },
    {
      operation: 'createMigrationJob',
      what: 'a destination connection profile for another instance',
      async arrange(t) {
        const key = profile(t, names(t).destinationProfile);
        const body =
          t.database.target.kind === 'alloydb'
            ? { alloydb: { clusterId: 'other' } }
            : { mysql: { cloudSqlId: 'other' } };
        fake().resources.set(key, { name: key.slice(4), ...body, state: 'READY' });
        return new RegExp(`"(cluster|cloudSqlId)":"other".*plan needs .*"${t.database.target.instance}"`);
      },
    },
    {
      operation: 'createMigrationJob',
      what: 'a one-time job where an earlier run made a continuous one',
      async arrange(t, platform) {
        await platform.createMigrationJob(t);
        fake().resources.get(`dms/${LOCATION}/migrationJobs/${names(t).migrationJob}`).type = 'ONE_TIME';
        return /type is ONE_TIME, plan needs CONTINUOUS/;
      },
    },
  ];
}

platformContract(
  gcpSubject('gcp, MySQL to Cloud SQL, calendar capacity', 0, (fake) => [
    {
      operation: 'provisionTarget',
      what: 'a Cloud SQL instance of another tier',
      async arrange(t) {
        const instance = t.database.target.instance;
        fake().resources.set(`sql/${PROJECT}/${instance}`, {
          name: instance,
          databaseVersion: 'MYSQL_8_0',
          settings: { tier: 'db-n1-standard-1', availabilityType: 'REGIONAL' },
          state: 'RUNNABLE',
        });
        return /tier is db-n1-standard-1, plan needs db-custom-4-16384/;
      },
    },
    {
      operation: 'reserveCapacity',
      what: 'a future reservation of another size',
      async arrange(t) {
        const name = names(t).futureReservation;
        fake().resources.set(`fr/${ZONE}/${name}`, {
          name,
          specificSkuProperties: { totalCount: 2, instanceProperties: { machineType: 'e2-standard-4' } },
          status: { procurementStatus: 'APPROVED' },
        });
        return /exists for 2 x e2-standard-4, plan needs 8 x e2-standard-4/;
      },
    },
    ...jobConflicts(fake, 'mysql'),
  ]),
);

platformContract(
  gcpSubject('gcp, PostgreSQL to AlloyDB, flex-start capacity', 1, (fake) => [
    {
      operation: 'provisionTarget',
      what: 'an AlloyDB cluster on another network',
      async arrange(t) {
        const name = `${LOCATION}/clusters/${t.database.target.instance}`;
        fake().resources.set(`alloydb/${name}`, {
          name,
          networkConfig: { network: `projects/${PROJECT}/global/networks/other` },
          state: 'READY',
        });
        return /on network projects\/dbmig-contract\/global\/networks\/other, plan needs .*migration-network/;
      },
    },
    {
      operation: 'provisionTarget',
      what: 'a primary instance with other vCPUs in a cluster an earlier run made',
      async arrange(t) {
        const cluster = `${LOCATION}/clusters/${t.database.target.instance}`;
        const instance = `${cluster}/instances/${t.database.target.instance}-primary`;
        fake().resources.set(`alloydb/${cluster}`, {
          name: cluster,
          networkConfig: { network: t.gcp!.network },
          labels: { 'dbmig-migration': names(t).ownerLabel },
          state: 'READY',
        });
        fake().resources.set(`alloydb/${instance}`, {
          name: instance,
          instanceType: 'PRIMARY',
          machineConfig: { cpuCount: 2 },
          state: 'READY',
        });
        return /with 2 vCPUs, plan needs 8/;
      },
    },
    {
      operation: 'reserveCapacity',
      what: 'a resize request for another number of workers',
      async arrange(t) {
        const name = names(t).resizeRequest;
        fake().resources.set(`rr/${ZONE}/${t.gcp!.migrationWorkerGroup}/${name}`, {
          name,
          resizeBy: 1,
          state: 'ACCEPTED',
        });
        return /exists for 1 workers, plan needs 2/;
      },
    },
    ...jobConflicts(fake, 'postgresql'),
  ]),
);
