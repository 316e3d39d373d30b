// The plan schema. Pure (zod only) so the workflow can validate before any activity runs,
// and the CLI can show the very same message before anything is started.
import { z } from 'zod';
import { DURATION, parseDuration } from './durations';
import { DAYS, validTimeZone } from './cutover-window';
import { notificationsSchema } from './notify-plan';
import { healthCheckSchema, healthCheckSettings, type HealthCheckSettings } from './health-check-plan';
import { simSchema } from './sim-plan';
import { planIssues, type PlanIssue } from './plan-issues';
import { backupsSchema, SQLSERVER_EDITIONS, sqlserverIssues, withSqlServerDefaults } from './plan-sqlserver';
import { throttleSchema, throttleSettings, type ThrottleSettings } from './throttle-plan';
import { approversSchema, dependsOnSchema, policySchema, rolesSchema, waveIssues } from './plan-waves';

export const SECRET_REF = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+|gcpsm:[A-Za-z0-9_\-/.]+)$/;
const NAME = /^[a-z][a-z0-9_-]{0,47}$/;
const NAME_RULE = 'must be lower-case letters, digits, _ or -, starting with a letter (at most 48)';

/**
 * Why `id` cannot be a migration id, or undefined when it can. The id names the workflow and every
 * resource derived from it, so --id follows the plan's migrationId rule and is checked offline.
 */
export function migrationIdProblem(id: string): string | undefined {
  return NAME.test(id) ? undefined : `migration id "${id}" ${NAME_RULE}`;
}
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
const PG_IDENT = /^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/;

/** A duration as the plan writes it: a number and a unit, ms, s, m, h or d (parseDuration). */
const duration = z.string().regex(DURATION, 'must be a duration like 30s, 5m or 24h');

/** The PostgreSQL majors the local platform runs as targets (activities/platforms/local/embedded-servers.ts). */
export const LOCAL_TARGET_MAJORS = [15, 16, 17, 18] as const;

/** The cutover's bounds when the plan does not set them. */
export const CUTOVER_DEFAULTS = { maxLagSeconds: 1, timeoutMs: 30_000, reverseReplicationForMs: 86_400_000 } as const;

/**
 * How long DMS takes to answer a promote (migrationJobs.promote accepted: the job in
 * PROMOTE_IN_PROGRESS, DMS no longer reading the source) when the plan does not say.
 */
export const GCP_PROMOTE_TIMEOUT_DEFAULT_MS = 10_000;

/**
 * What a gcp fenced cutover keeps of cutover.timeout besides the promote's answer: `margin` each to
 * close and to reopen the source (a quarter of the timeout, between `leastMarginMs` and 5 s) and a
 * drain of at least 1 s. `fits` is false when the deadline cannot hold all of it with `promoteMs`.
 */
export function gcpCutoverBudget(
  timeoutMs: number,
  promoteMs: number,
  leastMarginMs = 1_000,
): { margin: number; minDrainMs: number; fits: boolean } {
  const margin = Math.max(leastMarginMs, Math.min(5_000, Math.floor(timeoutMs / 4)));
  const minDrainMs = 1_000;
  return { margin, minDrainMs, fits: timeoutMs >= promoteMs + 2 * margin + minDrainMs };
}

/** How long the source may stay blocked: long enough to drain, short enough to be an outage nobody notices. */
const cutoverTimeout = duration.refine(
  (s) => {
    const ms = parseDuration(s);
    return ms !== undefined && ms >= 1_000 && ms <= 600_000;
  },
  { message: 'must be a duration between 1s and 10m, like 30s' },
);

const SECRET_RULE = 'must be a secret reference: env:NAME, file:PATH or gcpsm:NAME (never the password itself)';
const VERSION = /^\d+(\.\d+)?$/;

// The descriptions are the plan's documentation: plan.schema.json and docs/plan-reference.md are
// generated from them (npm run docs:plan). Each says what the field does, its unit and its default.
const sourceSchema = z
  .strictObject({
    host: z.string().min(1).describe('Host name or IP address the worker (and, on gcp, DMS) reaches the source at.'),
    port: z.number().int().min(1).max(65535).default(5432).describe('TCP port of the source server.'),
    database: z
      .string()
      .regex(PG_IDENT, 'must be a plain database name')
      .describe('The database to migrate, on the source server.'),
    user: z
      .string()
      .min(1)
      .describe(
        'User the worker connects as. PostgreSQL: needs REPLICATION (or superuser) to create the publication and ' +
          'slot; MySQL: the replication privileges DMS documents.',
      ),
    passwordRef: z
      .string()
      .regex(SECRET_REF, SECRET_RULE)
      .describe(
        "Where the worker reads the source user's password: env:NAME (an environment variable), file:PATH (a " +
          "file's contents) or gcpsm:NAME (a Secret Manager secret). Never the password itself.",
      ),
    access: z
      .enum(['direct', 'dms-only'])
      .default('direct')
      .describe(
        'gcp only. direct: the worker reaches the source over SQL, assesses its prerequisites and fences its ' +
          "writes at cutover. dms-only: only DMS reaches it; the assessment relies on DMS's verify and the " +
          'operator stops the writes before approving the cutover.',
      ),
    version: z
      .string()
      .regex(VERSION, 'must be a major version such as 15 or 8.0')
      .optional()
      .describe(
        "The source's major version (15, 8.0), for when the worker cannot ask the source itself " +
          '(access: dms-only). Default: read from the source.',
      ),
  })
  .describe('The database server to migrate from. It is only read, until the cutover closes it.');

const GCP_NAME = /^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/;

