// The platform contract against the gcp platform on the fake Google Cloud, once per pair of the
// shared plan (MySQL to Cloud SQL, PostgreSQL to AlloyDB, PostgreSQL to Cloud SQL: flex-start
// capacity, as e2-standard-4 always gets) and once with calendar-mode capacity (priority high on
// an A3 machine type). The world is the fake's stored resources, secrets redacted.
//
// Conflicting resources are put in place through the fake's own routes, with the platform's own
// request builders changed in one field, and waited for until they stand still: a resource still
// moving through its states when the refused call reads it would change the world on its own.
import { GcpPlatform } from '../activities/platforms/gcp';
import { futureReservationRequest } from '../activities/platforms/gcp/compute/calendar';
import type { GcpClients } from '../activities/platforms/gcp/clients';
import { instanceBody, wantedInstance } from '../activities/platforms/gcp/sql/cloudsql';
import { clusterRequest, primaryRequest } from '../activities/platforms/gcp/sql/alloydb';
import { waitGlobalOperation, waitZoneOperation } from '../activities/platforms/gcp/compute/operations';
import { data, dmsRequestId, jobBody, waitDmsOperation } from '../activities/platforms/gcp/dms';
import { destinationConnection, ensureProfiles, sourceConnection } from '../activities/platforms/gcp/dms/profiles';
import { resizeRequestRequest } from '../activities/platforms/gcp/compute/flex-start';
import { gcpNames, ownerLabels } from '../activities/platforms/gcp/names';
import { pollUntil } from '../activities/platforms/gcp/poll';
import { resolveVersion } from '../activities/platforms/gcp/sql/versions';
import {
  ensureWorkerGroup,
  groupRequest,
  templateRequest,
  workerGroupNames,
} from '../activities/platforms/gcp/compute/worker-group';
import type { DatabaseTask } from '../activities/steps';
import type { MigrationPlatform } from '../activities/platforms/platform';
import { workerCount } from '../common/capacity';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { createFakeGcp, fakeAuth, type FakeGcp } from './fakes/gcp';
import { gcpPlan, PROJECT } from './helpers/gcp-plan';
import {
  platformContract,
  type ConflictCase,
  type PlatformSubject,
  type TaskOptions,
} from './helpers/platform-contract';

const POLL = { intervalMs: 10, timeoutMs: 30_000 };
const OTHER_NETWORK = `projects/${PROJECT}/global/networks/other`;
/** Keys whose values are secrets: described as set, never printed. */
const SECRET_KEY = /password|secret|token|privateKey|clientKey/i;
/** The fake's own bookkeeping (pending operation, reads counted as its clock), not state Google shows. */
const BOOKKEEPING = new Set(['_pendingOp', '_reads']);

const clients = (p: MigrationPlatform): GcpClients => (p as GcpPlatform).clients;
/** Requests the arrangement sends carry their own request ids, never the ones the platform will send. */
const arranging = (t: DatabaseTask): DatabaseTask => ({ ...t, requestScope: 'arranged-conflict' });
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

interface SubjectSpec {
  name: string;
  /**
   * The shared plan's database: 0 orders (MySQL → Cloud SQL), 1 ledger (PostgreSQL → AlloyDB),
   * 2 billing (PostgreSQL → Cloud SQL).
   */
  index: 0 | 1 | 2;
  machineType?: string;
  conflicts: ConflictCase[];
  knownBugs?: Record<string, string>;
}

