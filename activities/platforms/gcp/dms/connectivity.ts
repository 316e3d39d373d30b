// How DMS reaches the source, by plan (databases[].connectivity, else gcp.connectivity; default VPC
// peering), for homogeneous PostgreSQL and MySQL migrations
// (https://cloud.google.com/database-migration/docs/postgres/networking-methods,
// https://cloud.google.com/database-migration/docs/mysql/configure-connectivity). Where each
// method lives in the requests (datamigration v1 discovery document: MigrationJob's connectivity
// oneof, PostgreSqlConnectionProfile / MySqlConnectionProfile):
// - vpc-peering: MigrationJob.vpcPeeringConnectivity {vpc}
//   (https://cloud.google.com/database-migration/docs/postgres/configure-connectivity-vpc-peering).
// - reverse-ssh: MigrationJob.reverseSshConnectivity {vm, vmIp, vmPort, vpc}; once the job exists,
//   migrationJobs.generateSshScript {vm, vmPort, vmSelectionConfig {vmZone}} answers the script
//   that opens the tunnel from a machine that reaches the source
//   (https://cloud.google.com/database-migration/docs/postgres/configure-connectivity-reverse-ssh-tunnel).
//   The worker stores it (storeSshScript) for the operator to run; DMS's verify fails until it runs.
// - ip-allowlist: MigrationJob.staticIpConnectivity {} ("default, no additional details needed");
//   the addresses to allow are projects.locations.fetchStaticIps
//   (https://cloud.google.com/database-migration/docs/postgres/configure-connectivity-ip-allowlists),
//   read when the job is created and listed by `dbmig gcp check`.
// - private-service-connect: the source profile's privateConnectivity {privateConnection} names a
//   DMS private connection the operator created (gcloud database-migration connection-profiles
//   create postgresql/mysql --private-connection); the job then carries no connectivity of its own.
//   The private connection must be CREATED: it is read before the profile is made.
import { Context } from '@temporalio/activity';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Connectivity } from '../../../../common/plan-gcp';
import { MigrationError } from '../../../../common/failures';
import type { DatabaseTask, PlannedOperation } from '../../../steps';
import type { GcpClients } from '../clients';
import { call } from '../errors';
import { gcpNames } from '../names';
import { planned, plannedCall } from '../planned';
import { data, JOBS, type Job, type Profile } from './common';

export const PRIVATE_CONNECTIONS = 'datamigration.projects.locations.privateConnections';
export const FETCH_STATIC_IPS = 'datamigration.projects.locations.fetchStaticIps';

/** The database's own connectivity, else the plan's (gcp.connectivity), else VPC peering. */
export function connectivityOf(task: DatabaseTask): Connectivity {
  return task.database.connectivity ?? task.gcp?.connectivity ?? { method: 'vpc-peering' };
}

/** The job's connectivity field: one of MigrationJob's oneof, or none for a private connection. */
export function jobConnectivity(
  task: DatabaseTask,
): Pick<Job, 'vpcPeeringConnectivity' | 'reverseSshConnectivity' | 'staticIpConnectivity'> {
  const c = connectivityOf(task);
  switch (c.method) {
    case 'vpc-peering':
      return { vpcPeeringConnectivity: { vpc: task.gcp!.network } };
    case 'reverse-ssh':
      return { reverseSshConnectivity: { vm: c.vm, vmIp: c.vmIp, vmPort: c.vmPort, vpc: c.vpc ?? task.gcp!.network } };
    case 'ip-allowlist':
      return { staticIpConnectivity: {} };
    case 'private-service-connect':
      return {};
  }
}

/** The source profile's connectivity fields (private-service-connect only). */
export function sourceProfileConnectivity(task: DatabaseTask): Record<string, unknown> {
  const c = connectivityOf(task);
  return c.method === 'private-service-connect'
    ? { privateConnectivity: { privateConnection: c.privateConnection } }
    : {};
}

/** The job's connectivity as a line of the dry run and of an AlreadyExistsMismatch. */
export function describeConnectivity(task: DatabaseTask): string {
  const c = connectivityOf(task);
  switch (c.method) {
    case 'vpc-peering':
      return `VPC peering with ${task.gcp!.network}`;
    case 'reverse-ssh':
      return `reverse SSH through VM ${c.vm} (${c.vmIp}:${c.vmPort}) on ${c.vpc ?? task.gcp!.network}`;
    case 'ip-allowlist':
      return "IP allowlist (the source allows DMS's static IPs: dbmig gcp check lists them)";
    case 'private-service-connect':
      return `Private Service Connect through ${c.privateConnection}`;
  }
}

/** The connectivity fields of an existing job that must equal the wanted one's, to reuse it. */
export const JOB_CONNECTIVITY_FIELDS: [string, (j: Job) => unknown][] = [
  ['vpcPeeringConnectivity.vpc', (j) => j.vpcPeeringConnectivity?.vpc],
  ['reverseSshConnectivity.vm', (j) => j.reverseSshConnectivity?.vm],
  ['reverseSshConnectivity.vmIp', (j) => j.reverseSshConnectivity?.vmIp],
  ['reverseSshConnectivity.vmPort', (j) => j.reverseSshConnectivity?.vmPort],
  ['reverseSshConnectivity.vpc', (j) => j.reverseSshConnectivity?.vpc],
  ['staticIpConnectivity', (j) => (j.staticIpConnectivity ? 'set' : undefined)],
];