const targetSchema = z
  .strictObject({
    kind: z
      .enum(['cloudsql', 'alloydb', 'postgres'])
      .describe(
        'What the target is. On gcp: cloudsql (a Cloud SQL instance) or alloydb (an AlloyDB cluster and primary ' +
          'instance), created by the migration. On local: cloudsql and alloydb both mean an embedded PostgreSQL ' +
          'cluster the worker starts on this machine (so a gcp plan rehearses locally unchanged); postgres means an ' +
          'existing PostgreSQL server you run, at host and port.',
      ),
    instance: z
      .string()
      .regex(GCP_NAME, 'must be lower-case letters, digits or -, starting with a letter (at most 40)')
      .describe(
        'Name of the target instance (gcp: the Cloud SQL instance or AlloyDB cluster; local: the embedded cluster, ' +
          'or the existing server in messages). Databases naming the same instance share it.',
      ),
    host: z.string().min(1).optional().describe("kind postgres only, and required there: the existing server's host."),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe("kind postgres only: the existing server's TCP port. Default 5432."),
    database: z
      .string()
      .regex(PG_IDENT, 'must be a plain database name')
      .optional()
      .describe("Name of the database on the target. Default: the source's database name."),
    tier: z
      .string()
      .optional()
      .describe(
        'gcp, kind cloudsql: the Cloud SQL machine tier, e.g. db-custom-8-32768 (8 vCPUs, 32 GB). ' +
          'Default db-custom-4-16384.',
      ),
    highAvailability: z
      .boolean()
      .optional()
      .describe(
        'gcp, kind cloudsql: a regional (high-availability) instance with a standby in another zone; false for a ' +
          'zonal one. Default true.',
      ),
    cpuCount: z
      .number()
      .int()
      .min(2)
      .max(128)
      .optional()
      .describe('gcp, kind alloydb: vCPUs of the primary instance. Default 4.'),
    storageGb: z
      .number()
      .int()
      .min(10)
      .optional()
      .describe(
        "gcp, kind cloudsql: the instance's SSD size in GB (it grows on its own past it). Default 1.5 × the " +
          "database's sizeGb, at least 10.",
      ),
    version: z
      .string()
      .regex(VERSION, 'must be a major version such as 15 or 8.0')
      .optional()
      .describe(
        "The target's major version (17, 8.0). Default: the source's major. Local embedded clusters run " +
          `PostgreSQL ${LOCAL_TARGET_MAJORS.join(', ')}; an instance runs one version for all its databases.`,
      ),
    edition: z
      .enum(SQLSERVER_EDITIONS)
      .optional()
      .describe(
        'engine sqlserver only: the SQL Server edition of the Cloud SQL instance (its license). Default standard.',
      ),
    user: z
      .string()
      .min(1)
      .optional()
      .describe(
        "The target's administrative user. gcp: set on the instance or cluster the platform creates, and used by " +
          "DMS's destination connection profile (default postgres or root). kind postgres: required, the user the " +
          'worker connects as.',
      ),
    passwordRef: z
      .string()
      .regex(SECRET_REF, SECRET_RULE)
      .optional()
      .describe(
        "The target user's password, as a secret reference (env:NAME, file:PATH or gcpsm:NAME). Required on gcp " +
          'and for kind postgres.',
      ),
  })
  .describe('Where the database goes. Only what this migration created is ever deleted.');

// How DMS reaches a source (https://cloud.google.com/database-migration/docs/postgres/networking-methods,
// https://cloud.google.com/database-migration/docs/mysql/configure-connectivity). Each method is
// one form of the plan, checked by `dbmig gcp check` (preflight/connectivity.ts) and sent by
// activities/platforms/gcp/dms/connectivity.ts.
/** A Compute Engine resource name (RFC 1035, at most 63). */
const GCP_NAME_63 = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const PRIVATE_CONNECTION = new RegExp(
  '^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z]+-[a-z]+\\d+/privateConnections/[a-z][-a-z0-9]{0,62}$',
);
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
export const connectivitySchema = z
  .discriminatedUnion('method', [
    z
      .strictObject({
        method: z
          .literal('vpc-peering')
          .describe("vpc-peering: the source is reachable from gcp.network (the job's vpcPeeringConnectivity)."),
      })
      .describe('VPC peering with gcp.network: for a source in, or reachable from, that VPC (VPN, Interconnect).'),
    z
      .strictObject({
        method: z
          .literal('private-service-connect')
          .describe("private-service-connect: DMS reaches the source's private IP through a private connection."),
        privateConnection: z
          .string()
          .regex(PRIVATE_CONNECTION, 'must be projects/PROJECT/locations/REGION/privateConnections/NAME')
          .describe(
            'An existing DMS private connection (projects/P/locations/REGION/privateConnections/NAME, state ' +
              'CREATED) the source connection profile uses (privateConnectivity). You create it (with a Private ' +
              'Service Connect network attachment); the migration only reads it, and `dbmig gcp check` checks it.',
          ),
      })
      .describe('Private Service Connect: a DMS private connection you created, named by the source profile.'),
    z
      .strictObject({
        method: z
          .literal('reverse-ssh')
          .describe('reverse-ssh: a bastion VM forwards a port to the source over an SSH tunnel you start.'),
        vm: z
          .string()
          .regex(GCP_NAME_63, 'must be a Compute instance name')
          .describe('The bastion Compute Engine VM (an existing instance) the tunnel ends on.'),
        vmZone: z
          .string()
          .regex(/^[a-z]+-[a-z]+\d+-[a-z]$/, 'must be a zone such as us-central1-a')
          .optional()
          .describe("The bastion VM's zone. Default gcp.zone."),
        vmIp: z
          .string()
          .regex(IPV4, 'must be an IPv4 address')
          .describe("The bastion VM's internal IP DMS connects to."),
        vmPort: z
          .number()
          .int()
          .min(1)
          .max(65535)
          .describe('The port on the bastion VM the tunnel forwards to the source (one per source).'),
        vpc: z
          .string()
          .min(1)
          .optional()
          .describe('The VPC of the bastion VM, projects/P/global/networks/NAME. Default gcp.network.'),
      })
      .describe(
        'Reverse SSH through a bastion VM: DMS generates the script that opens the tunnel ' +
          '(migrationJobs.generateSshScript); the worker stores it for you to run where the source is reachable.',
      ),
    z
      .strictObject({
        method: z
          .literal('ip-allowlist')
          .describe("ip-allowlist: DMS connects to the source's public address from its static IPs."),
      })
      .describe(
        "IP allowlist: the source's host is a public address; allow DMS's outgoing IPs (projects.locations" +
          '.fetchStaticIps, listed by `dbmig gcp check`) on its firewall.',
      ),
  ])
  .describe('How DMS reaches the source: vpc-peering, private-service-connect, reverse-ssh or ip-allowlist.');
