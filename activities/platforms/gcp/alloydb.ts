// AlloyDB targets through the AlloyDB Admin API v1 (google/cloud/alloydb/v1/service.proto): a
// cluster plus its primary instance, each get-or-create with a request id, each long-running
// operation polled to completion.
import type { protos } from '@google-cloud/alloydb';
import { requestId } from '../../../common/naming';
import type { DatabaseTask, PlannedOperation, TargetInfo } from '../platform';
import { MigrationError } from '../platform';
import type { GcpClients } from './clients';
import { call, getOrUndefined } from './errors';
import { gcpNames, OWNER_LABEL } from './names';
import { planned, plannedCall } from './planned';
import { LONGRUNNING, waitForOperation, type PollOptions } from './poll';

type Cluster = protos.google.cloud.alloydb.v1.ICluster;
type Instance = protos.google.cloud.alloydb.v1.IInstance;
type CreateCluster = protos.google.cloud.alloydb.v1.ICreateClusterRequest;
type CreateInstance = protos.google.cloud.alloydb.v1.ICreateInstanceRequest;

/** The primary's vCPUs when the plan names none. */
const DEFAULT_CPU_COUNT = 4;

export function clusterRequest(task: DatabaseTask): CreateCluster {
  const n = gcpNames(task);
  return {
    parent: n.parent,
    clusterId: task.database.target.instance,
    requestId: requestId(task.migrationId, n.cluster),
    cluster: { networkConfig: { network: task.gcp!.network }, labels: { [OWNER_LABEL]: n.ownerLabel } },
  };
}

export function primaryRequest(task: DatabaseTask): CreateInstance {
  const n = gcpNames(task);
  return {
    parent: n.cluster,
    instanceId: n.alloyPrimaryId,
    requestId: requestId(task.migrationId, n.alloyPrimary),
    instance: {
      instanceType: 'PRIMARY' as unknown as Instance['instanceType'],
      machineConfig: { cpuCount: task.database.target.cpuCount ?? DEFAULT_CPU_COUNT },
      labels: { [OWNER_LABEL]: n.ownerLabel },
    },
  };
}

function waitOperation(c: GcpClients, name: string, poll: PollOptions) {
  type GetOperation = Parameters<typeof c.alloydb.operationsClient.getOperation>[0];
  return waitForOperation(
    `AlloyDB operation ${name}`,
    async () => (await c.alloydb.operationsClient.getOperation({ name } as GetOperation))[0],
    LONGRUNNING,
    poll,
  );
}

export async function ensureAlloyDb(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<TargetInfo> {
  const n = gcpNames(task);
  const createCluster = clusterRequest(task);
  const createPrimary = primaryRequest(task);
  const clusterId = createCluster.clusterId!;
  const network = createCluster.cluster!.networkConfig!.network!;
  const getCluster = async () => (await c.alloydb.getCluster({ name: n.cluster }))[0];
  let cluster: Cluster | undefined = await getOrUndefined(`get AlloyDB cluster ${clusterId}`, getCluster);
  if (!cluster) {
    const [op] = await call(`create AlloyDB cluster ${clusterId}`, () => c.alloydb.createCluster(createCluster));
    await waitOperation(c, op.name!, poll);
    cluster = await call(`get AlloyDB cluster ${clusterId}`, getCluster);
  } else if (cluster.networkConfig?.network && cluster.networkConfig.network !== network) {
    throw new MigrationError(
      'AlreadyExistsMismatch',
      `AlloyDB cluster ${clusterId} already exists on network ${cluster.networkConfig.network}, plan needs ${network}`,
    );
  }
  const cpuCount = createPrimary.instance!.machineConfig!.cpuCount!;
  const getInstance = async () => (await c.alloydb.getInstance({ name: n.alloyPrimary }))[0];
  let instance: Instance | undefined = await getOrUndefined(`get AlloyDB instance ${n.alloyPrimary}`, getInstance);
  if (!instance) {
    const [op] = await call(`create AlloyDB primary instance of ${clusterId}`, () =>
      c.alloydb.createInstance(createPrimary),
    );
    await waitOperation(c, op.name!, poll);
    instance = await call(`get AlloyDB instance ${n.alloyPrimary}`, getInstance);
  } else if (instance.machineConfig?.cpuCount && instance.machineConfig.cpuCount !== cpuCount) {
    throw new MigrationError(
      'AlreadyExistsMismatch',
      `AlloyDB instance ${n.alloyPrimary} already exists with ${instance.machineConfig.cpuCount} vCPUs, ` +
        `plan needs ${cpuCount}`,
    );
  }
  return {
    endpoint: `alloydb://${n.alloyPrimary} (${instance.ipAddress || 'pending'})`,
    ownedByMigration: cluster.labels?.[OWNER_LABEL] === n.ownerLabel,
  };
}

/** The dry run of ensureAlloyDb, from the same requests. */
export function describeAlloyDb(task: DatabaseTask): PlannedOperation[] {
  const n = gcpNames(task);
  const { cluster } = clusterRequest(task);
  const { instance } = primaryRequest(task);
  return [
    planned({
      state: 'PROVISIONING_TARGET',
      reads: ['alloydb.projects.locations.clusters.get'],
      calls: [plannedCall('alloydb.projects.locations.clusters.create', n.cluster)],
      resource: n.cluster,
      detail: `network ${cluster!.networkConfig!.network}`,
    }),
    planned({
      state: 'PROVISIONING_TARGET',
      reads: ['alloydb.projects.locations.clusters.instances.get'],
      calls: [plannedCall('alloydb.projects.locations.clusters.instances.create', n.alloyPrimary)],
      resource: n.alloyPrimary,
      detail: `${instance!.instanceType}, ${instance!.machineConfig!.cpuCount} vCPU`,
    }),
  ];
}

export async function deleteAlloyDb(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<void> {
  const n = gcpNames(task);
  const cluster = await getOrUndefined(
    `get AlloyDB cluster ${n.cluster}`,
    async () => (await c.alloydb.getCluster({ name: n.cluster }))[0],
  );
  if (!cluster || cluster.labels?.[OWNER_LABEL] !== n.ownerLabel) return;
  const [op] = await call(`delete AlloyDB cluster ${n.cluster}`, () =>
    c.alloydb.deleteCluster({
      name: n.cluster,
      force: true,
      requestId: requestId(task.migrationId, 'delete', n.cluster),
    }),
  );
  await waitOperation(c, op.name!, poll);
}
