// The checks of `dbmig gcp check`, each a few reads and a verdict per finding: OK, FIX (the plan
// would fail: the row says how to fix it) or WARN. A read that fails is itself a FIX: an unknown
// is not a pass.
import net from 'node:net';
import { capacityMode, workerCount } from '../../../../common/capacity';
import type { GcpSettings } from '../../../../common/plan-gcp';
import type { Plan } from '../../../../common/plan';
import { httpStatus } from '../errors';
import { METHOD_PERMISSIONS, PREFLIGHT_PERMISSIONS, methodsNeeding, requiredPermissions } from './permissions';
import type { PreflightClients } from './clients';
import { CONNECTIVITY_METHODS, CONNECTIVITY_PREFLIGHT_PERMISSIONS, methodsInPlan } from './connectivity';
import { hasSqlServer, SQLSERVER_METHODS } from './sqlserver';

export type CheckStatus = 'OK' | 'FIX' | 'WARN';

export interface CheckResult {
  check: string;
  status: CheckStatus;
  what: string;
  fix: string;
}

export interface CheckContext {
  plan: Plan;
  gcp: GcpSettings;
  c: PreflightClients;
  /** Per-request deadline, ms. */
  timeout: number;
  /** The id the migration will start with (dbmig start --id), when not the plan's migrationId. */
  migrationId?: string;
}

/** The APIs the platform calls (clients.ts) plus Service Networking, which private services access needs. */
export const REQUIRED_SERVICES = [
  'datamigration.googleapis.com',
  'sqladmin.googleapis.com',
  'alloydb.googleapis.com',
  'compute.googleapis.com',
  'monitoring.googleapis.com',
  'secretmanager.googleapis.com',
  'servicenetworking.googleapis.com',
];

export const row = (check: string, status: CheckStatus, what: string, fix = ''): CheckResult => ({
  check,
  status,
  what,
  fix,
});

/** A read that failed, as a FIX row that says why. */
export function failedRead(check: string, doing: string, err: unknown, permission: string): CheckResult {
  const status = httpStatus(err);
  const message = String((err as Error)?.message ?? err).split('\n')[0];
  if (status === 403)
    return row(check, 'FIX', `${doing}: permission denied`, `grant ${permission} to the identity running the check`);
  return row(
    check,
    'FIX',
    `${doing}: could not check (${message})`,
    'run the check again where Google Cloud is reachable',
  );
}

export const enumName = (v: unknown, names: string[]) => (typeof v === 'number' ? names[v] : String(v ?? ''));
export const lastSegment = (s: string | null | undefined) =>
  String(s ?? '')
    .split('/')
    .pop()!;

/**
 * Service Usage services.batchGet (https://cloud.google.com/service-usage/docs/reference/rest/v1/services/batchGet;
 * google/api/serviceusage/v1/serviceusage.proto BatchGetServicesRequest: parent, names, at most 30).
 */
export async function checkApis({ gcp, c, timeout }: CheckContext): Promise<CheckResult[]> {
  const check = 'APIs';
  const parent = `projects/${gcp.project}`;
  try {
    const [res] = await c.serviceUsage.batchGetServices(
      { parent, names: REQUIRED_SERVICES.map((s) => `${parent}/services/${s}`) },
      { timeout },
    );
    const state = new Map(
      (res.services ?? []).map((s) => [
        s.config?.name ?? lastSegment(s.name),
        // google.api.serviceusage.v1.State: STATE_UNSPECIFIED, DISABLED, ENABLED
        enumName(s.state, ['STATE_UNSPECIFIED', 'DISABLED', 'ENABLED']),
      ]),
    );
    return REQUIRED_SERVICES.map((s) =>
      state.get(s) === 'ENABLED'
        ? row(check, 'OK', `${s} enabled`)
        : row(check, 'FIX', `${s} is not enabled`, `gcloud services enable ${s} --project=${gcp.project}`),
    );
  } catch (err) {
    return [failedRead(check, `read the enabled APIs of ${parent}`, err, 'serviceusage.services.get')];
  }
}