export type Connectivity = z.output<typeof connectivitySchema>;

/** REGISTRY/PATH with a tag or a digest: the workers run exactly what was pushed. */
const CONTAINER_IMAGE =
  /^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$/;
const CONTAINER_IMAGE_RULE =
  "must be a container image with a tag or digest, REGISTRY/PATH:TAG (dbmig's worker image; the workers' boot " +
  'image is Container-Optimized OS)';
const SERVICE_ACCOUNT = /^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.:-]+\.iam\.gserviceaccount\.com$/;

const workerTemporalSchema = z
  .strictObject({
    address: z
      .string()
      .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port')
      .describe('The Temporal frontend the workers connect to, host:port, reachable from gcp.network.'),
    namespace: z
      .string()
      .min(1)
      .optional()
      .describe('The Temporal namespace they serve. Default: the namespace the migration runs in.'),
    apiKeyRef: z
      .string()
      .regex(/^gcpsm:[A-Za-z0-9_\-/.]+$/, 'must be gcpsm:NAME (a Secret Manager secret the workers read at boot)')
      .optional()
      .describe(
        'A Temporal API key (Temporal Cloud) as gcpsm:NAME: each worker reads it from Secret Manager at boot with ' +
          'its service account (TLS on); it is never in the VM metadata. Default: no key, no TLS.',
      ),
  })
  .optional()
  .describe('How the migration workers reach Temporal. address is required on gcp: capacity is refused without it.');