function gcpSubject(spec: SubjectSpec): PlatformSubject {
  let fake: FakeGcp;
  let platform: GcpPlatform;
  return {
    name: spec.name,
    async start() {
      process.env.GCP_TEST_SOURCE_PASSWORD = 's3cret-source';
      process.env.GCP_TEST_TARGET_PASSWORD = 's3cret-target';
      process.env.DBMIG_ALLOWED_HOSTS = '203.0.113.0/24';
      fake = createFakeGcp({
        secrets: {
          [`projects/${PROJECT}/secrets/ledger-source-password`]: 's3cret-pg-source',
          [`projects/${PROJECT}/secrets/ledger-target-password`]: 's3cret-pg-target',
        },
      }).fake;
      platform = new GcpPlatform({ endpoint: await fake.start(), authClient: fakeAuth(), poll: POLL });
      return platform;
    },
    async stop() {
      await platform?.close();
      await fake?.stop();
    },
    async task(scenario: string, opts: TaskOptions = {}): Promise<DatabaseTask> {
      const plan = validatePlan(gcpPlan());
      const db = plan.databases[spec.index];
      // Every scenario has its own target instance, so "absent" needs no other name.
      const database = { ...db, target: { ...db.target, instance: `${db.target.instance}-${scenario}` } };
      return {
        migrationId: opts.migrationId ?? `contract-${scenario}`,
        platform: 'gcp',
        database,
        settings: effectiveSettings(plan, database),
        gcp: { ...plan.gcp!, ...(spec.machineType ? { machineType: spec.machineType } : {}) },
      };
    },
    async describeWorld() {
      const entries = [...fake.resources.entries()].sort(([a], [b]) => a.localeCompare(b));
      const redact = (k: string, v: unknown) =>
        BOOKKEEPING.has(k) ? undefined : SECRET_KEY.test(k) && typeof v === 'string' && v ? '(set)' : v;
      return Object.fromEntries(entries.map(([k, v]) => [k, JSON.parse(JSON.stringify(v, redact)) as unknown]));
    },
    conflicts: spec.conflicts,
    knownBugs: spec.knownBugs,
  };
}

// ---- arranging conflicting resources through the fake's routes -------------------------------

/** A Cloud SQL instance of this task's name and labels, configured otherwise, RUNNABLE. */
async function cloudSqlWith(
  t: DatabaseTask,
  p: MigrationPlatform,
  change: { tier?: string; databaseVersion?: string },
) {
  const c = clients(p);
  const wanted = { ...wantedInstance(t, resolveVersion(t).enumName), ...change };
  await c.sqlInstances.insert({ project: PROJECT, body: instanceBody(t, wanted) });
  await pollUntil(
    'the arranged Cloud SQL instance',
    async () => (await c.sqlInstances.get({ project: PROJECT, instance: wanted.name }))[0],
    (i) => String(i.state) === 'RUNNABLE',
    POLL,
  );
}

/** An AlloyDB cluster of this task's name and labels, READY; `network` replaces the plan's. */
async function alloyClusterWith(t: DatabaseTask, p: MigrationPlatform, network?: string) {
  const c = clients(p);
  const req = clusterRequest(arranging(t), resolveVersion(t).enumName, 'arranged-s3cret');
  if (network) req.cluster!.networkConfig = { ...req.cluster!.networkConfig, network };
  await c.alloydb.createCluster(req);
  await pollUntil(
    'the arranged AlloyDB cluster',
    async () => (await c.alloydb.getCluster({ name: gcpNames(t).cluster }))[0],
    (cl) => String(cl.state) === 'READY',
    POLL,
  );
}

/** A connection profile of this task's name and labels whose host is `host`, READY. */
async function profileWith(t: DatabaseTask, p: MigrationPlatform, side: 'source' | 'destination', host: string) {
  const c = clients(p);
  const n = gcpNames(t);
  const [id, name] =
    side === 'source' ? [n.sourceProfile, n.sourceProfileName] : [n.destinationProfile, n.destinationProfileName];
  const conn = side === 'source' ? { ...sourceConnection(t), host } : destinationConnection(t, host);
  const form = t.database.engine === 'mysql' ? 'mysql' : 'postgresql';
  const op = await data(
    c.dms.projects.locations.connectionProfiles.create({
      parent: n.parent,
      connectionProfileId: id,
      requestId: dmsRequestId(arranging(t), 'create', name),
      requestBody: { displayName: id, labels: ownerLabels(t), [form]: { ...conn, password: 'arranged-s3cret' } },
    }),
  );
  await waitDmsOperation(c, op, POLL);
  await data(c.dms.projects.locations.connectionProfiles.get({ name })); // moves it to READY
}

/** An instance template of the worker group's name whose machine type is another. */
async function templateWith(t: DatabaseTask, p: MigrationPlatform, machineType: string) {
  const c = clients(p);
  const req = templateRequest(arranging(t));
  req.instanceTemplateResource!.properties!.machineType = machineType;
  const [op] = await c.instanceTemplates.insert(req);
  await waitGlobalOperation(c, t, op, POLL);
}

