// AlloyDB targets through the AlloyDB Admin API v1 (google/cloud/alloydb/v1/service.proto,
// resources.proto): a cluster on the plan's network, then its primary instance once the cluster is
// READY (an instance cannot be created on a cluster that is still CREATING). Each create is
// get-or-create with a UUID request id (CreateClusterRequest.request_id, CreateInstanceRequest.
// request_id: the server ignores a repeat for at least 60 minutes), each long-running operation
// polled to completion, each resource then polled to READY.
import type { protos } from '@google-cloud/alloydb';
import { resolveSecret } from '../../../secrets';
import type { DatabaseTask, PlannedOperation, TargetInfo } from '../../../steps';
import { MigrationError } from '../../../../common/failures';
import type { GcpClients } from '../clients';
import { call, getOrUndefined } from '../errors';
import { DATABASE_LABEL, gcpNames, gcpRequestId, ownedBy, ownerLabels, OWNER_LABEL } from '../names';
import { planned, plannedCall } from '../planned';
import { LONGRUNNING, pollUntil, waitForOperation, type PollOptions } from '../poll';
import { otherUsers } from './target-users';
import { tookOverRefusal } from './took-over';
import type { TargetDeletion } from './cloudsql';
import { plannedVersion, resolveVersion, type TargetOptions } from './versions';

type Cluster = protos.google.cloud.alloydb.v1.ICluster;
type Instance = protos.google.cloud.alloydb.v1.IInstance;
type CreateCluster = protos.google.cloud.alloydb.v1.ICreateClusterRequest;
type CreateInstance = protos.google.cloud.alloydb.v1.ICreateInstanceRequest;

/** The primary's vCPUs when the plan names none. */
const DEFAULT_CPU_COUNT = 4;
/** AlloyDB's built-in administrative user, the initial user when the plan names none. */
const DEFAULT_USER = 'postgres';

/**
 * The clusters.create request; `password` is left out for the dry run. Cluster.network_config
 * replaces the deprecated Cluster.network (resources.proto), and initial_user is input-only: the
 * API never returns it.
 */
export function clusterRequest(task: DatabaseTask, databaseVersion: string, password?: string): CreateCluster {
  const n = gcpNames(task);
  const gcp = task.gcp!;
  return {
    parent: n.parent,
    clusterId: task.database.target.instance,
    requestId: gcpRequestId(task, 'create', n.cluster),
    cluster: {
      networkConfig: {
        network: gcp.network,
        ...(gcp.allocatedIpRange ? { allocatedIpRange: gcp.allocatedIpRange } : {}),
      },
      databaseVersion: databaseVersion as unknown as Cluster['databaseVersion'],
      initialUser: { user: task.database.target.user ?? DEFAULT_USER, ...(password ? { password } : {}) },
      labels: ownerLabels(task),
    },
  };
}

export function primaryRequest(task: DatabaseTask): CreateInstance {
  const n = gcpNames(task);
  return {
    parent: n.cluster,
    instanceId: n.alloyPrimaryId,
    requestId: gcpRequestId(task, 'create', n.alloyPrimary),
    instance: {
      instanceType: 'PRIMARY' as unknown as Instance['instanceType'],
      machineConfig: { cpuCount: task.database.target.cpuCount ?? DEFAULT_CPU_COUNT },
      labels: ownerLabels(task),
    },
  };
}

export function waitAlloyOperation(c: GcpClients, name: string, poll: PollOptions) {
  type GetOperation = Parameters<typeof c.alloydb.operationsClient.getOperation>[0];
  return waitForOperation(
    `AlloyDB operation ${name}`,
    async () => (await c.alloydb.operationsClient.getOperation({ name } as GetOperation))[0],
    LONGRUNNING,
    poll,
  );
}

/** Polls a cluster or instance until it leaves CREATING (Cluster.State, Instance.State); only READY will do. */
async function waitReady<T extends { state?: unknown }>(
  what: string,
  get: () => Promise<T>,
  poll: PollOptions,
): Promise<T> {
  const res = await pollUntil(
    `${what} to become READY`,
    () => call(`get ${what}`, get),
    (r) => String(r.state) !== 'CREATING',
    poll,
  );
  if (String(res.state) !== 'READY')
    throw new MigrationError('OperationFailed', `${what} cannot be the target: its state is ${res.state}`);
  return res;
}