const gcpSchema = z
  .strictObject({
    project: z
      .string()
      .regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a Google Cloud project id')
      .describe('The Google Cloud project the targets, DMS jobs and migration workers are created in.'),
    region: z
      .string()
      .regex(/^[a-z]+-[a-z]+\d+$/, 'must be a region such as us-central1')
      .describe('Region of the targets and DMS jobs, e.g. us-central1.'),
    zone: z
      .string()
      .regex(/^[a-z]+-[a-z]+\d+-[a-z]$/, 'must be a zone such as us-central1-a')
      .describe('Zone of the migration workers and zonal targets, e.g. us-central1-a.'),
    network: z
      .string()
      .min(1)
      .describe('The VPC the targets get private IPs on: projects/PROJECT/global/networks/NAME.'),
    connectivity: connectivitySchema
      .default({ method: 'vpc-peering' })
      .describe(
        'How DMS reaches the sources, for every database that sets no databases[].connectivity of its own. ' +
          'Default vpc-peering with network.',
      ),
    migrationWorkerGroup: z
      .string()
      .regex(GCP_NAME)
      .default('dbmig-migration-workers')
      .describe('The managed instance group of migration workers that flex-start resize requests grow.'),
    machineType: z
      .string()
      .default('e2-standard-4')
      .describe(
        "The migration workers' machine type. It decides the capacity mode: calendar-mode reservations are " +
          'offered only for some series (A4X, A4, A3, H4D); others use flex-start.',
      ),
    allocatedIpRange: z
      .string()
      .regex(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a Compute resource name')
      .optional()
      .describe(
        'The private services access range reserved on network (a Compute global address with purpose ' +
          'VPC_PEERING) that the targets take their IPs from. Default: any range of the peering.',
      ),
    instanceTemplate: z
      .string()
      .regex(GCP_NAME)
      .default('dbmig-migration-worker')
      .describe('The instance template of the migration workers; created when missing.'),
    workerImage: z
      .string()
      .regex(CONTAINER_IMAGE, CONTAINER_IMAGE_RULE)
      .optional()
      .describe(
        "The container image of dbmig's worker (this repository's Dockerfile, pushed where the workers' service " +
          'account can pull it, e.g. us-docker.pkg.dev/PROJECT/dbmig/worker:1.4.0). The reserved migration workers ' +
          "boot Container-Optimized OS and run it as `dbmig worker --data-plane` on the run's data-plane task " +
          'queue. Required on gcp: capacity is refused without it.',
      ),
    workerServiceAccount: z
      .string()
      .regex(SERVICE_ACCOUNT, 'must be a service account email, NAME@PROJECT.iam.gserviceaccount.com')
      .optional()
      .describe(
        'The service account the migration workers run as (their Secret Manager reads, image pulls and logs; ' +
          '`dbmig gcp check` lists and checks its roles). Default dbmig-worker@PROJECT.iam.gserviceaccount.com.',
      ),
    workerTemporal: workerTemporalSchema,
    monitoring: z
      .strictObject({
        notificationChannels: z
          .array(
            z
              .string()
              .regex(/^projects\/[^/]+\/notificationChannels\/[^/]+$/, 'must be projects/P/notificationChannels/ID'),
          )
          .default([])
          .describe(
            'Existing Cloud Monitoring notification channels, projects/P/notificationChannels/ID, that the alert ' +
              'policies notify. Default none (the policies still open incidents).',
          ),
        lagWarningSeconds: z
          .number()
          .positive()
          .default(60)
          .describe('Replication lag, in seconds, above which the warning alert policy fires.'),
        lagCriticalSeconds: z
          .number()
          .positive()
          .default(300)
          .describe('Replication lag, in seconds, above which the critical alert policy fires.'),
        keep: z
          .boolean()
          .default(false)
          .describe('Keep the dashboard and alert policies after the migration ends; by default they are removed.'),
      })
      .default({ notificationChannels: [], lagWarningSeconds: 60, lagCriticalSeconds: 300, keep: false })
      .describe("A Cloud Monitoring dashboard and lag alert policies per migration (the recipe's monitoring step)."),
    promoteTimeout: duration
      .optional()
      .describe(
        'How long DMS takes to accept a promote (migrationJobs.promote answered, the job PROMOTE_IN_PROGRESS). ' +
          'The source is closed before the promote is asked for and stays closed until its outcome is known, so ' +
          'cutover.timeout must cover draining, closing and this; a cutover that cannot fit it is refused before ' +
          `anything is blocked. Default ${GCP_PROMOTE_TIMEOUT_DEFAULT_MS / 1000}s.`,
      ),
    maintenanceWindow: z
      .strictObject({
        day: z.number().int().min(1).max(7).describe('Day of the week, 1 (Monday) to 7 (Sunday).'),
        hour: z.number().int().min(0).max(23).describe('Hour of the day the window starts, 0 to 23, UTC.'),
      })
      .default({ day: 7, hour: 3 })
      .describe(
        'The weekly hour Cloud SQL may restart the targets it creates for maintenance (UTC). Default Sunday 03:00.',
      ),
  })
  .describe('Where the gcp platform works. Required when platform is gcp.');
export type GcpSettings = z.output<typeof gcpSchema>;

/** The initial copy's defaults: a few streams fit a small machine; ranges of 64 MB keep a retry cheap. */
export const COPY_DEFAULTS = { method: 'snapshot', streams: 4, rangeMb: 64 } as const;
/**
 * The live validation's defaults (engines/postgres/validate-live.ts): four comparers per side keep
 * a small machine busy; chunks of 20,000 rows keep a differing chunk's key list (read whole to
 * name its keys) small and a resumed attempt's lost work short.
 */
export const VALIDATION_DEFAULTS = { streams: 4, chunkRows: 20_000 } as const;
const STREAMS_RULE = 'must be a whole number of sessions per side, 1 to 64';
const CHUNK_ROWS_RULE = 'must be a whole number of rows, 100 to 1000000';
/** Helper activities per database at most: each is a few events, whatever the size of the tables. */
export const MAX_COPY_HELPERS = 16;

const lagThresholdSeconds = z.number().positive().max(3600);
const stableWindow = duration;
const noPrimaryKey = z.enum(['fail', 'replica-identity-full']);
const LAG_THRESHOLD =
  'Replication lag, in seconds, at or under which a database counts as ready for its cutover (at most 3600).';
const STABLE_WINDOW = 'How long the lag must stay at or under lagThresholdSeconds before the database is ready.';
const NO_PRIMARY_KEY =
  'What to do with a table without a primary key: fail the assessment, or publish it with REPLICA IDENTITY FULL ' +
  '(updates and deletes then match whole rows, which is slower).';

const THROTTLE_LOCAL_ONLY = (platform: string) =>
  `is applied by the local platform's copy and validation, which read the source themselves; on ${platform} ` +
  'nothing would apply it (on gcp DMS copies the rows): remove it';

const databaseSchema = z
  .strictObject({
    name: z
      .string()
      .regex(NAME, NAME_RULE)
      .describe(
        'Unique name of this database in the plan, used in commands (dbmig approve ID NAME) and resource names.',
      ),
    engine: z
      .enum(['postgresql', 'mysql', 'sqlserver'])
      .describe(
        "The source's engine. The local platform migrates postgresql only; sqlserver is gcp only (onto Cloud SQL " +
          'for SQL Server, from backup files in Cloud Storage: see backups).',
      ),
    priority: z
      .enum(['high', 'medium', 'low'])
      .default('medium')
      .describe(
        'Start order: high first, then medium, then low (plan order within one priority). On gcp, high also asks ' +
          'for calendar-mode capacity where the machine type allows it.',
      ),
    sizeGb: z
      .number()
      .positive()
      .describe(
        "The database's size in GB. It sizes the copy: one migration worker per 50 GB, from 1 to 8, and on gcp the " +
          "target's default storage.",
      ),
    source: sourceSchema,
    target: targetSchema,
    connectivity: connectivitySchema
      .optional()
      .describe("gcp only: how DMS reaches this database's source, in place of gcp.connectivity. Default: gcp's."),
    backups: backupsSchema
      .optional()
      .describe(
        'engine sqlserver only, and required there: where the backup files DMS restores are (a full backup, ' +
          'then transaction log backups as they are taken).',
      ),
    lagThresholdSeconds: lagThresholdSeconds.optional().describe(`${LAG_THRESHOLD} Default: defaults's.`),
    stableWindow: stableWindow.optional().describe(`${STABLE_WINDOW} Default: defaults's.`),
    noPrimaryKey: noPrimaryKey.optional().describe(`${NO_PRIMARY_KEY} Default: defaults's.`),
    throttle: throttleSchema
      .optional()
      .describe(
        "This database's limits on its source's load, in place of defaults's (whole: {} sets none for it). " +
          "Default: defaults's.",
      ),
    dependsOn: dependsOnSchema,
    approvers: approversSchema,
    healthCheck: healthCheckSchema
      .optional()
      .describe("This database's health check after the cutover, in place of cutover.healthCheck's. Default: that."),
  })
  .describe('One database to migrate: where from, where to, and how it is judged ready.');

/**
 * The most databases one plan (one parent workflow) takes. The plan is the parent's input and is
 * carried across continue-as-new with every database's state; at 2,000 databases both stay well
 * under Temporal's 2 MB payload limit (bench/fleet-scale.ts measures them at 1,000).
 */
export const MAX_DATABASES = 2_000;
/** The plan's JSON size past which it is refused for the same reason, whatever its database count. */
export const MAX_PLAN_BYTES = 1_000_000;

export const planSchema = z
  .strictObject({
    migrationId: z
      .string()
      .regex(NAME, NAME_RULE)
      .optional()
      .describe(
        'The migration id: the workflow id, and the seed of every resource name. An id that has run is never ' +
          'run again. Default: --id, else migration-TIMESTAMP.',
      ),
    platform: z
      .enum(['local', 'gcp', 'sim'])
      .default('local')
      .describe(
        'Where the migration runs. local: embedded PostgreSQL clusters on this machine or existing servers ' +
          "(demos, tests, rehearsals, moves onto servers you run); gcp: Cloud SQL and AlloyDB with Google's " +
          'Database Migration Service; sim: simulated, nothing real is touched (benchmarks, scale tests).',
      ),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(2)
      .describe('How many databases migrate at once; the others wait their turn in priority order.'),
    approval: z
      .strictObject({
        policy: z
          .enum(['manual', 'auto'])
          .default('manual')
          .describe(
            'manual: each cutover waits for dbmig approve (or an application) once the database is ready; ' +
              'auto: the cutover follows readiness without waiting.',
          ),
        timeout: duration
          .default('24h')
          .describe('How long a ready database waits for a decision before onTimeout applies.'),
        onTimeout: z
          .enum(['escalate', 'fail'])
          .default('escalate')
          .describe(
            'When no decision came within timeout: escalate (notify the escalation route and keep waiting; a ' +
              'synced target is never thrown away for a slow human) or fail the database (it is compensated).',
          ),
      })
      .default({ policy: 'manual', timeout: '24h', onTimeout: 'escalate' })
      .describe('Who decides that a ready database cuts over, and how long they have.'),
    defaults: z
      .strictObject({
        lagThresholdSeconds: lagThresholdSeconds.default(5).describe(LAG_THRESHOLD),
        stableWindow: stableWindow.default('30s').describe(STABLE_WINDOW),
        noPrimaryKey: noPrimaryKey.default('fail').describe(NO_PRIMARY_KEY),
        throttle: throttleSchema
          .optional()
          .describe(
            "Limits on the source's load for every database that does not set its own (local platform): the copy " +
              'and the live validation pause while one is crossed. Default: none, they read as fast as they can.',
          ),
      })
      .default({ lagThresholdSeconds: 5, stableWindow: '30s', noPrimaryKey: 'fail' })
      .describe('Readiness settings for every database that does not set its own.'),
    cutoverWindow: z
      .strictObject({
        days: z
          .array(z.enum(DAYS))
          .min(1, 'must name at least one day')
          .describe('The days the window opens on (the day it starts, for a window past midnight).'),
        start: z.string().regex(HHMM, 'must be HH:MM').describe('When the window opens, HH:MM in timeZone.'),
        end: z
          .string()
          .regex(HHMM, 'must be HH:MM')
          .describe('When it closes, HH:MM in timeZone; earlier than start means the next day.'),
        timeZone: z
          .string()
          .refine(validTimeZone, { message: 'must be an IANA time zone such as Europe/Berlin' })
          .describe('An IANA time zone, e.g. Europe/Berlin or UTC.'),
      })
      .refine((w) => w.start !== w.end, { message: 'start and end must differ' })
      .optional()
      .describe(
        'Cutovers start only inside this window; approvals are accepted any time and wait for it. ' +
          'Default: no window, a cutover may start at any time.',
      ),
    cutover: z
      .strictObject({
        maxLagSeconds: z
          .number()
          .positive()
          .max(3600)
          .optional()
          .describe(
            'The cutover starts only when a fresh lag sample is at most this many seconds; otherwise nothing is ' +
              `blocked and it is retried. Default ${CUTOVER_DEFAULTS.maxLagSeconds}.`,
          ),
        timeout: cutoverTimeout
          .optional()
          .describe(
            'The longest the source stays blocked for writes during the cutover, 1s to 10m; past it writes come ' +
              `back and the cutover fails retryably. Default ${CUTOVER_DEFAULTS.timeoutMs / 1000}s.`,
          ),
        reverseReplicationFor: duration
          .optional()
          .describe(
            'How long after the cutover reverse replication (target to source) keeps a rollback possible before ' +
              'the database is finalized on its own; 0s finalizes at once. Default 24h.',
          ),
        healthCheck: healthCheckSchema.optional(),
      })
      .optional()
      .describe('The bounds of the cutover itself: when it may start, how long writes may be blocked.'),
    copy: z
      .strictObject({
        method: z
          .enum(['snapshot', 'native'])
          .optional()
          .describe(
            'How the local platform copies the rows before CDC. snapshot: its own streams read one exported ' +
              "snapshot in ranges, indexes are built after the data, resumable by range; native: the subscription's " +
              'own table sync (one stream per table, indexes maintained while it loads). ' +
              `Default ${COPY_DEFAULTS.method}.`,
          ),
        streams: z
          .number()
          .int()
          .min(1)
          .max(64)
          .optional()
          .describe(
            `Copy streams (and index builds) at once per database, snapshot method. Default ${COPY_DEFAULTS.streams}.`,
          ),
        rangeMb: z
          .number()
          .int()
          .min(1)
          .max(4096)
          .optional()
          .describe(
            'The size of the block ranges a large table is split into, in MB of heap (snapshot method). ' +
              `Default ${COPY_DEFAULTS.rangeMb}.`,
          ),
        workerStreams: z
          .number()
          .int()
          .min(1)
          .max(256)
          .optional()
          .describe(
            "Copy streams (and index builds) at once of this plan's databases in one worker process, whatever " +
              'number of databases it copies at once; each database still runs at most copy.streams. Default: ' +
              "the worker machine's cores, at least 2.",
          ),
        helpers: z
          .number()
          .int()
          .min(0)
          .max(MAX_COPY_HELPERS)
          .optional()
          .describe(
            "Other data-plane workers that may join each database's snapshot copy, each with its own " +
              'copy.streams, taking ranges the copy has not started (a worker already copying that database ' +
              `hands the help on). 0 to ${MAX_COPY_HELPERS}; default 0: one worker copies each database.`,
          ),
      })
      .optional()
      .describe('How the initial copy moves the rows (local platform).'),
    validation: z
      .strictObject({
        streams: z
          .number()
          .int(STREAMS_RULE)
          .min(1, STREAMS_RULE)
          .max(64, STREAMS_RULE)
          .optional()
          .describe(
            'Chunks compared at once per database by the live validation: each opens one session on the source ' +
              `and one on the target. Default ${VALIDATION_DEFAULTS.streams}.`,
          ),
        chunkRows: z
          .number()
          .int(CHUNK_ROWS_RULE)
          .min(100, CHUNK_ROWS_RULE)
          .max(1_000_000, CHUNK_ROWS_RULE)
          .optional()
          .describe(
            'Rows per chunk of the live validation, by primary-key range: a chunk that differs is ' +
              'read whole to name its keys, and a retried attempt compares its current chunks again. ' +
              `Default ${VALIDATION_DEFAULTS.chunkRows}.`,
          ),
      })
      .optional()
      .describe('How the live validation before the cutover compares the tables (local platform).'),
    continueAsNewAfterEvents: z
      .number()
      .int()
      .min(100)
      .optional()
      .describe(
        'The fleet workflow starts a fresh run (continue-as-new) once its history has this many events, carrying ' +
          "every database's state; Temporal's own suggestion to do so applies regardless. Default 5000.",
      ),
    roles: rolesSchema,
    policy: policySchema,
    gcp: gcpSchema.optional(),
    sim: simSchema.optional(),
    notifications: notificationsSchema.optional(),
    databases: z
      .array(databaseSchema)
      .min(1, 'must list at least one database')
      .max(
        MAX_DATABASES,
        `must list at most ${MAX_DATABASES} databases: one migration (one parent workflow) carries every ` +
          "database's state across continue-as-new, and Temporal refuses payloads over 2 MB; split the " +
          'fleet into several plans, each with its own migrationId',
      )
      .describe(`The databases to migrate, 1 to ${MAX_DATABASES}.`),
  })
  .describe('A dbmig plan: a fleet of databases to migrate, where, how many at once, and who approves each cutover.')
  .superRefine((plan, ctx) => {
    const bytes = JSON.stringify(plan).length;
    if (bytes > MAX_PLAN_BYTES)
      ctx.addIssue({
        code: 'custom',
        path: [],
        message:
          `is ${Math.round(bytes / 1000)} KB, over the ${MAX_PLAN_BYTES / 1000} KB a migration takes: it is the ` +
          "parent workflow's input and is carried across continue-as-new (Temporal refuses payloads over " +
          '2 MB); split the fleet into several plans, each with its own migrationId',
      });
    const promoteMs = plan.gcp?.promoteTimeout ? parseDuration(plan.gcp.promoteTimeout)! : undefined;
    const timeoutMs = plan.cutover?.timeout ? parseDuration(plan.cutover.timeout)! : CUTOVER_DEFAULTS.timeoutMs;
    const budget = gcpCutoverBudget(timeoutMs, promoteMs ?? GCP_PROMOTE_TIMEOUT_DEFAULT_MS);
    if (plan.platform === 'gcp' && !budget.fits)
      ctx.addIssue({
        code: 'custom',
        path: promoteMs !== undefined ? ['gcp', 'promoteTimeout'] : ['cutover', 'timeout'],
        message:
          `gcp.promoteTimeout (${(promoteMs ?? GCP_PROMOTE_TIMEOUT_DEFAULT_MS) / 1000}s) must be shorter than ` +
          `cutover.timeout (${timeoutMs / 1000}s) by ${(2 * budget.margin + budget.minDrainMs) / 1000}s: the source ` +
          'stays closed from the fence until DMS answers the promote, and the deadline must cover a drain, ' +
          'closing, that answer and a reopen',
      });
    // Only the local platform reads the source itself (on gcp DMS copies): a limit nothing applies is refused.
    if (plan.platform !== 'local' && plan.defaults.throttle)
      ctx.addIssue({ code: 'custom', path: ['defaults', 'throttle'], message: THROTTLE_LOCAL_ONLY(plan.platform) });
    plan.databases.forEach((db, i) => {
      if (plan.platform !== 'local' && db.throttle)
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'throttle'],
          message: THROTTLE_LOCAL_ONLY(plan.platform),
        });
    });
    if (plan.platform !== 'local' && plan.validation)
      ctx.addIssue({
        code: 'custom',
        path: ['validation'],
        message:
          "is applied by the local platform's live validation, which compares the tables itself; on " +
          `${plan.platform} nothing would apply it: remove it`,
      });
    // Helpers take ranges of the snapshot copy; the native copy is the subscription's own.
    if (plan.copy?.helpers && plan.copy.method === 'native')
      ctx.addIssue({
        code: 'custom',
        path: ['copy', 'helpers'],
        message: 'joins the snapshot copy: with copy.method native the subscription copies alone; remove it',
      });
    if (plan.platform !== 'sim' && plan.sim)
      ctx.addIssue({ code: 'custom', path: ['sim'], message: 'is only for platform: sim' });
    if (plan.platform === 'gcp' && !plan.gcp)
      ctx.addIssue({
        code: 'custom',
        path: ['gcp'],
        message: 'is required when platform is gcp (project, region, zone, network)',
      });
    // dependsOn, approvers and roles (common/plan-waves.ts): unknown names, cycles with their path.
    for (const issue of waveIssues(plan)) ctx.addIssue({ code: 'custom', ...issue });
    const names = new Set<string>();
    const targets = new Set<string>();
    plan.databases.forEach((db, i) => {
      if (names.has(db.name))
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'name'],
          message: `duplicate database name "${db.name}"`,
        });
      names.add(db.name);
      const target = `${db.target.instance}/${db.target.database ?? db.source.database}`;
      if (targets.has(target))
        ctx.addIssue({ code: 'custom', path: ['databases', i, 'target'], message: `target ${target} is used twice` });
      targets.add(target);
      if (db.engine === 'mysql' && db.target.kind === 'alloydb') {
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'target', 'kind'],
          message: 'AlloyDB is PostgreSQL only; move mysql to cloudsql',
        });
      }
      if (plan.platform !== 'gcp' && db.connectivity)
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'connectivity'],
          message: `is how DMS reaches the source on gcp; nothing applies it on ${plan.platform}: remove it`,
        });
      if (plan.platform === 'gcp' && !db.target.passwordRef)
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'target', 'passwordRef'],
          message:
            "is required on gcp: DMS's destination connection profile needs the target's credentials, and the " +
            'platform sets them on the target it creates',
        });
      if (plan.platform === 'gcp') {
        // DMS replicates a whole source instance into a destination it demotes to a replica.
        const other = plan.databases.findIndex((o, j) => j < i && o.target.instance === db.target.instance);
        if (other >= 0)
          ctx.addIssue({
            code: 'custom',
            path: ['databases', i, 'target', 'instance'],
            message:
              `${db.target.instance} is also databases[${other}]'s target: on gcp DMS demotes its destination to ` +
              'a replica of one source, so every database needs its own target instance',
          });
      }
      const sameInstance = plan.databases.findIndex(
        (o, j) =>
          j < i &&
          o.target.instance === db.target.instance &&
          !!o.target.version &&
          !!db.target.version &&
          o.target.version !== db.target.version,
      );
      if (sameInstance >= 0)
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'target', 'version'],
          message:
            `${db.target.version} differs from databases[${sameInstance}]'s ` +
            `${plan.databases[sameInstance].target.version} ` +
            `on the same instance ${db.target.instance}: an instance runs one version; name another instance`,
        });
      if (
        plan.platform === 'local' &&
        db.target.kind !== 'postgres' &&
        db.target.version &&
        !(LOCAL_TARGET_MAJORS as readonly number[]).includes(Number(db.target.version))
      )
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'target', 'version'],
          message:
            `the local platform runs PostgreSQL ${LOCAL_TARGET_MAJORS.join(', ')} as targets, ` +
            `not ${db.target.version}`,
        });
      if (db.target.kind === 'postgres') {
        if (plan.platform !== 'local')
          ctx.addIssue({
            code: 'custom',
            path: ['databases', i, 'target', 'kind'],
            message: `postgres (an existing server) is a target of the local platform, not ${plan.platform}`,
          });
        for (const f of ['host', 'user', 'passwordRef'] as const)
          if (!db.target[f])
            ctx.addIssue({
              code: 'custom',
              path: ['databases', i, 'target', f],
              message: 'is required for kind postgres (an existing server: host, user, passwordRef)',
            });
      } else if (db.target.host || db.target.port)
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'target', db.target.host ? 'host' : 'port'],
          message: `is for kind postgres (an existing server), not ${db.target.kind}`,
        });
      sqlserverIssues(plan.platform, db, {
        timeoutMs,
        promoteMs: promoteMs ?? GCP_PROMOTE_TIMEOUT_DEFAULT_MS,
      }).forEach((issue) =>
        ctx.addIssue({ code: 'custom', path: ['databases', i, ...issue.path], message: issue.message }),
      );
      if (plan.platform === 'local' && db.engine !== 'postgresql') {
        ctx.addIssue({
          code: 'custom',
          path: ['databases', i, 'engine'],
          message: `${db.engine} is not supported by the local platform (postgresql only)`,
        });
      }
    });
  });

