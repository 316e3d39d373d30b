// The gcp platform's part of a plan: the project it works in, how DMS reaches each source, and the
// migration workers it starts.
import { z } from 'zod';
import { GCP_PROMOTE_TIMEOUT_DEFAULT_MS } from './plan-defaults';
import { duration, GCP_NAME } from './plan-fields';

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

export const gcpSchema = z
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