/** The plan's template, and a worker group of the plan's name that uses another template. */
async function groupWithOtherTemplate(t: DatabaseTask, p: MigrationPlatform, other: string) {
  const c = clients(p);
  const templates = c.instanceTemplates;
  const a = arranging(t);
  const [own] = await templates.insert(templateRequest(a));
  await waitGlobalOperation(c, t, own, POLL);
  const otherReq = templateRequest({ ...a, requestScope: 'arranged-other-template' });
  otherReq.instanceTemplateResource!.name = other;
  const [op] = await templates.insert(otherReq);
  await waitGlobalOperation(c, t, op, POLL);
  const group = groupRequest(a);
  group.instanceGroupManagerResource!.instanceTemplate = `projects/${PROJECT}/global/instanceTemplates/${other}`;
  const [gop] = await c.instanceGroupManagers.insert(group);
  await waitZoneOperation(c, t, gop, POLL);
}

// ---- known limits -------------------------------------------------------------------

/**
 * Not a bug: Google does not let a submitted calendar-mode future reservation be cancelled or deleted
 * (create-future-reservations-calendar-mode, "Limitations"), so releaseCapacity sends nothing; the
 * request and its auto-created reservation end by themselves at the end time.
 */
const CALENDAR_OUTLIVES_UNDO = {
  'after the undo the world is as it was before the runbook':
    'by design: a submitted calendar-mode future reservation (and its auto-created reservation) cannot be ' +
    'cancelled or deleted; it ends at its end time (autoDeleteAutoCreatedReservations)',
};

// ---- the conflict cases ---------------------------------------------------------------------

function cloudSqlConflict(change: { tier: string } | { databaseVersion: string }, needs: string): ConflictCase {
  const [field, value] = Object.entries(change)[0];
  return {
    operation: 'provisionTarget',
    what: `a Cloud SQL instance of another ${field === 'tier' ? 'tier' : 'version'}`,
    async arrange(t, p) {
      await cloudSqlWith(t, p, change);
      return new RegExp(`${field} is ${escape(value)}, plan needs ${escape(needs)}`);
    },
  };
}

const alloyDbConflicts: ConflictCase[] = [
  {
    operation: 'provisionTarget',
    what: 'an AlloyDB cluster on another network',
    async arrange(t, p) {
      await alloyClusterWith(t, p, OTHER_NETWORK);
      return new RegExp(`network is ${escape(OTHER_NETWORK)}, plan needs ${escape(t.gcp!.network)}`);
    },
  },
  {
    operation: 'provisionTarget',
    what: 'a primary instance with other vCPUs in a cluster an earlier run made',
    async arrange(t, p) {
      const c = clients(p);
      await alloyClusterWith(t, p);
      const req = primaryRequest(arranging(t));
      req.instance!.machineConfig = { cpuCount: 2 };
      await c.alloydb.createInstance(req);
      await pollUntil(
        'the arranged AlloyDB primary',
        async () => (await c.alloydb.getInstance({ name: gcpNames(t).alloyPrimary }))[0],
        (i) => String(i.state) === 'READY',
        POLL,
      );
      return new RegExp(`2 vCPUs, plan needs ${t.database.target.cpuCount}`);
    },
  },
];

/** The worker group's template or group configured otherwise (flex-start capacity). */
const workerGroupConflicts: ConflictCase[] = [
  {
    operation: 'reserveCapacity',
    what: 'an instance template of another machine type',
    async arrange(t, p) {
      await templateWith(t, p, 'e2-standard-8');
      return new RegExp(
        `instance template .*properties\\.machineType is "e2-standard-8", the plan needs "e2-standard-4"`,
      );
    },
  },
  {
    operation: 'reserveCapacity',
    what: 'a managed instance group that uses another template',
    async arrange(t, p) {
      await groupWithOtherTemplate(t, p, 'dbmig-other-template');
      return new RegExp(
        `instance group manager .*instanceTemplate is "dbmig-other-template", ` +
          `the plan needs "${escape(workerGroupNames(t).template)}"`,
      );
    },
  },
];

const resizeRequestConflict: ConflictCase = {
  operation: 'reserveCapacity',
  what: 'a resize request for another number of workers',
  async arrange(t, p) {
    const c = clients(p);
    const a = arranging(t);
    await ensureWorkerGroup(c, a, POLL);
    const req = resizeRequestRequest(a);
    const other = workerCount(t.database.sizeGb) + 1;
    req.instanceGroupManagerResizeRequestResource!.resizeBy = other;
    const [op] = await c.resizeRequests.insert(req);
    await waitZoneOperation(c, t, op, POLL);
    const { instanceGroupManager, instanceGroupManagerResizeRequestResource: rr } = req;
    await pollUntil(
      'the arranged resize request',
      async () =>
        (
          await c.resizeRequests.get({
            project: PROJECT,
            zone: t.gcp!.zone,
            instanceGroupManager,
            resizeRequest: rr!.name!,
          })
        )[0],
      (r) => String(r.state) === 'SUCCEEDED',
      POLL,
    );
    return new RegExp(`resizeBy is ${other}, the plan needs ${workerCount(t.database.sizeGb)}`);
  },
};