export type PlanInput = z.input<typeof planSchema>;
export type Plan = z.output<typeof planSchema>;
export type DatabasePlan = Plan['databases'][number];
export type PlatformName = Plan['platform'];

export class InvalidPlanError extends Error {
  readonly type = 'InvalidPlan';
  constructor(readonly issues: PlanIssue[]) {
    super(`Invalid plan:\n${issues.map((i) => `  ${i.field}: ${i.message}`).join('\n')}`);
    this.name = 'InvalidPlan';
  }
}

/** Parses and normalises a plan; throws InvalidPlanError naming every bad field. */
export function validatePlan(input: unknown): Plan {
  const result = planSchema.safeParse(input);
  const removed = removedFields(input);
  if (!result.success || removed.length) {
    const named = new Set(removed.map((r) => r.field));
    const issues = result.success ? [] : planIssues(planSchema, result.error.issues);
    throw new InvalidPlanError([...removed, ...issues.filter((i) => !named.has(i.field))]);
  }
  return withSqlServerDefaults(input, withInstanceVersions(result.data));
}

/**
 * Fields earlier plans had and this one refuses by name, with why, rather than as an unknown key.
 * gcp.dumpBucket named one Cloud Storage dump (DMS's MigrationJob.dumpPath) for every MySQL source
 * of the plan and was never sent. DMS offers a manual dump in the flow where it creates the
 * destination (https://cloud.google.com/database-migration/docs/mysql/get-started-with-mysql-migrations:
 * "Migrate to a new destination instance ... using automatic or manual mysqldump files"), while
 * the gcp platform creates its targets and uses the existing-instance flow, where DMS takes the
 * dump itself; and one path cannot be the dump of several sources.
 */
