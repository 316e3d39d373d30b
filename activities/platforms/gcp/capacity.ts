// Dynamic Workload Scheduler through Compute: priority high reserves guaranteed capacity in
// calendar mode (a future reservation); anything else asks for flex-start capacity (a resize
// request on the migration workers' managed instance group), which is cheaper and may wait.
import { capacityMode, workerCount } from '../../../common/capacity';
import { gcpResourceNames, requestId } from '../../../common/naming';
import type { CapacityReservation, DatabaseTask } from '../platform';
import { MigrationError } from '../platform';
import type { GcpClients } from './clients';
import { call, getOrUndefined } from './errors';
import { pollUntil, type PollOptions } from './poll';

async function waitZoneOperation(
  c: GcpClients,
  task: DatabaseTask,
  operation: string,
  poll: PollOptions,
): Promise<void> {
  const { project, zone } = task.gcp!;
  const op = await pollUntil(
    `Compute operation ${operation}`,
    () =>
      call(
        `get Compute operation ${operation}`,
        async () => (await c.zoneOperations.get({ project, zone, operation }))[0],
      ),
    (o) => String(o.status) === 'DONE',
    poll,
  );
  const errors = op.error?.errors ?? [];
  if (errors.length)
    throw new MigrationError(
      'OperationFailed',
      `Compute operation ${operation} failed: ${errors.map((e) => `${e.code}: ${e.message}`).join('; ')}`,
    );
}

const opName = (op: unknown) =>
  (op as { name?: string; latestResponse?: { name?: string } }).latestResponse?.name ?? (op as { name?: string }).name!;

export async function reserveGcpCapacity(
  c: GcpClients,
  task: DatabaseTask,
  poll: PollOptions,
  now = Date.now(),
): Promise<CapacityReservation> {
  const { project, zone, machineType, migrationWorkerGroup } = task.gcp!;
  const names = gcpResourceNames(task.migrationId, task.database.name);
  const workers = workerCount(task.database.sizeGb);
  const mode = capacityMode(task.database.priority);

  if (mode === 'calendar') {
    const name = names.futureReservation;
    const existing = await getOrUndefined(
      `get future reservation ${name}`,
      async () => (await c.futureReservations.get({ project, zone, futureReservation: name }))[0],
    );
    if (existing) {
      const have = Number(existing.specificSkuProperties?.totalCount ?? 0);
      if (have !== workers || existing.specificSkuProperties?.instanceProperties?.machineType !== machineType) {
        throw new MigrationError(
          'AlreadyExistsMismatch',
          `future reservation ${name} exists for ${have} x ${existing.specificSkuProperties?.instanceProperties?.machineType}, plan needs ${workers} x ${machineType}`,
        );
      }
      return { name, mode, workers };
    }
    const start = new Date(Math.ceil((now + 10 * 60_000) / 60_000) * 60_000);
    const [op] = await call(`create future reservation ${name}`, () =>
      c.futureReservations.insert({
        project,
        zone,
        requestId: requestId(task.migrationId, name),
        futureReservationResource: {
          name,
          description: `dbmig ${task.migrationId}/${task.database.name}: guaranteed migration workers`,
          specificSkuProperties: { totalCount: workers, instanceProperties: { machineType } },
          timeWindow: {
            startTime: start.toISOString(),
            endTime: new Date(start.getTime() + 7 * 86_400_000).toISOString(),
          },
          planningStatus: 'SUBMITTED',
          autoDeleteAutoCreatedReservations: true,
        },
      }),
    );
    await waitZoneOperation(c, task, opName(op), poll);
    return { name, mode, workers };
  }

  const name = names.resizeRequest;
  const target = { project, zone, instanceGroupManager: migrationWorkerGroup };
  const existing = await getOrUndefined(
    `get resize request ${name}`,
    async () => (await c.resizeRequests.get({ ...target, resizeRequest: name }))[0],
  );
  if (existing) {
    if (Number(existing.resizeBy) !== workers)
      throw new MigrationError(
        'AlreadyExistsMismatch',
        `resize request ${name} exists for ${existing.resizeBy} workers, plan needs ${workers}`,
      );
    return { name, mode, workers };
  }
  const [op] = await call(`create resize request ${name} on ${migrationWorkerGroup}`, () =>
    c.resizeRequests.insert({
      ...target,
      requestId: requestId(task.migrationId, name),
      instanceGroupManagerResizeRequestResource: {
        name,
        description: `dbmig ${task.migrationId}/${task.database.name}: flex-start migration workers`,
        resizeBy: workers,
        requestedRunDuration: { seconds: 7 * 86_400 },
      },
    }),
  );
  await waitZoneOperation(c, task, opName(op), poll);
  return { name, mode, workers };
}

export async function releaseGcpCapacity(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<void> {
  const { project, zone, migrationWorkerGroup } = task.gcp!;
  const names = gcpResourceNames(task.migrationId, task.database.name);
  if (capacityMode(task.database.priority) === 'calendar') {
    const fr = await getOrUndefined(
      'get future reservation',
      async () => (await c.futureReservations.get({ project, zone, futureReservation: names.futureReservation }))[0],
    );
    if (!fr) return;
    const [op] = await call(`delete future reservation ${names.futureReservation}`, () =>
      c.futureReservations.delete({
        project,
        zone,
        futureReservation: names.futureReservation,
        requestId: requestId(task.migrationId, 'delete', names.futureReservation),
      }),
    );
    await waitZoneOperation(c, task, opName(op), poll);
    return;
  }
  const target = { project, zone, instanceGroupManager: migrationWorkerGroup, resizeRequest: names.resizeRequest };
  const rr = await getOrUndefined('get resize request', async () => (await c.resizeRequests.get(target))[0]);
  if (!rr) return;
  // Only a finished request can be deleted: cancel one that is still waiting for capacity.
  if (['ACCEPTED', 'CREATING'].includes(String(rr.state))) {
    const [op] = await call(`cancel resize request ${names.resizeRequest}`, () =>
      c.resizeRequests.cancel({ ...target, requestId: requestId(task.migrationId, 'cancel', names.resizeRequest) }),
    );
    await waitZoneOperation(c, task, opName(op), poll);
  }
  const [op] = await call(`delete resize request ${names.resizeRequest}`, () =>
    c.resizeRequests.delete({ ...target, requestId: requestId(task.migrationId, 'delete', names.resizeRequest) }),
  );
  await waitZoneOperation(c, task, opName(op), poll);
}