/** The source profile field that must match an existing profile's, to reuse it. */
export const profilePrivateConnection = (p: Profile): string | undefined =>
  ((p.postgresql ?? p.mysql) as { privateConnectivity?: { privateConnection?: string } } | undefined)
    ?.privateConnectivity?.privateConnection ?? undefined;

/**
 * Before the source profile: the private connection it names exists and is CREATED
 * (PrivateConnection.State CREATING → CREATED | FAILED). It is the operator's: only read here.
 */
export async function checkPrivateConnection(c: GcpClients, task: DatabaseTask): Promise<void> {
  const conn = connectivityOf(task);
  if (conn.method !== 'private-service-connect') return;
  const pc = await call(`get private connection ${conn.privateConnection}`, () =>
    data(c.dms.projects.locations.privateConnections.get({ name: conn.privateConnection })),
  );
  if (pc.state !== 'CREATED')
    throw new MigrationError(
      'InvalidPlan',
      `databases[${task.database.name}] connectivity: private connection ${conn.privateConnection} is ` +
        `${pc.state ?? 'in no state'}, not CREATED${pc.error?.message ? ` (${pc.error.message})` : ''}`,
    );
}

/** Where the worker keeps the scripts it generated; DBMIG_HOME overrides ~/.dbmig. */
export function sshScriptPath(task: DatabaseTask): string {
  const dir = join(process.env.DBMIG_HOME ?? join(homedir(), '.dbmig'), 'ssh-scripts');
  return join(dir, `${gcpNames(task).migrationJob}.sh`);
}

/**
 * Writes `text` to `path` readable by this user alone, all at once: a new file made 0600 from the
 * start (`wx`), then renamed over the old one, so no reader ever sees a wider mode or half a script
 * (a retry replaces it whole); the folder is made, or narrowed, to 0700.
 */
function storePrivately(path: string, text: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const tmp = `${path}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
  renameSync(tmp, path);
}

/** Says something to the operator through the activity's log, when there is an activity. */
function tell(message: string): void {
  try {
    Context.current().log.warn(message);
  } catch {
    console.warn(message);
  }
}

/**
 * After the job exists: what the method needs of the operator. reverse-ssh: the tunnel script,
 * generated by DMS and stored (0600: it names the VM and the source's address) for them to run;
 * ip-allowlist: DMS's static IPs, to allow on the source's firewall. Both are said in the log.
 */
export async function afterJobCreated(c: GcpClients, task: DatabaseTask): Promise<void> {
  const conn = connectivityOf(task);
  const n = gcpNames(task);
  if (conn.method === 'reverse-ssh') {
    const script = await call(`generate the SSH script of ${n.migrationJob}`, () =>
      data(
        c.dms.projects.locations.migrationJobs.generateSshScript({
          migrationJob: n.jobName,
          requestBody: {
            vm: conn.vm,
            vmPort: conn.vmPort,
            vmSelectionConfig: { vmZone: conn.vmZone ?? task.gcp!.zone },
          },
        }),
      ),
    );
    const path = sshScriptPath(task);
    storePrivately(path, script.script ?? '');
    tell(
      `${task.database.name}: run ${path} (DMS's reverse SSH script for VM ${conn.vm}) on a machine that reaches ` +
        `${task.database.source.host}:${task.database.source.port}; DMS's verify fails until the tunnel is up`,
    );
  } else if (conn.method === 'ip-allowlist') {
    const ips = await fetchStaticIps(c, n.parent);
    tell(
      `${task.database.name}: allow ${ips.join(', ') || '(none answered)'} on ${task.database.source.host}:` +
        `${task.database.source.port}'s firewall (DMS's static IPs in ${task.gcp!.region})`,
    );
  }
}

/** projects.locations.fetchStaticIps, every page. */
export async function fetchStaticIps(c: GcpClients, location: string): Promise<string[]> {
  const ips: string[] = [];
  let pageToken: string | undefined;
  do {
    const r = await call(`fetch the static IPs of ${location}`, () =>
      data(c.dms.projects.locations.fetchStaticIps({ name: location, pageToken })),
    );
    ips.push(...(r.staticIps ?? []));
    pageToken = r.nextPageToken || undefined;
  } while (pageToken);
  return ips;
}

/** The dry run's reads before the source profile, and its row after the job. */
export function connectivityReads(task: DatabaseTask): string[] {
  return connectivityOf(task).method === 'private-service-connect' ? [`${PRIVATE_CONNECTIONS}.get`] : [];
}

export function describeAfterJob(task: DatabaseTask): PlannedOperation[] {
  const conn = connectivityOf(task);
  const n = gcpNames(task);
  if (conn.method === 'reverse-ssh')
    return [
      planned({
        state: 'CREATING_JOB',
        calls: [plannedCall(`${JOBS}.generateSshScript`, n.jobName)],
        resource: n.jobName,
        detail:
          `the tunnel script for VM ${conn.vm} port ${conn.vmPort}, stored by the worker in ` +
          `$DBMIG_HOME/ssh-scripts/${n.migrationJob}.sh (DBMIG_HOME default ~/.dbmig) for you to run where the ` +
          'source is reachable, before verify',
      }),
    ];
  if (conn.method === 'ip-allowlist')
    return [
      planned({
        state: 'CREATING_JOB',
        reads: [FETCH_STATIC_IPS],
        resource: n.parent,
        detail: `DMS's static IPs in ${task.gcp!.region}, logged: allow them on the source's firewall before verify`,
      }),
    ];
  return [];
}