function removedFields(input: unknown): PlanIssue[] {
  const gcp = (input as { gcp?: Record<string, unknown> } | null)?.gcp;
  if (!gcp || typeof gcp !== 'object' || gcp.dumpBucket === undefined) return [];
  return [
    {
      path: ['gcp', 'dumpBucket'],
      field: 'gcp.dumpBucket',
      message:
        'is no longer accepted: it was never sent to DMS, which takes the initial dump itself for the ' +
        'existing-instance migrations the gcp platform runs (a manual dump is offered only where DMS creates ' +
        'the destination, and one path cannot hold the dump of several sources): remove it',
    },
  ];
}

/**
 * An instance runs one version: a database that names none takes the version another database on
 * the same instance names (the schema refused two different ones). Without this, whichever database
 * reached the instance first would fix its version, and the other could be refused.
 */
function withInstanceVersions(plan: Plan): Plan {
  const named = new Map<string, string>();
  for (const d of plan.databases) if (d.target.version) named.set(d.target.instance, d.target.version);
  if (!plan.databases.some((d) => !d.target.version && named.has(d.target.instance))) return plan;
  return {
    ...plan,
    databases: plan.databases.map((d) =>
      d.target.version || !named.has(d.target.instance)
        ? d
        : { ...d, target: { ...d.target, version: named.get(d.target.instance) } },
    ),
  };
}

