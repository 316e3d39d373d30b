// The connectivity part of `dbmig gcp check`: per database, what its DMS connectivity method
// (databases[].connectivity, else gcp.connectivity; dms/connectivity.ts) needs to exist before the
// job is created, read and judged. Reads only:
// - vpc-peering: the network and its private services access (checks.ts checkPrivateServicesAccess).
// - private-service-connect: the private connection, CREATED (datamigration privateConnections.get,
//   https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.privateConnections/get).
// - reverse-ssh: the bastion VM, running, with vmIp on the plan's VPC (compute instances.get:
//   Instance.status, network_interfaces[].network_ip and network;
//   https://cloud.google.com/database-migration/docs/postgres/configure-connectivity-reverse-ssh-tunnel).
// - ip-allowlist: DMS's static IPs for the region (projects.locations.fetchStaticIps,
//   https://cloud.google.com/database-migration/docs/postgres/configure-connectivity-ip-allowlists),
//   listed as a WARN: the source's firewall is not something the check can read.
import type { Connectivity, GcpSettings } from '../../../../common/plan-gcp';
import type { DatabasePlan, Plan } from '../../../../common/plan';
import { httpStatus } from '../errors';
import { failedRead, lastSegment, row, type CheckContext, type CheckResult } from './checks';

const CHECK = 'Connectivity';
const DMS = 'datamigration.projects.locations';

/** The API methods only one connectivity method sends (permissions.ts lists them with the rest). */
export const CONNECTIVITY_METHODS: Record<Connectivity['method'], string[]> = {
  'vpc-peering': [],
  'private-service-connect': [`${DMS}.privateConnections.get`],
  'reverse-ssh': [`${DMS}.migrationJobs.generateSshScript`],
  'ip-allowlist': [`${DMS}.fetchStaticIps`],
};

/** The permissions this check's own reads need, per method in the plan. */
export const CONNECTIVITY_PREFLIGHT_PERMISSIONS: Record<Connectivity['method'], string[]> = {
  'vpc-peering': [],
  'private-service-connect': ['datamigration.privateconnections.get'],
  'reverse-ssh': ['compute.instances.get'],
  'ip-allowlist': ['datamigration.locations.fetchStaticIps'],
};

export const connectivityOfDatabase = (gcp: GcpSettings, d: DatabasePlan): Connectivity =>
  d.connectivity ?? gcp.connectivity ?? { method: 'vpc-peering' };

/** The methods the plan's databases use. */
export const methodsInPlan = (plan: Plan, gcp: GcpSettings): Set<Connectivity['method']> =>
  new Set(plan.databases.map((d) => connectivityOfDatabase(gcp, d).method));

export async function checkConnectivity(ctx: CheckContext): Promise<CheckResult[]> {
  const { plan, gcp } = ctx;
  let staticIps: Promise<CheckResult | string[]> | undefined;
  const rows = plan.databases.map(async (d): Promise<CheckResult> => {
    const conn = connectivityOfDatabase(gcp, d);
    switch (conn.method) {
      case 'vpc-peering':
        return row(
          CHECK,
          'OK',
          `${d.name}: VPC peering with ${lastSegment(gcp.network)} (see Private services access)`,
        );
      case 'private-service-connect':
        return privateConnection(ctx, d, conn.privateConnection);
      case 'reverse-ssh':
        return bastion(ctx, d, conn);
      case 'ip-allowlist': {
        staticIps ??= fetchStaticIps(ctx);
        const ips = await staticIps;
        if (!Array.isArray(ips)) return { ...ips, what: `${d.name}: ${ips.what}` };
        return row(
          CHECK,
          'WARN',
          `${d.name}: DMS connects to ${d.source.host}:${d.source.port} from ${ips.join(', ') || 'no address'}`,
          `allow these addresses on the source's firewall before the job is verified`,
        );
      }
    }
  });
  return Promise.all(rows);
}

