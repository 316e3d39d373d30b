// What DMS's connectivity methods need besides the job and its profiles (routes-dms.ts): private
// connections (Private Service Connect), the reverse SSH script, the static IPs of an IP
// allowlist, and the bastion VM `dbmig gcp check` reads. Every request is first checked against
// the DMS discovery document (discovery.ts: required fields, enums, the vm_config oneof) or, for
// the VM, compute.proto (schema/). Shapes and paths:
// - privateConnections create / get / delete: clouddms.proto CreatePrivateConnection
//   (POST /v1/{parent}/privateConnections, body private_connection, a long-running operation),
//   GetPrivateConnection, DeletePrivateConnection (long-running); PrivateConnection.State
//   CREATING → CREATED, DELETING → gone
//   (https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.privateConnections).
// - migrationJobs.generateSshScript: POST /v1/{migrationJob}:generateSshScript → SshScript {script}
//   (https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.migrationJobs/generateSshScript).
// - locations.fetchStaticIps: GET /v1/{name}:fetchStaticIps → {staticIps, nextPageToken}
//   (https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations/fetchStaticIps).
// - compute instances.get (https://cloud.google.com/compute/docs/reference/rest/v1/instances/get;
//   google/cloud/compute/v1/compute.proto Instance.network_interfaces[].network_ip, network).
import { ApiError, ok, renderOp, type Ctx, type FakeGcp, type FakeOp } from './server';

const SEG = '([^/:]+)';
const DMS = 'datamigration.projects.locations';

export interface FakeVm {
  /** NetworkInterface.network (a network URL) and network_ip, one per interface. */
  networkInterfaces: { network: string; networkIP: string }[];
  status: 'RUNNING' | 'TERMINATED' | 'STOPPED';
}

/** What the connectivity routes serve: the region's static IPs, and VMs keyed project/zone/name. */
export interface ConnectivityWorld {
  staticIps: string[];
  vms: Map<string, FakeVm>;
  /** The generateSshScript requests' bodies, in order, for tests to read what was asked. */
  scriptRequests: Record<string, unknown>[];
}

export const defaultConnectivityWorld = (): ConnectivityWorld => ({
  // Documentation addresses (RFC 5737), as DMS would answer its egress IPs for the region.
  staticIps: ['198.51.100.11', '198.51.100.12', '198.51.100.13'],
  vms: new Map(),
  scriptRequests: [],
});

export function dmsConnectivityRoutes(f: FakeGcp, world: ConnectivityWorld): void {
  const base = `^/v1/(projects/${SEG}/locations/${SEG})`;
  const key = (name: string) => `dms/${name}`;
  const lro = (op: FakeOp, target: string, verb: string) =>
    ok({
      ...(renderOp(op) as Record<string, unknown>),
      metadata: {
        '@type': 'type.googleapis.com/google.cloud.clouddms.v1.OperationMetadata',
        target,
        verb,
        createTime: new Date().toISOString(),
      },
    });
  /** AIP-131: a get of a resource that does not exist is NOT_FOUND (https://google.aip.dev/131). */
  const connection = (name: string) => {
    const pc = f.resources.get(key(name));
    if (!pc) throw new ApiError(404, `private connection ${name} not found`);
    return pc;
  };

  f.route('GET', new RegExp(`${base}/privateConnections/${SEG}$`), `${DMS}.privateConnections.get`, ({ path }) =>
    ok(connection(path.slice(4))),
  );
  f.route('POST', new RegExp(`${base}/privateConnections$`), `${DMS}.privateConnections.create`, (ctx: Ctx) =>
    f.idempotent(ctx, () => {
      const [parent] = ctx.params;
      const id = ctx.query.get('privateConnectionId');
      const name = `${parent}/privateConnections/${id}`;
      // AIP-133: creating a resource that exists is ALREADY_EXISTS (https://google.aip.dev/133).
      if (f.resources.has(key(name))) throw new ApiError(409, `private connection ${id} already exists`);
      const now = new Date().toISOString();
      f.resources.set(key(name), { ...ctx.body, name, state: 'CREATING', createTime: now, updateTime: now });
      const op = f.operation('longrunning', () => (connection(name).state = 'CREATED'), {
        prefix: `${parent}/operations/`,
      });
      return lro(op, name, 'create');
    }),
  );
  f.route('DELETE', new RegExp(`${base}/privateConnections/${SEG}$`), `${DMS}.privateConnections.delete`, (ctx) =>
    f.idempotent(ctx, () => {
      const name = ctx.path.slice(4);
      connection(name).state = 'DELETING';
      const op = f.operation('longrunning', () => f.resources.delete(key(name)), {
        prefix: `${ctx.params[0]}/operations/`,
      });
      return lro(op, name, 'delete');
    }),
  );

  // The script opens the tunnel from a machine that reaches the source to the bastion VM's port.
  f.route(
    'POST',
    new RegExp(`${base}/migrationJobs/${SEG}:generateSshScript$`),
    `${DMS}.migrationJobs.generateSshScript`,
    (ctx) => {
      const job = ctx.path.slice(4, -':generateSshScript'.length);
      // AIP-131: a method on a resource that does not exist is NOT_FOUND (https://google.aip.dev/131).
      if (!f.resources.has(key(job))) throw new ApiError(404, `migration job ${job} not found`);
      const body = ctx.body ?? {};
      world.scriptRequests.push(body);
      const zone = body.vmSelectionConfig?.vmZone ?? body.vmCreationConfig?.vmZone ?? '';
      return ok({
        script:
          `#!/bin/bash\n# reverse SSH tunnel for ${job}\n` +
          `gcloud compute ssh ${body.vm} --zone=${zone} -- -N -R ${body.vmPort ?? 0}:SOURCE_HOST:SOURCE_PORT\n`,
      });
    },
  );

  f.route('GET', new RegExp(`${base}:fetchStaticIps$`), `${DMS}.fetchStaticIps`, (ctx) => {
    const size = Number(ctx.query.get('pageSize') || 2);
    const from = Number(ctx.query.get('pageToken') || 0);
    const next = from + size < world.staticIps.length ? String(from + size) : undefined;
    return ok({ staticIps: world.staticIps.slice(from, from + size), ...(next ? { nextPageToken: next } : {}) });
  });

  f.route(
    'GET',
    new RegExp(`^/compute/v1/projects/${SEG}/zones/${SEG}/instances/${SEG}$`),
    'compute.instances.get',
    (ctx) => {
      const [project, zone, name] = ctx.params;
      const vm = world.vms.get(`${project}/${zone}/${name}`);
      // https://cloud.google.com/compute/docs/reference/rest/v1/instances/get: an unknown instance is 404.
      if (!vm)
        throw new ApiError(404, `The resource 'projects/${project}/zones/${zone}/instances/${name}' was not found`);
      return ok({ kind: 'compute#instance', name, zone: `projects/${project}/zones/${zone}`, ...vm });
    },
  );
}
