// Cloud SQL targets through the Cloud SQL Admin API v1 (google/cloud/sql/v1/cloud_sql_instances.proto;
// REST: https://cloud.google.com/sql/docs/mysql/admin-api/rest/v1/instances), configured as Google's
// fleet-migration recipe does: tier, HA, SSD storage with auto-increase, backups, maintenance
// window and a private network. Get-or-create; an existing instance with another configuration is
// refused with what differs.
import type { protos } from '@google-cloud/sql';
import type { DatabaseTask, PlannedOperation, TargetInfo } from '../platform';
import { MigrationError } from '../platform';
import type { GcpClients } from './clients';
import { call, getOrUndefined } from './errors';
import { gcpNames, OWNER_LABEL } from './names';
import { plannedCall, planned } from './planned';
import { STATUS_DONE, waitForOperation, type PollOptions } from './poll';

type Instance = protos.google.cloud.sql.v1.IDatabaseInstance;
type Settings = protos.google.cloud.sql.v1.ISettings;

export interface CloudSqlWanted {
  name: string;
  databaseVersion: string;
  tier: string;
  availabilityType: 'REGIONAL' | 'ZONAL';
}

/** What an existing instance must match to be reused. */
export function wantedInstance(task: DatabaseTask): CloudSqlWanted {
  const t = task.database.target;
  return {
    name: t.instance,
    databaseVersion: task.database.engine === 'mysql' ? 'MYSQL_8_0' : 'POSTGRES_15',
    tier: t.tier ?? 'db-custom-4-16384',
    availabilityType: t.highAvailability === false ? 'ZONAL' : 'REGIONAL',
  };
}

/** The instances.insert body. The enum fields are sent as their names, which REST accepts. */
export function instanceBody(task: DatabaseTask): Instance {
  const gcp = task.gcp!;
  const t = task.database.target;
  const wanted = wantedInstance(task);
  const settings: Settings = {
    tier: wanted.tier,
    availabilityType: wanted.availabilityType as unknown as Settings['availabilityType'],
    dataDiskType: 'PD_SSD' as unknown as Settings['dataDiskType'],
    dataDiskSizeGb: { value: Math.max(t.storageGb ?? Math.ceil(task.database.sizeGb * 1.5), 10) },
    storageAutoResize: { value: true },
    backupConfiguration: {
      enabled: { value: true },
      binaryLogEnabled: { value: task.database.engine === 'mysql' },
      startTime: '02:00',
    },
    maintenanceWindow: { day: { value: gcp.maintenanceWindow.day }, hour: { value: gcp.maintenanceWindow.hour } },
    ipConfiguration: { ipv4Enabled: { value: false }, privateNetwork: gcp.network },
    userLabels: { [OWNER_LABEL]: gcpNames(task).ownerLabel },
  };
  return {
    name: wanted.name,
    region: gcp.region,
    databaseVersion: wanted.databaseVersion as unknown as Instance['databaseVersion'],
    settings,
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

function waitOperation(c: GcpClients, project: string, operation: string, poll: PollOptions) {
  return waitForOperation(
    `Cloud SQL operation ${operation}`,
    async () => (await c.sqlOperations.get({ project, operation }))[0],
    STATUS_DONE,
    poll,
  );
}

export async function ensureCloudSql(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<TargetInfo> {
  const gcp = task.gcp!;
  const wanted = wantedInstance(task);
  const doing = `Cloud SQL instance ${wanted.name}`;
  const get = async () => (await c.sqlInstances.get({ project: gcp.project, instance: wanted.name }))[0];
  let inst = await getOrUndefined(`get ${doing}`, get);
  if (!inst) {
    const [op] = await call(`create ${doing}`, () =>
      c.sqlInstances.insert({ project: gcp.project, body: instanceBody(task) }),
    );
    await waitOperation(c, gcp.project, op.name!, poll);
    inst = await call(`get ${doing}`, get);
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
    ownedByMigration: inst.settings?.userLabels?.[OWNER_LABEL] === gcpNames(task).ownerLabel,
  };
}

/** The dry run of ensureCloudSql, from the same body. */
export function describeCloudSql(task: DatabaseTask): PlannedOperation[] {
  const body = instanceBody(task);
  const s = body.settings!;
  const backup = s.backupConfiguration!;
  const window = s.maintenanceWindow!;
  const resource = gcpNames(task).sqlInstance;
  const detail = [
    `${body.databaseVersion}, ${s.tier}, ${s.availabilityType}`,
    `${s.dataDiskType} ${s.dataDiskSizeGb?.value} GB${s.storageAutoResize?.value ? ' auto-resize' : ''}`,
    `backups at ${backup.startTime} UTC${backup.binaryLogEnabled?.value ? ' with binary log' : ''}`,
    `maintenance day ${window.day?.value} ${window.hour?.value}:00 UTC`,
    `private IP on ${s.ipConfiguration?.privateNetwork}`,
  ].join(', ');
  return [
    planned({
      state: 'PROVISIONING_TARGET',
      reads: ['sql.instances.get'],
      calls: [plannedCall('sql.instances.insert', resource)],
      resource,
      detail,
    }),
  ];
}

export async function deleteCloudSql(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<void> {
  const gcp = task.gcp!;
  const name = task.database.target.instance;
  const inst = await getOrUndefined(
    `get Cloud SQL instance ${name}`,
    async () => (await c.sqlInstances.get({ project: gcp.project, instance: name }))[0],
  );
  if (!inst || inst.settings?.userLabels?.[OWNER_LABEL] !== gcpNames(task).ownerLabel) return; // not ours: never delete
  const [op] = await call(`delete Cloud SQL instance ${name}`, () =>
    c.sqlInstances.delete({ project: gcp.project, instance: name }),
  );
  await waitOperation(c, gcp.project, op.name!, poll);
}