export interface EffectiveSettings {
  lagThresholdSeconds: number;
  stableWindowMs: number;
  noPrimaryKey: 'fail' | 'replica-identity-full';
  targetDatabase: string;
  /**
   * Present only when the plan sets them: a workflow started before these existed passes settings
   * without them, so every reader goes through cutoverLimits(), which applies the defaults.
   */
  cutoverMaxLagSeconds?: number;
  cutoverTimeoutMs?: number;
  reverseReplicationForMs?: number;
  /** Lag above which the replication watcher reports lag-rising; present when the plan notifies anyone. */
  lagAlertSeconds?: number;
  /** The plan's anomaly tuning (notifications.anomalies), when it sets any; common/anomaly.ts applies the defaults. */
  anomalies?: { window?: string; lagSlopePerMinute?: number; lagRiseSeconds?: number; errorsPerWindow?: number };
  /** The plan's copy settings, when it sets any; copySettings() applies the defaults. */
  copy?: {
    method?: 'snapshot' | 'native';
    streams?: number;
    rangeMb?: number;
    workerStreams?: number;
    helpers?: number;
  };
  /** The plan's live validation settings, when it sets any; validationSettings() applies the defaults. */
  validation?: { streams?: number; chunkRows?: number };
  /** Limits on the source's load, when the plan sets any (the database's, else defaults'). */
  throttle?: ThrottleSettings;
  /** The health check after the cutover (the database's, else cutover.healthCheck), when the plan names one. */
  healthCheck?: HealthCheckSettings;
}