/** A predefined role that holds the permission, to name in the remedy (https://cloud.google.com/iam/docs/understanding-roles). */
function roleFor(permission: string): string {
  const rules: [RegExp, string][] = [
    [/^datamigration\./, 'roles/datamigration.admin'],
    [/^cloudsql\./, 'roles/cloudsql.admin'],
    [/^alloydb\./, 'roles/alloydb.admin'],
    [/^compute\.futureReservations\./, 'roles/compute.admin'],
    [/^compute\.(instanceGroupManagers|instanceTemplates)\./, 'roles/compute.instanceAdmin.v1'],
    [/^compute\./, 'roles/compute.viewer'],
    [/^monitoring\.timeSeries\./, 'roles/monitoring.viewer'],
    [/^monitoring\./, 'roles/monitoring.editor'],
    [/^secretmanager\./, 'roles/secretmanager.secretAccessor'],
    [/^iam\.serviceAccounts\.actAs$/, 'roles/iam.serviceAccountUser'],
    [/^resourcemanager\.projects\.getIamPolicy$/, 'roles/iam.securityReviewer'],
    [/^serviceusage\./, 'roles/serviceusage.serviceUsageConsumer'],
    // Reading the SQL Server backup bucket (https://cloud.google.com/storage/docs/access-control/iam-roles).
    [/^storage\.buckets\.get$/, 'roles/storage.legacyBucketReader'],
    [/^storage\.objects\.list$/, 'roles/storage.objectViewer'],
  ];
  return rules.find(([re]) => re.test(permission))?.[1] ?? 'a role that includes it';
}

/**
 * Resource Manager v3 projects.testIamPermissions
 * (https://cloud.google.com/resource-manager/reference/rest/v3/projects/testIamPermissions;
 * google/iam/v1/iam_policy.proto TestIamPermissionsRequest: resource, permissions). It answers the
 * subset the caller holds; asked in chunks of 100 to stay within the API's documented limit.
 */
export async function checkPermissions(ctx: CheckContext): Promise<CheckResult[]> {
  const { gcp, c, timeout } = ctx;
  const check = 'IAM permissions';
  // A method only a connectivity the plan does not use sends is not needed, nor its check's read.
  const used = methodsInPlan(ctx.plan, gcp);
  const unused = new Set(
    Object.entries(CONNECTIVITY_METHODS)
      .filter(([m]) => !used.has(m as keyof typeof CONNECTIVITY_METHODS))
      .flatMap(([, methods]) => methods),
  );
  if (!hasSqlServer(ctx.plan.databases)) for (const m of SQLSERVER_METHODS) unused.add(m);
  const methods = Object.keys(METHOD_PERMISSIONS).filter((m) => !unused.has(m));
  const checkReads = [...used].flatMap((m) => CONNECTIVITY_PREFLIGHT_PERMISSIONS[m]);
  const wanted = [...new Set([...requiredPermissions(methods), ...PREFLIGHT_PERMISSIONS, ...checkReads])].sort();
  const granted = new Set<string>();
  try {
    for (let i = 0; i < wanted.length; i += 100) {
      const [res] = await c.projects.testIamPermissions(
        { resource: `projects/${gcp.project}`, permissions: wanted.slice(i, i + 100) },
        { timeout },
      );
      for (const p of res.permissions ?? []) granted.add(p);
    }
  } catch (err) {
    return [failedRead(check, `test IAM permissions on projects/${gcp.project}`, err, 'resourcemanager.projects.get')];
  }
  const missing = wanted.filter((p) => !granted.has(p));
  if (missing.length === 0)
    return [
      row(
        check,
        'OK',
        `all ${wanted.length} permissions the platform's ${methods.length} methods ` +
          'and this check need are granted to the identity running the check (run it as the worker)',
      ),
    ];
  const byRole = new Map<string, string[]>();
  for (const p of missing) byRole.set(roleFor(p), [...(byRole.get(roleFor(p)) ?? []), p]);
  return [...byRole].map(([role, perms]) => {
    const used = perms.flatMap((p) => methodsNeeding(p).map((m) => m.split('.').slice(-2).join('.')));
    const usedBy = used.length
      ? ` (for ${[...new Set(used)].slice(0, 4).join(', ')}${used.length > 4 ? ', …' : ''})`
      : '';
    return row(
      check,
      'FIX',
      `missing ${perms.join(', ')}${usedBy}`,
      `gcloud projects add-iam-policy-binding ${gcp.project} --member=serviceAccount:WORKER_SA --role=${role}`,
    );
  });
}

function networkOf(gcp: GcpSettings): { project: string; name: string } {
  const m = gcp.network.match(
    /^(?:https:\/\/www\.googleapis\.com\/compute\/v1\/)?projects\/([^/]+)\/global\/networks\/([^/]+)$/,
  );
  return m ? { project: m[1], name: m[2] } : { project: gcp.project, name: lastSegment(gcp.network) };
}

