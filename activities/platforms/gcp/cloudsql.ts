// Cloud SQL targets, configured as the seed recipe does: tier, HA, SSD storage with
// auto-increase, backups, maintenance window and a private network. Get-or-create; an existing
// instance with another configuration is refused with what differs.
import type { protos } from '@google-cloud/sql';
import type { DatabaseTask, TargetInfo } from '../platform';
import { MigrationError } from '../platform';
import type { GcpClients } from './clients';
import { call, getOrUndefined } from './errors';
import { pollUntil, type PollOptions } from './poll';

type Instance = protos.google.cloud.sql.v1.IDatabaseInstance;

export interface CloudSqlWanted {
  name: string;
  databaseVersion: string;
  tier: string;
  availabilityType: 'REGIONAL' | 'ZONAL';
}

export function wantedInstance(task: DatabaseTask): CloudSqlWanted {
  const t = task.database.target;
  return {
    name: t.instance,
    databaseVersion: task.database.engine === 'mysql' ? 'MYSQL_8_0' : 'POSTGRES_15',
    tier: t.tier ?? 'db-custom-4-16384',
    availabilityType: t.highAvailability === false ? 'ZONAL' : 'REGIONAL',
  };
}

export function differences(existing: Instance, wanted: CloudSqlWanted): string[] {
  const diffs: string[] = [];
  if (String(existing.databaseVersion) !== wanted.databaseVersion)
    diffs.push(`databaseVersion is ${existing.databaseVersion}, plan needs ${wanted.databaseVersion}`);
  if (existing.settings?.tier !== wanted.tier)
    diffs.push(`tier is ${existing.settings?.tier}, plan needs ${wanted.tier}`);
  if (String(existing.settings?.availabilityType) !== wanted.availabilityType)
    diffs.push(`availabilityType is ${existing.settings?.availabilityType}, plan needs ${wanted.availabilityType}`);
  return diffs;
}

async function waitOperation(c: GcpClients, project: string, operation: string, poll: PollOptions): Promise<void> {
  const op = await pollUntil(
    `Cloud SQL operation ${operation}`,
    () =>
      call(`get Cloud SQL operation ${operation}`, async () => (await c.sqlOperations.get({ project, operation }))[0]),
    (o) => String(o.status) === 'DONE',
    poll,
  );
  const errors = op.error?.errors ?? [];
  if (errors.length)
    throw new MigrationError(
      'OperationFailed',
      `Cloud SQL operation ${operation} failed: ${errors.map((e) => `${e.code}: ${e.message}`).join('; ')}`,
    );
}

export async function ensureCloudSql(
  c: GcpClients,
  task: DatabaseTask,
  owner: string,
  poll: PollOptions,
): Promise<TargetInfo> {
  const gcp = task.gcp!;
  const wanted = wantedInstance(task);
  const doing = `Cloud SQL instance ${wanted.name}`;
  let inst = await getOrUndefined(
    `get ${doing}`,
    async () => (await c.sqlInstances.get({ project: gcp.project, instance: wanted.name }))[0],
  );
  if (!inst) {
    const t = task.database.target;
    const [op] = await call(`create ${doing}`, () =>
      c.sqlInstances.insert({
        project: gcp.project,
        body: {
          name: wanted.name,
          region: gcp.region,
          databaseVersion: wanted.databaseVersion as unknown as Instance['databaseVersion'],
          settings: {
            tier: wanted.tier,
            availabilityType:
              wanted.availabilityType as unknown as protos.google.cloud.sql.v1.Settings['availabilityType'],
            dataDiskType: 'PD_SSD' as unknown as protos.google.cloud.sql.v1.Settings['dataDiskType'],
            dataDiskSizeGb: { value: Math.max(t.storageGb ?? Math.ceil(task.database.sizeGb * 1.5), 10) },
            storageAutoResize: { value: true },
            backupConfiguration: {
              enabled: { value: true },
              binaryLogEnabled: { value: task.database.engine === 'mysql' },
              startTime: '02:00',
            },
            maintenanceWindow: {
              day: { value: gcp.maintenanceWindow.day },
              hour: { value: gcp.maintenanceWindow.hour },
            },
            ipConfiguration: { ipv4Enabled: { value: false }, privateNetwork: gcp.network },
            userLabels: { 'dbmig-migration': owner },
          },
        },
      }),
    );
    await waitOperation(c, gcp.project, op.name!, poll);
    inst = await call(
      `get ${doing}`,
      async () => (await c.sqlInstances.get({ project: gcp.project, instance: wanted.name }))[0],
    );
  } else {
    const diffs = differences(inst, wanted);
    if (diffs.length)
      throw new MigrationError(
        'AlreadyExistsMismatch',
        `${doing} already exists with another configuration: ${diffs.join('; ')}`,
      );
  }
  const ip =
    inst.ipAddresses?.find((a) => String(a.type) === 'PRIVATE')?.ipAddress ??
    inst.ipAddresses?.[0]?.ipAddress ??
    'pending';
  return {
    endpoint: `cloudsql://${gcp.project}/${wanted.name} (${ip})`,
    ownedByMigration: inst.settings?.userLabels?.['dbmig-migration'] === owner,
  };
}

export async function deleteCloudSql(
  c: GcpClients,
  task: DatabaseTask,
  owner: string,
  poll: PollOptions,
): Promise<void> {
  const gcp = task.gcp!;
  const name = task.database.target.instance;
  const inst = await getOrUndefined(
    `get Cloud SQL instance ${name}`,
    async () => (await c.sqlInstances.get({ project: gcp.project, instance: name }))[0],
  );
  if (!inst || inst.settings?.userLabels?.['dbmig-migration'] !== owner) return; // not ours: never delete
  const [op] = await call(`delete Cloud SQL instance ${name}`, () =>
    c.sqlInstances.delete({ project: gcp.project, instance: name }),
  );
  await waitOperation(c, gcp.project, op.name!, poll);
}