function foreignOwner(labels: Record<string, string> | null | undefined, task: DatabaseTask): string | undefined {
  if (!labels?.[OWNER_LABEL] || ownedBy(labels, task)) return undefined;
  return `it was created for migration ${labels[OWNER_LABEL]}, database ${labels[DATABASE_LABEL] ?? 'unknown'}`;
}

export function clusterDifferences(existing: Cluster, wanted: Cluster): string[] {
  const diffs: string[] = [];
  const network = existing.networkConfig?.network || existing.network;
  if (network !== wanted.networkConfig!.network)
    diffs.push(`network is ${network || 'unset'}, plan needs ${wanted.networkConfig!.network}`);
  const range = wanted.networkConfig!.allocatedIpRange;
  if (range && existing.networkConfig?.allocatedIpRange !== range)
    diffs.push(`allocatedIpRange is ${existing.networkConfig?.allocatedIpRange || 'unset'}, plan needs ${range}`);
  if (existing.databaseVersion && String(existing.databaseVersion) !== String(wanted.databaseVersion))
    diffs.push(`databaseVersion is ${existing.databaseVersion}, plan needs ${wanted.databaseVersion}`);
  return diffs;
}

function instanceDifferences(existing: Instance, wanted: Instance): string[] {
  const diffs: string[] = [];
  if (String(existing.instanceType) !== String(wanted.instanceType))
    diffs.push(`instanceType is ${existing.instanceType}, plan needs ${wanted.instanceType}`);
  if (existing.machineConfig?.cpuCount !== wanted.machineConfig!.cpuCount)
    diffs.push(`${existing.machineConfig?.cpuCount} vCPUs, plan needs ${wanted.machineConfig!.cpuCount}`);
  return diffs;
}

function targetPassword(task: DatabaseTask): Promise<string> {
  const ref = task.database.target.passwordRef;
  if (!ref)
    throw new MigrationError(
      'InvalidPlan',
      `databases[${task.database.name}].target.passwordRef is required on gcp: the cluster's initial user needs it`,
    );
  return resolveSecret(ref, { project: task.gcp!.project });
}

export async function ensureAlloyDb(
  c: GcpClients,
  task: DatabaseTask,
  poll: PollOptions,
  opts: TargetOptions = {},
): Promise<TargetInfo> {
  const n = gcpNames(task);
  const version = resolveVersion(task, opts.sourceVersion).enumName;
  const clusterId = task.database.target.instance;
  const getCluster = async () => (await c.alloydb.getCluster({ name: n.cluster }))[0];
  const clusterDoing = `AlloyDB cluster ${clusterId}`;
  let cluster: Cluster | undefined = await getOrUndefined(`get ${clusterDoing}`, getCluster);
  if (!cluster) {
    const create = clusterRequest(task, version, await targetPassword(task));
    const [op] = await call(`create ${clusterDoing}`, () => c.alloydb.createCluster(create));
    await waitAlloyOperation(c, op.name!, poll);
  } else {
    // First: a target that took over is refused whoever it belongs to (took-over.ts).
    const tookOver = tookOverRefusal(cluster.labels, clusterDoing, 'reusing it as a target');
    if (tookOver) throw tookOver;
    const foreign = foreignOwner(cluster.labels, task);
    if (foreign)
      throw new MigrationError(
        'AlreadyExistsMismatch',
        `${clusterDoing} exists and is not this database's: ${foreign}`,
      );
    const diffs = clusterDifferences(cluster, clusterRequest(task, version).cluster!);
    if (diffs.length)
      throw new MigrationError(
        'AlreadyExistsMismatch',
        `${clusterDoing} already exists with another configuration: ${diffs.join('; ')}`,
      );
  }
  cluster = await waitReady(clusterDoing, getCluster, poll);

  const createPrimary = primaryRequest(task);
  const instDoing = `AlloyDB instance ${n.alloyPrimary}`;
  const getInstance = async () => (await c.alloydb.getInstance({ name: n.alloyPrimary }))[0];
  const existing = await getOrUndefined(`get ${instDoing}`, getInstance);
  if (!existing) {
    const [op] = await call(`create AlloyDB primary instance of ${clusterId}`, () =>
      c.alloydb.createInstance(createPrimary),
    );
    await waitAlloyOperation(c, op.name!, poll);
  } else {
    const diffs = instanceDifferences(existing, createPrimary.instance!);
    if (diffs.length)
      throw new MigrationError(
        'AlreadyExistsMismatch',
        `${instDoing} already exists with another configuration: ${diffs.join('; ')}`,
      );
  }
  const instance = await waitReady(instDoing, getInstance, poll);
  return {
    endpoint: `alloydb://${n.alloyPrimary} (${instance.ipAddress || 'pending'})`,
    ownedByMigration: ownedBy(cluster.labels, task),
  };
}