async function privateConnection(ctx: CheckContext, d: DatabasePlan, name: string): Promise<CheckResult> {
  const region = name.split('/')[3];
  const create =
    `gcloud database-migration private-connections create ${lastSegment(name)} --region=${region} ` +
    `--network-attachment=ATTACHMENT --project=${ctx.gcp.project}`;
  try {
    const pc = (await ctx.c.dms.projects.locations.privateConnections.get({ name }, { timeout: ctx.timeout })).data;
    return pc.state === 'CREATED'
      ? row(CHECK, 'OK', `${d.name}: private connection ${lastSegment(name)} is CREATED`)
      : row(
          CHECK,
          'FIX',
          `${d.name}: private connection ${lastSegment(name)} is ${pc.state ?? 'in no state'}, not CREATED` +
            (pc.error?.message ? ` (${pc.error.message})` : ''),
          pc.state === 'CREATING' ? 'wait until it is CREATED' : `delete it and create it again: ${create}`,
        );
  } catch (err) {
    if (httpStatus(err) === 404)
      return row(CHECK, 'FIX', `${d.name}: private connection ${name} does not exist`, create);
    return failedRead(CHECK, `${d.name}: read private connection ${name}`, err, 'datamigration.privateconnections.get');
  }
}

async function bastion(
  ctx: CheckContext,
  d: DatabasePlan,
  conn: Extract<Connectivity, { method: 'reverse-ssh' }>,
): Promise<CheckResult> {
  const zone = conn.vmZone ?? ctx.gcp.zone;
  const vpc = lastSegment(conn.vpc ?? ctx.gcp.network);
  const what = `${d.name}: bastion VM ${conn.vm} in ${zone}`;
  try {
    const [vm] = await ctx.c.instances.get(
      { project: ctx.gcp.project, zone, instance: conn.vm },
      { timeout: ctx.timeout },
    );
    const nic = (vm.networkInterfaces ?? []).find((n) => n.networkIP === conn.vmIp);
    if (!nic)
      return row(
        CHECK,
        'FIX',
        `${what} has no interface with ${conn.vmIp} (it has ` +
          `${(vm.networkInterfaces ?? []).map((n) => n.networkIP).join(', ') || 'none'})`,
        "set the connectivity's vmIp to the VM's internal IP",
      );
    if (lastSegment(nic.network) !== vpc)
      return row(
        CHECK,
        'FIX',
        `${what}: ${conn.vmIp} is on network ${lastSegment(nic.network)}, not ${vpc}`,
        "set the connectivity's vpc to the VM's network",
      );
    if (String(vm.status) !== 'RUNNING')
      return row(
        CHECK,
        'FIX',
        `${what} is ${String(vm.status)}`,
        `gcloud compute instances start ${conn.vm} --zone=${zone}`,
      );
    return row(
      CHECK,
      'OK',
      `${what} is RUNNING with ${conn.vmIp} on ${vpc}; the tunnel script comes when the job is created ` +
        `(port ${conn.vmPort})`,
    );
  } catch (err) {
    if (httpStatus(err) === 404)
      return row(
        CHECK,
        'FIX',
        `${what} does not exist`,
        `create it on ${vpc} (gcloud compute instances create ${conn.vm} --zone=${zone} --network=${vpc})`,
      );
    return failedRead(CHECK, `read ${what}`, err, 'compute.instances.get');
  }
}

async function fetchStaticIps(ctx: CheckContext): Promise<CheckResult | string[]> {
  const name = `projects/${ctx.gcp.project}/locations/${ctx.gcp.region}`;
  const ips: string[] = [];
  try {
    let pageToken: string | undefined;
    do {
      const r = (await ctx.c.dms.projects.locations.fetchStaticIps({ name, pageToken }, { timeout: ctx.timeout })).data;
      ips.push(...(r.staticIps ?? []));
      pageToken = r.nextPageToken || undefined;
    } while (pageToken);
    return ips;
  } catch (err) {
    return failedRead(CHECK, `fetch DMS's static IPs of ${name}`, err, 'datamigration.locations.fetchStaticIps');
  }
}