/**
 * Private services access (https://cloud.google.com/vpc/docs/configure-private-services-access): the
 * network has a peering with servicenetworking.googleapis.com (compute networks.get, Network.peerings;
 * the peering is named servicenetworking-googleapis-com), and the plan's allocated range is a
 * global address with purpose VPC_PEERING on that network (compute globalAddresses.get, Address.purpose).
 */
export async function checkPrivateServicesAccess({ gcp, c, timeout }: CheckContext): Promise<CheckResult[]> {
  const check = 'Private services access';
  const n = networkOf(gcp);
  const range = gcp.allocatedIpRange ?? 'RANGE';
  const connect =
    `gcloud services vpc-peerings connect --service=servicenetworking.googleapis.com --ranges=${range} ` +
    `--network=${n.name} --project=${n.project}`;
  const out: CheckResult[] = [];
  try {
    const [network] = await c.networks.get({ project: n.project, network: n.name }, { timeout });
    const peering = (network.peerings ?? []).find(
      (p) =>
        p.name === 'servicenetworking-googleapis-com' || /\/global\/networks\/servicenetworking$/.test(p.network ?? ''),
    );
    const state = peering ? enumName(peering.state, []) : '';
    if (!peering)
      out.push(row(check, 'FIX', `${n.name} has no peering with servicenetworking.googleapis.com`, connect));
    else if (state !== 'ACTIVE')
      out.push(row(check, 'FIX', `${n.name}'s peering ${peering.name} is ${state || 'not active'}`, connect));
    else out.push(row(check, 'OK', `${n.name} is peered with servicenetworking.googleapis.com (ACTIVE)`));
  } catch (err) {
    if (httpStatus(err) === 404)
      return [
        row(
          check,
          'FIX',
          `network projects/${n.project}/global/networks/${n.name} does not exist`,
          'set gcp.network to an existing VPC',
        ),
      ];
    return [failedRead(check, `read network ${n.name}`, err, 'compute.networks.get')];
  }
  if (!gcp.allocatedIpRange) {
    out.push(
      row(check, 'OK', 'no gcp.allocatedIpRange in the plan: targets take an address from any range of the peering'),
    );
    return out;
  }
  const create =
    `gcloud compute addresses create ${gcp.allocatedIpRange} --global --purpose=VPC_PEERING --prefix-length=16 ` +
    `--network=${n.name} --project=${n.project}`;
  try {
    const [addr] = await c.globalAddresses.get({ project: n.project, address: gcp.allocatedIpRange }, { timeout });
    const purpose = String(addr.purpose ?? '');
    if (purpose !== 'VPC_PEERING')
      out.push(row(check, 'FIX', `${gcp.allocatedIpRange} has purpose ${purpose || 'none'}, not VPC_PEERING`, create));
    else if (lastSegment(addr.network) !== n.name)
      out.push(
        row(check, 'FIX', `${gcp.allocatedIpRange} is on network ${lastSegment(addr.network)}, not ${n.name}`, create),
      );
    else
      out.push(row(check, 'OK', `${gcp.allocatedIpRange} is a VPC_PEERING range on ${n.name} (/${addr.prefixLength})`));
  } catch (err) {
    if (httpStatus(err) === 404)
      out.push(row(check, 'FIX', `range ${gcp.allocatedIpRange} does not exist`, `${create}; then ${connect}`));
    else out.push(failedRead(check, `read range ${gcp.allocatedIpRange}`, err, 'compute.globalAddresses.get'));
  }
  return out;
}

/** The family's own CPU quota metric (Quota.metric in compute.proto), or CPUS, which E2 and N1 count against. */
function cpuMetric(machineType: string, metrics: Set<string>): string {
  const family = machineType.split('-')[0].toUpperCase();
  const own = `${family}_CPUS`;
  return !['E2', 'N1', 'F1', 'G1'].includes(family) && metrics.has(own) ? own : 'CPUS';
}

/** The most workers held at once: the `concurrency` largest requests run together at worst. */
function peakWorkers(sizes: number[], concurrency: number): number {
  return [...sizes]
    .sort((a, b) => b - a)
    .slice(0, concurrency)
    .reduce((a, b) => a + b, 0);
}