const calendarConflict: ConflictCase = {
  operation: 'reserveCapacity',
  what: 'a calendar-mode future reservation of another size',
  async arrange(t, p) {
    const c = clients(p);
    const req = futureReservationRequest(arranging(t));
    req.futureReservationResource!.specificSkuProperties!.totalCount = 2;
    const [op] = await c.futureReservations.insert(req);
    await waitZoneOperation(c, t, op, POLL);
    // Google reviews and provisions it meanwhile; once FULFILLED it stands still.
    await pollUntil(
      'the arranged future reservation',
      async () =>
        (
          await c.futureReservations.get({
            project: PROJECT,
            zone: t.gcp!.zone,
            futureReservation: gcpNames(t).futureReservation,
          })
        )[0],
      (fr) => String(fr.status?.procurementStatus) === 'FULFILLED',
      POLL,
    );
    return new RegExp(`specificSkuProperties\\.totalCount is 2, the plan needs ${workerCount(t.database.sizeGb)}`);
  },
};

/** Conflicts on the profiles and the migration job, alike for every pair. */
const jobConflicts: ConflictCase[] = [
  {
    operation: 'createMigrationJob',
    what: 'a source connection profile for another host',
    async arrange(t, p) {
      await profileWith(t, p, 'source', '198.51.100.7');
      return new RegExp(`host is 198\\.51\\.100\\.7, plan needs ${escape(t.database.source.host)}`);
    },
  },
  {
    operation: 'createMigrationJob',
    what: 'a destination connection profile for another host',
    async arrange(t, p) {
      await profileWith(t, p, 'destination', '10.99.0.9');
      return /host is 10\.99\.0\.9, plan needs 10\.\d+\.\d+\.\d+/;
    },
  },
  {
    operation: 'createMigrationJob',
    what: 'a one-time job where the plan needs a continuous one',
    async arrange(t, p) {
      const c = clients(p);
      const a = arranging(t);
      const n = gcpNames(t);
      await ensureProfiles(c, a, POLL);
      const op = await data(
        c.dms.projects.locations.migrationJobs.create({
          parent: n.parent,
          migrationJobId: n.migrationJob,
          requestId: dmsRequestId(a, 'create', n.jobName),
          requestBody: { ...jobBody(t), type: 'ONE_TIME' },
        }),
      );
      await waitDmsOperation(c, op, POLL);
      await data(c.dms.projects.locations.migrationJobs.get({ name: n.jobName })); // moves it to NOT_STARTED
      return /type is ONE_TIME, plan needs CONTINUOUS/;
    },
  },
];

platformContract(
  gcpSubject({
    name: 'gcp, MySQL to Cloud SQL, flex-start capacity',
    index: 0,
    conflicts: [
      cloudSqlConflict({ tier: 'db-custom-2-8192' }, 'db-custom-4-16384'),
      ...workerGroupConflicts,
      ...jobConflicts,
    ],
  }),
);

platformContract(
  gcpSubject({
    name: 'gcp, PostgreSQL to AlloyDB, flex-start capacity',
    index: 1,
    conflicts: [...alloyDbConflicts, ...workerGroupConflicts, resizeRequestConflict, ...jobConflicts],
  }),
);

platformContract(
  gcpSubject({
    name: 'gcp, PostgreSQL to Cloud SQL, flex-start capacity',
    index: 2,
    conflicts: [
      cloudSqlConflict({ databaseVersion: 'POSTGRES_15' }, 'POSTGRES_14'),
      ...workerGroupConflicts,
      ...jobConflicts,
    ],
  }),
);

platformContract(
  gcpSubject({
    name: 'gcp, MySQL to Cloud SQL, calendar capacity (a3-highgpu-8g, priority high)',
    index: 0,
    machineType: 'a3-highgpu-8g',
    conflicts: [cloudSqlConflict({ tier: 'db-custom-2-8192' }, 'db-custom-4-16384'), calendarConflict, ...jobConflicts],
    knownBugs: CALENDAR_OUTLIVES_UNDO,
  }),
);
