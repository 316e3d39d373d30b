// The reads `dbmig gcp check` sends, and the Cloud Billing Catalog `dbmig plan --prices-online`
// reads, served from a `PreflightWorld` a test shapes (an API disabled, a permission missing, no
// peering, too little quota). Every route is a read: GET, or testIamPermissions, which changes
// nothing (https://cloud.google.com/resource-manager/reference/rest/v3/projects/testIamPermissions).
// Shapes and paths from the protos in the installed packages:
// - Service Usage v1 (@google-cloud/service-usage, google/api/serviceusage/v1/serviceusage.proto):
//   BatchGetServices GET /v1/{parent=*/*}/services:batchGet, at most 30 names
//   (https://cloud.google.com/service-usage/docs/reference/rest/v1/services/batchGet)
// - Resource Manager v3 (@google-cloud/resource-manager, google/cloud/resourcemanager/v3/projects.proto):
//   TestIamPermissions POST /v3/{resource=projects/*}:testIamPermissions, answers the granted subset;
//   GetIamPolicy POST /v3/{resource=projects/*}:getIamPolicy, answers the world's bindings
//   (google/iam/v1/policy.proto Policy)
// - Compute v1 (@google-cloud/compute, google/cloud/compute/v1/compute.proto): networks.get,
//   globalAddresses.get, instanceTemplates.get, instanceGroupManagers.get, zones.get, regions.get,
//   machineTypes.get
// - Cloud Billing v1 (@google-cloud/billing, google/cloud/billing/v1/cloud_catalog.proto): ListServices
//   GET /v1/services, ListSkus GET /v1/{parent=services/*}/skus
import { ApiError, ok, type FakeGcp } from './server';

const SEG = '([^/:]+)';

export interface FakePeering {
  name: string;
  network: string;
  state: 'ACTIVE' | 'INACTIVE';
}

export interface FakeQuota {
  metric: string;
  limit: number;
  usage: number;
}

export interface FakeSku {
  name: string;
  skuId: string;
  description: string;
  category: { serviceDisplayName: string; resourceFamily: string; resourceGroup: string; usageType: string };
  serviceRegions: string[];
  pricingInfo: {
    effectiveTime: string;
    pricingExpression: {
      usageUnit: string;
      baseUnit?: string;
      tieredRates: { startUsageAmount: number; unitPrice: { currencyCode: string; units: string; nanos: number } }[];
    };
  }[];
}

/** The project as the reads see it; keys are project/name (regions, zones: project/zone). */
export interface PreflightWorld {
  /** Service name (sqladmin.googleapis.com) → state; a service not listed is DISABLED. */
  services: Map<string, 'ENABLED' | 'DISABLED'>;
  /** Permissions the caller holds on the project; 'all' grants every one asked. */
  granted: Set<string> | 'all';
  /** The project's IAM policy bindings (Policy.bindings), as getIamPolicy answers them. */
  bindings: { role: string; members: string[] }[];
  networks: Map<string, { peerings: FakePeering[] }>;
  addresses: Map<string, { purpose: string; addressType: string; network: string; prefixLength: number }>;
  instanceTemplates: Map<string, { properties: { machineType: string; scheduling?: { provisioningModel?: string } } }>;
  /** Keys project/zone/name; instanceTemplate is the template's URL (InstanceGroupManager.instance_template). */
  instanceGroupManagers: Map<string, { description?: string; instanceTemplate: string }>;
  zones: Map<string, { status: 'UP' | 'DOWN'; region: string }>;
  regions: Map<string, FakeQuota[]>;
  machineTypes: Map<string, { guestCpus: number; memoryMb: number }>;
  billingServices: { name: string; serviceId: string; displayName: string }[];
  skus: Map<string, FakeSku[]>;
}

const computeUrl = (path: string) => `https://www.googleapis.com/compute/v1/${path}`;