/**
 * Regional CPU quota (compute regions.get, Region.quotas: metric, limit, usage;
 * https://cloud.google.com/compute/resource-usage) against the plan's peak: the workers
 * (common/capacity.ts workerCount) × the machine type's vCPUs (compute machineTypes.get,
 * MachineType.guestCpus). Flex-start VMs consume preemptible quota where the project has it
 * (https://cloud.google.com/compute/docs/instances/flex-start-vms), else the standard quota.
 */
export async function checkQuota({ plan, gcp, c, timeout }: CheckContext): Promise<CheckResult[]> {
  const check = 'Quota';
  let vcpus: number;
  try {
    const [mt] = await c.machineTypes.get(
      { project: gcp.project, zone: gcp.zone, machineType: gcp.machineType },
      { timeout },
    );
    vcpus = Number(mt.guestCpus ?? 0);
  } catch (err) {
    if (httpStatus(err) === 404)
      return [
        row(
          check,
          'FIX',
          `machine type ${gcp.machineType} is not offered in ${gcp.zone}`,
          'set gcp.machineType to one the zone offers',
        ),
      ];
    return [failedRead(check, `read machine type ${gcp.machineType}`, err, 'compute.machineTypes.get')];
  }
  let quotas: { metric: string; limit: number; usage: number }[];
  try {
    const [region] = await c.regions.get({ project: gcp.project, region: gcp.region }, { timeout });
    quotas = (region.quotas ?? []).map((q) => ({
      metric: String(q.metric),
      limit: Number(q.limit ?? 0),
      usage: Number(q.usage ?? 0),
    }));
  } catch (err) {
    return [failedRead(check, `read the quotas of ${gcp.region}`, err, 'compute.regions.get')];
  }
  const byMetric = new Map(quotas.map((q) => [q.metric, q]));
  const standard = cpuMetric(gcp.machineType, new Set(byMetric.keys()));
  const modes = plan.databases.map((d) => ({
    mode: capacityMode(d.priority, gcp.machineType),
    workers: workerCount(d.sizeGb),
  }));
  const flex = modes.filter((m) => m.mode === 'flex-start').map((m) => m.workers);
  const guaranteed = modes.filter((m) => m.mode !== 'flex-start').map((m) => m.workers);
  const preemptible = byMetric.get('PREEMPTIBLE_CPUS');
  const demand = new Map<string, number>();
  if (preemptible && preemptible.limit > 0) {
    demand.set('PREEMPTIBLE_CPUS', peakWorkers(flex, plan.concurrency) * vcpus);
    demand.set(standard, peakWorkers(guaranteed, plan.concurrency) * vcpus);
  } else demand.set(standard, peakWorkers([...flex, ...guaranteed], plan.concurrency) * vcpus);
  const out: CheckResult[] = [];
  for (const [metric, need] of demand) {
    if (need === 0) continue;
    const q = byMetric.get(metric);
    const free = q ? q.limit - q.usage : 0;
    const what =
      `${metric} in ${gcp.region}: the plan needs up to ${need} vCPUs (${plan.concurrency} database(s) at a time, ` +
      `${gcp.machineType} = ${vcpus} vCPUs per worker); ${q ? `${free} free of ${q.limit}` : 'no such quota'}`;
    out.push(
      free >= need
        ? row(check, 'OK', what)
        : row(
            check,
            'FIX',
            what,
            `ask for ${metric} ≥ ${(q?.usage ?? 0) + need} in ${gcp.region}: ` +
              `https://console.cloud.google.com/iam-admin/quotas?project=${gcp.project}`,
          ),
    );
  }
  return out;
}

/** A TCP connect, nothing more: no login, no password reference resolved. */
function tcpReachable(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (problem?: string) => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs / 1000}s`));
    socket.once('connect', () => done());
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

/** Each source the worker reaches directly (source.access: direct) answers a TCP connect from here. */
export async function checkSources(plan: Plan, timeoutMs: number): Promise<CheckResult[]> {
  const check = 'Sources';
  return Promise.all(
    plan.databases.map(async (d) => {
      const at = `${d.source.host}:${d.source.port}`;
      if (d.source.access === 'dms-only')
        return row(check, 'OK', `${d.name}: access dms-only, not contacted (DMS's verify assesses it)`);
      const problem = await tcpReachable(d.source.host, d.source.port, timeoutMs);
      return problem
        ? row(
            check,
            'FIX',
            `${d.name}: ${at} is not reachable from here (${problem})`,
            'open the path from the worker (firewall, VPN, authorised networks), or set source.access: dms-only',
          )
        : row(check, 'OK', `${d.name}: ${at} accepts TCP connections from here`);
    }),
  );
}