export function copySettings(s: EffectiveSettings): {
  method: 'snapshot' | 'native';
  streams: number;
  rangeMb: number;
  /** Absent: the worker's machine decides (activities/engines/postgres/worker-streams.ts). */
  workerStreams?: number;
  helpers: number;
} {
  return {
    method: s.copy?.method ?? COPY_DEFAULTS.method,
    streams: s.copy?.streams ?? COPY_DEFAULTS.streams,
    rangeMb: s.copy?.rangeMb ?? COPY_DEFAULTS.rangeMb,
    ...(s.copy?.workerStreams !== undefined ? { workerStreams: s.copy.workerStreams } : {}),
    helpers: s.copy?.helpers ?? 0,
  };
}

export function validationSettings(s: EffectiveSettings): { streams: number; chunkRows: number } {
  return {
    streams: s.validation?.streams ?? VALIDATION_DEFAULTS.streams,
    chunkRows: s.validation?.chunkRows ?? VALIDATION_DEFAULTS.chunkRows,
  };
}

export function effectiveSettings(plan: Plan, db: DatabasePlan): EffectiveSettings {
  return {
    lagThresholdSeconds: db.lagThresholdSeconds ?? plan.defaults.lagThresholdSeconds,
    stableWindowMs: parseDuration(db.stableWindow ?? plan.defaults.stableWindow)!,
    noPrimaryKey: db.noPrimaryKey ?? plan.defaults.noPrimaryKey,
    targetDatabase: db.target.database ?? db.source.database,
    ...(plan.cutover?.maxLagSeconds !== undefined ? { cutoverMaxLagSeconds: plan.cutover.maxLagSeconds } : {}),
    ...(plan.cutover?.timeout !== undefined ? { cutoverTimeoutMs: parseDuration(plan.cutover.timeout)! } : {}),
    ...(plan.cutover?.reverseReplicationFor !== undefined
      ? { reverseReplicationForMs: parseDuration(plan.cutover.reverseReplicationFor)! }
      : {}),
    ...(plan.notifications ? { lagAlertSeconds: plan.notifications.lagAlertSeconds } : {}),
    ...(plan.notifications?.anomalies ? { anomalies: plan.notifications.anomalies } : {}),
    ...(plan.copy ? { copy: plan.copy } : {}),
    ...(plan.validation ? { validation: plan.validation } : {}),
    ...throttleOf(plan, db),
    ...healthCheckOf(plan, db),
  };
}

/** A database's health check replaces cutover.healthCheck whole; absent when neither names one. */
function healthCheckOf(plan: Plan, db: DatabasePlan): { healthCheck?: HealthCheckSettings } {
  const healthCheck = healthCheckSettings(db.healthCheck ?? plan.cutover?.healthCheck);
  return healthCheck ? { healthCheck } : {};
}

/** A database's throttle replaces defaults' whole; absent when neither sets a limit. */
function throttleOf(plan: Plan, db: DatabasePlan): { throttle?: ThrottleSettings } {
  const throttle = throttleSettings(db.throttle ?? plan.defaults.throttle);
  return throttle ? { throttle } : {};
}

/** The cutover's bounds for a task: the plan's, or the defaults. */
export function cutoverLimits(s: EffectiveSettings): {
  maxLagSeconds: number;
  timeoutMs: number;
  reverseReplicationForMs: number;
} {
  return {
    maxLagSeconds: s.cutoverMaxLagSeconds ?? CUTOVER_DEFAULTS.maxLagSeconds,
    timeoutMs: s.cutoverTimeoutMs ?? CUTOVER_DEFAULTS.timeoutMs,
    reverseReplicationForMs: s.reverseReplicationForMs ?? CUTOVER_DEFAULTS.reverseReplicationForMs,
  };
}
