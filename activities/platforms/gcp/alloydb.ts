// AlloyDB targets: a cluster plus its primary instance, each get-or-create with a request id,
// each long-running operation polled to completion.
import type { protos } from '@google-cloud/alloydb';
import { requestId } from '../../../common/naming';
import type { DatabaseTask, TargetInfo } from '../platform';
import { MigrationError } from '../platform';
import type { GcpClients } from './clients';
import { call, getOrUndefined } from './errors';
import { pollUntil, type PollOptions } from './poll';

type Cluster = protos.google.cloud.alloydb.v1.ICluster;
type Instance = protos.google.cloud.alloydb.v1.IInstance;

export function alloyNames(task: DatabaseTask) {
  const parent = `projects/${task.gcp!.project}/locations/${task.gcp!.region}`;
  const cluster = `${parent}/clusters/${task.database.target.instance}`;
  return { parent, cluster, instance: `${cluster}/instances/${task.database.target.instance}-primary` };
}

async function waitOperation(c: GcpClients, name: string, poll: PollOptions): Promise<void> {
  const op = await pollUntil(
    `AlloyDB operation ${name}`,
    () =>
      call(
        `get AlloyDB operation ${name}`,
        async () =>
          (
            await c.alloydb.operationsClient.getOperation({ name } as Parameters<
              typeof c.alloydb.operationsClient.getOperation
            >[0])
          )[0],
      ),
    (o) => !!o.done,
    poll,
  );
  if (op.error) throw new MigrationError('OperationFailed', `AlloyDB operation ${name} failed: ${op.error.message}`);
}

export async function ensureAlloyDb(
  c: GcpClients,
  task: DatabaseTask,
  owner: string,
  poll: PollOptions,
): Promise<TargetInfo> {
  const n = alloyNames(task);
  const clusterId = task.database.target.instance;
  const network = task.gcp!.network;
  let cluster: Cluster | undefined = await getOrUndefined(
    `get AlloyDB cluster ${clusterId}`,
    async () => (await c.alloydb.getCluster({ name: n.cluster }))[0],
  );
  if (!cluster) {
    const [op] = await call(`create AlloyDB cluster ${clusterId}`, () =>
      c.alloydb.createCluster({
        parent: n.parent,
        clusterId,
        requestId: requestId(task.migrationId, n.cluster),
        cluster: { networkConfig: { network }, labels: { 'dbmig-migration': owner } },
      }),
    );
    await waitOperation(c, op.name!, poll);
    cluster = (await call(`get AlloyDB cluster ${clusterId}`, () => c.alloydb.getCluster({ name: n.cluster })))[0];
  } else if (cluster.networkConfig?.network && cluster.networkConfig.network !== network) {
    throw new MigrationError(
      'AlreadyExistsMismatch',
      `AlloyDB cluster ${clusterId} already exists on network ${cluster.networkConfig.network}, plan needs ${network}`,
    );
  }
  const cpuCount = task.database.target.cpuCount ?? 4;
  let instance: Instance | undefined = await getOrUndefined(
    `get AlloyDB instance ${n.instance}`,
    async () => (await c.alloydb.getInstance({ name: n.instance }))[0],
  );
  if (!instance) {
    const [op] = await call(`create AlloyDB primary instance of ${clusterId}`, () =>
      c.alloydb.createInstance({
        parent: n.cluster,
        instanceId: `${clusterId}-primary`,
        requestId: requestId(task.migrationId, n.instance),
        instance: {
          instanceType: 'PRIMARY' as unknown as Instance['instanceType'],
          machineConfig: { cpuCount },
          labels: { 'dbmig-migration': owner },
        },
      }),
    );
    await waitOperation(c, op.name!, poll);
    instance = (await call(`get AlloyDB instance ${n.instance}`, () => c.alloydb.getInstance({ name: n.instance })))[0];
  } else if (instance.machineConfig?.cpuCount && instance.machineConfig.cpuCount !== cpuCount) {
    throw new MigrationError(
      'AlreadyExistsMismatch',
      `AlloyDB instance ${n.instance} already exists with ${instance.machineConfig.cpuCount} vCPUs, plan needs ${cpuCount}`,
    );
  }
  return {
    endpoint: `alloydb://${n.instance} (${instance.ipAddress || 'pending'})`,
    ownedByMigration: cluster.labels?.['dbmig-migration'] === owner,
  };
}

export async function deleteAlloyDb(
  c: GcpClients,
  task: DatabaseTask,
  owner: string,
  poll: PollOptions,
): Promise<void> {
  const n = alloyNames(task);
  const cluster = await getOrUndefined(
    `get AlloyDB cluster ${n.cluster}`,
    async () => (await c.alloydb.getCluster({ name: n.cluster }))[0],
  );
  if (!cluster || cluster.labels?.['dbmig-migration'] !== owner) return;
  const [op] = await call(`delete AlloyDB cluster ${n.cluster}`, () =>
    c.alloydb.deleteCluster({
      name: n.cluster,
      force: true,
      requestId: requestId(task.migrationId, 'delete', n.cluster),
    }),
  );
  await waitOperation(c, op.name!, poll);
}