export function preflightRoutes(f: FakeGcp, w: PreflightWorld): void {
  f.route('GET', new RegExp(`^/v1/projects/${SEG}/services:batchGet$`), 'serviceusage.services.batchGet', (ctx) => {
    const names = ctx.query.getAll('names');
    // BatchGetServicesRequest.names (google/api/serviceusage/v1/serviceusage.proto): "A single
    // request can get a maximum of 30 services at a time."
    if (names.length > 30) throw new ApiError(400, 'names: at most 30 services per request');
    const [project] = ctx.params;
    return ok({
      services: names.map((n) => {
        const m = n.match(/^projects\/([^/]+)\/services\/([^/]+)$/);
        // BatchGetServicesRequest.parent (google/api/serviceusage/v1/serviceusage.proto): "the
        // parent of all of the services specified in `names` must match this field".
        if (!m || m[1] !== project) throw new ApiError(400, `names: ${n} is not projects/${project}/services/NAME`);
        return {
          name: n,
          parent: `projects/${project}`,
          config: { name: m[2] },
          state: w.services.get(m[2]) ?? 'DISABLED',
        };
      }),
    });
  });

  f.route(
    'POST',
    new RegExp(`^/v3/projects/${SEG}:testIamPermissions$`),
    'cloudresourcemanager.projects.testIamPermissions',
    (ctx) => {
      const asked: unknown = ctx.body?.permissions;
      // TestIamPermissionsRequest.permissions is REQUIRED (google/iam/v1/iam_policy.proto); the
      // schema check refuses its absence first, this keeps the handler whole without it.
      if (!Array.isArray(asked)) throw new ApiError(400, 'permissions: required');
      return ok({ permissions: asked.filter((p) => w.granted === 'all' || w.granted.has(String(p))) });
    },
  );

  f.route('POST', new RegExp(`^/v3/projects/${SEG}:getIamPolicy$`), 'cloudresourcemanager.projects.getIamPolicy', () =>
    ok({ version: 1, etag: 'BwYAAAAAAAA=', bindings: w.bindings }),
  );

  const project = `^/compute/v1/projects/${SEG}`;
  /** A get of a resource that does not exist is NOT_FOUND (https://google.aip.dev/131, "Errors"). */
  const found = <T>(what: string, v: T | undefined): T => {
    if (v === undefined) throw new ApiError(404, `The resource '${what}' was not found`);
    return v;
  };
  f.route('GET', new RegExp(`${project}/global/networks/${SEG}$`), 'compute.networks.get', ({ params: [p, n] }) => {
    const net = found(`projects/${p}/global/networks/${n}`, w.networks.get(`${p}/${n}`));
    return ok({ kind: 'compute#network', name: n, selfLink: computeUrl(`projects/${p}/global/networks/${n}`), ...net });
  });
  f.route(
    'GET',
    new RegExp(`${project}/global/addresses/${SEG}$`),
    'compute.globalAddresses.get',
    ({ params: [p, a] }) => {
      const addr = found(`projects/${p}/global/addresses/${a}`, w.addresses.get(`${p}/${a}`));
      return ok({ kind: 'compute#address', name: a, status: 'RESERVED', ...addr });
    },
  );
  f.route(
    'GET',
    new RegExp(`${project}/global/instanceTemplates/${SEG}$`),
    'compute.instanceTemplates.get',
    ({ params: [p, t] }) =>
      ok({
        kind: 'compute#instanceTemplate',
        name: t,
        ...found(`projects/${p}/global/instanceTemplates/${t}`, w.instanceTemplates.get(`${p}/${t}`)),
      }),
  );
  f.route(
    'GET',
    new RegExp(`${project}/zones/${SEG}/instanceGroupManagers/${SEG}$`),
    'compute.instanceGroupManagers.get',
    ({ params: [p, z, g] }) =>
      ok({
        kind: 'compute#instanceGroupManager',
        name: g,
        zone: computeUrl(`projects/${p}/zones/${z}`),
        targetSize: 0,
        ...found(`projects/${p}/zones/${z}/instanceGroupManagers/${g}`, w.instanceGroupManagers.get(`${p}/${z}/${g}`)),
      }),
  );
  f.route('GET', new RegExp(`${project}/zones/${SEG}$`), 'compute.zones.get', ({ params: [p, z] }) => {
    const zone = found(`projects/${p}/zones/${z}`, w.zones.get(`${p}/${z}`));
    return ok({
      kind: 'compute#zone',
      name: z,
      status: zone.status,
      region: computeUrl(`projects/${p}/regions/${zone.region}`),
    });
  });
  f.route('GET', new RegExp(`${project}/regions/${SEG}$`), 'compute.regions.get', ({ params: [p, r] }) =>
    ok({
      kind: 'compute#region',
      name: r,
      status: 'UP',
      quotas: found(`projects/${p}/regions/${r}`, w.regions.get(`${p}/${r}`)),
    }),
  );
  f.route(
    'GET',
    new RegExp(`${project}/zones/${SEG}/machineTypes/${SEG}$`),
    'compute.machineTypes.get',
    ({ params: [p, z, m] }) =>
      ok({
        kind: 'compute#machineType',
        name: m,
        zone: z,
        ...found(`projects/${p}/zones/${z}/machineTypes/${m}`, w.machineTypes.get(`${p}/${z}/${m}`)),
      }),
  );

  f.route('GET', /^\/v1\/services$/, 'cloudbilling.services.list', () => ok({ services: w.billingServices }));
  f.route('GET', new RegExp(`^/v1/services/${SEG}/skus$`), 'cloudbilling.services.skus.list', (ctx) => {
    const currency = ctx.query.get('currencyCode');
    // Not a Google rule: services.skus.list converts prices to any ISO 4217 `currencyCode`
    // (https://cloud.google.com/billing/docs/reference/rest/v1/services.skus/list); the fake's
    // catalog is in USD, and it says so with UNIMPLEMENTED rather than answering USD as another.
    if (currency && currency !== 'USD') throw ApiError.of('UNIMPLEMENTED', 'fake: currencyCode other than USD');
    return ok({ skus: found(`services/${ctx.params[0]}`, w.skus.get(ctx.params[0])), nextPageToken: '' });
  });
}