/** The dry run of ensureAlloyDb, from the same requests. */
export function describeAlloyDb(task: DatabaseTask, opts: TargetOptions = {}): PlannedOperation[] {
  const n = gcpNames(task);
  const version = plannedVersion(task, opts.sourceVersion);
  const { cluster } = clusterRequest(task, version?.enumName ?? "the source's version (read at run time)");
  const { instance } = primaryRequest(task);
  const net = cluster!.networkConfig!;
  return [
    planned({
      state: 'PROVISIONING_TARGET',
      reads: ['alloydb.projects.locations.clusters.get'],
      calls: [plannedCall('alloydb.projects.locations.clusters.create', n.cluster)],
      resource: n.cluster,
      detail:
        `${cluster!.databaseVersion}${version ? ` (from ${version.from})` : ''}, network ${net.network}` +
        `${net.allocatedIpRange ? ` (range ${net.allocatedIpRange})` : ''}, ` +
        `initial user ${cluster!.initialUser!.user} ` +
        `with the password from ${task.database.target.passwordRef}`,
    }),
    planned({
      state: 'PROVISIONING_TARGET',
      reads: ['alloydb.projects.locations.clusters.instances.get'],
      calls: [plannedCall('alloydb.projects.locations.clusters.instances.create', n.alloyPrimary)],
      resource: n.alloyPrimary,
      detail: `${instance!.instanceType}, ${instance!.machineConfig!.cpuCount} vCPU, once the cluster is READY`,
    }),
  ];
}

/**
 * Refuses a cluster marked as taken over (took-over.ts), whatever created it.
 * Deletes the cluster only when this (migration, database) created it, no other database's DMS
 * profile or job uses it (target-users.ts: one database's compensation must never delete a cluster
 * another database has cut over to), and every instance in it is ours. Instances are deleted one by
 * one and the cluster without `force`, so nothing this database did not create is cascaded away.
 */
export async function deleteAlloyDb(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<TargetDeletion> {
  const n = gcpNames(task);
  const doing = `AlloyDB cluster ${n.cluster}`;
  const getCluster = async () => (await c.alloydb.getCluster({ name: n.cluster }))[0];
  const cluster = await getOrUndefined(`get ${doing}`, getCluster);
  if (!cluster) return { deleted: false, reason: `${doing} does not exist` };
  const tookOver = tookOverRefusal(cluster.labels, doing, 'deleting it');
  if (tookOver) throw tookOver;
  if (!ownedBy(cluster.labels, task))
    return {
      deleted: false,
      reason: `${doing} was not created for this database: ${foreignOwner(cluster.labels, task) ?? 'no dbmig labels'}`,
    };
  const users = await otherUsers(c, task, { alloydbClusterId: task.database.target.instance });
  if (users.length) return { deleted: false, reason: `${doing} is used by ${users.join('; ')}` };
  const gone = (name: string, get: () => Promise<unknown>) =>
    pollUntil(
      `${name} to be deleted`,
      () => getOrUndefined(`get ${name}`, get),
      (r) => !r,
      poll,
    );
  const [instances] = await call(`list the instances of ${doing}`, () =>
    c.alloydb.listInstances({ parent: n.cluster }),
  );
  const foreign = instances.filter((i) => !ownedBy(i.labels, task));
  if (foreign.length)
    return {
      deleted: false,
      reason: `${doing} holds instances this database did not create: ${foreign.map((i) => i.name).join(', ')}`,
    };
  for (const inst of instances) {
    const getInst = async () => (await c.alloydb.getInstance({ name: inst.name! }))[0];
    if (String(inst.state) !== 'DELETING') {
      const [op] = await call(`delete AlloyDB instance ${inst.name}`, () =>
        c.alloydb.deleteInstance({ name: inst.name!, requestId: gcpRequestId(task, 'delete', inst.name!) }),
      );
      await waitAlloyOperation(c, op.name!, poll);
    }
    await gone(`AlloyDB instance ${inst.name}`, getInst);
  }
  if (String(cluster.state) !== 'DELETING') {
    const [op] = await call(`delete ${doing}`, () =>
      c.alloydb.deleteCluster({ name: n.cluster, requestId: gcpRequestId(task, 'delete', n.cluster) }),
    );
    await waitAlloyOperation(c, op.name!, poll);
  }
  await gone(doing, getCluster);
  return { deleted: true };
}