/** The APIs `dbmig gcp check` wants enabled. */
export const PREFLIGHT_SERVICES = [
  'datamigration.googleapis.com',
  'sqladmin.googleapis.com',
  'alloydb.googleapis.com',
  'compute.googleapis.com',
  'monitoring.googleapis.com',
  'secretmanager.googleapis.com',
  'servicenetworking.googleapis.com',
];

const usd = (price: number) => ({
  currencyCode: 'USD',
  units: String(Math.floor(price)),
  nanos: Math.round((price - Math.floor(price)) * 1e9),
});

/** A catalog SKU as the Catalog API lists one (https://cloud.google.com/billing/docs/reference/rest/v1/services.skus/list). */
export function fakeSku(
  id: string,
  description: string,
  group: string,
  unit: string,
  price: number,
  regions = ['us-central1'],
): FakeSku {
  return {
    name: `services/x/skus/${id}`,
    skuId: id,
    description,
    category: { serviceDisplayName: 'x', resourceFamily: 'Compute', resourceGroup: group, usageType: 'OnDemand' },
    serviceRegions: regions,
    pricingInfo: [
      {
        effectiveTime: '2026-11-01T00:00:00Z',
        pricingExpression: { usageUnit: unit, tieredRates: [{ startUsageAmount: 0, unitPrice: usd(price) }] },
      },
    ],
  };
}

/** A project where everything the plan needs is in place; tests break one thing at a time. */
export function healthyWorld(opts: {
  project: string;
  region: string;
  zone: string;
  network: string;
  allocatedIpRange?: string;
  machineType?: string;
}): PreflightWorld {
  const { project, region, zone } = opts;
  const netName = opts.network.split('/').pop()!;
  const netProject = opts.network.match(/^projects\/([^/]+)\//)?.[1] ?? project;
  const machine = opts.machineType ?? 'e2-standard-4';
  return {
    services: new Map(PREFLIGHT_SERVICES.map((s) => [s, 'ENABLED'])),
    granted: 'all',
    // The workers' default service account holds the roles `gcp check` asks of it (permissions.ts).
    bindings: [
      'roles/datamigration.viewer',
      'roles/monitoring.viewer',
      'roles/secretmanager.secretAccessor',
      'roles/artifactregistry.reader',
      'roles/logging.logWriter',
    ].map((role) => ({ role, members: [`serviceAccount:dbmig-worker@${project}.iam.gserviceaccount.com`] })),
    networks: new Map([
      [
        `${netProject}/${netName}`,
        {
          peerings: [
            {
              name: 'servicenetworking-googleapis-com',
              network: 'https://www.googleapis.com/compute/v1/projects/tenant-1234/global/networks/servicenetworking',
              state: 'ACTIVE',
            },
          ],
        },
      ],
    ]),
    addresses: new Map(
      opts.allocatedIpRange
        ? [
            [
              `${netProject}/${opts.allocatedIpRange}`,
              {
                purpose: 'VPC_PEERING',
                addressType: 'INTERNAL',
                network: computeUrl(`projects/${netProject}/global/networks/${netName}`),
                prefixLength: 16,
              },
            ],
          ]
        : [],
    ),
    instanceTemplates: new Map(),
    instanceGroupManagers: new Map(),
    zones: new Map([[`${project}/${zone}`, { status: 'UP', region }]]),
    regions: new Map([
      [
        `${project}/${region}`,
        [
          { metric: 'CPUS', limit: 500, usage: 10 },
          { metric: 'PREEMPTIBLE_CPUS', limit: 0, usage: 0 },
          { metric: 'N2_CPUS', limit: 100, usage: 0 },
        ],
      ],
    ]),
    machineTypes: new Map([[`${project}/${zone}/${machine}`, { guestCpus: 4, memoryMb: 16384 }]]),
    billingServices: [],
    skus: new Map(),
  };
}
