// Cloud SQL targets through the Cloud SQL Admin API v1 (google/cloud/sql/v1/cloud_sql_instances.proto;
// REST: https://cloud.google.com/sql/docs/mysql/admin-api/rest/v1/instances), configured as Google's
// fleet-migration recipe does: tier, HA, SSD storage with auto-increase, backups, maintenance
// window and private IP only, on the plan's network. Get-or-create; an existing instance with another
// configuration, or another migration's or database's, is refused with what differs.
//
// Two behaviours of Cloud SQL shape this module:
// - instances.insert takes no request id, so a repeat cannot be recognised by the API: existence is
//   read first, and a 409 after a lost answer is resolved by reading the instance and accepting it
//   only if it carries this (migration, database)'s labels and the wanted configuration.
// - instances.get (and delete) answer 403, not 404, for an instance that does not exist in a
//   project the caller may read (https://github.com/googleapis/google-api-go-client/issues/1815), so
//   a 403 cannot tell "missing" from "forbidden". Existence is decided by instances.list with a filter
//   on the name (https://cloud.google.com/sql/docs/mysql/admin-api/rest/v1/instances/list), which
//   answers an empty list for a missing instance and 403 only for a real permission problem.
import type { protos } from '@google-cloud/sql';
import { resolveSecret } from '../../../secrets';
import type { DatabaseTask, PlannedOperation, TargetInfo } from '../../../steps';
import { MigrationError } from '../../../../common/failures';
import type { GcpClients } from '../clients';
import { call, httpStatus, isAlreadyExists } from '../errors';
import { DATABASE_LABEL, gcpNames, ownedBy, ownerLabels, OWNER_LABEL } from '../names';
import { plannedCall, planned } from '../planned';
import { pollUntil, STATUS_DONE, waitForOperation, type PollOptions } from '../poll';
import { otherUsers } from './target-users';
import { tookOverRefusal } from './took-over';
import { editionForTier, plannedVersion, resolveVersion, type TargetOptions } from './versions';

type Instance = protos.google.cloud.sql.v1.IDatabaseInstance;
type Settings = protos.google.cloud.sql.v1.ISettings;

/** The tier when the plan names none: Enterprise edition, 4 vCPU, 16 GB. */
export const DEFAULT_TIER = 'db-custom-4-16384';

export interface CloudSqlWanted {
  name: string;
  region: string;
  /** SqlDatabaseVersion name, e.g. POSTGRES_16. */
  databaseVersion: string;
  tier: string;
  edition: 'ENTERPRISE' | 'ENTERPRISE_PLUS';
  availabilityType: 'REGIONAL' | 'ZONAL';
  network: string;
  allocatedIpRange?: string;
}

/** What an existing instance must match to be reused; `databaseVersion` as resolved (versions.ts). */
export function wantedInstance(task: DatabaseTask, databaseVersion: string): CloudSqlWanted {
  const t = task.database.target;
  const gcp = task.gcp!;
  const tier = t.tier ?? DEFAULT_TIER;
  // Cloud SQL for SQL Server takes dedicated-core tiers only ("Shared-core machine types ... are not
  // available for SQL Server": https://cloud.google.com/sql/docs/sqlserver/instance-settings).
  if (task.database.engine === 'sqlserver' && /^db-(f1|g1)-/.test(tier))
    throw new MigrationError(
      'InvalidPlan',
      `databases[${task.database.name}].target.tier: ${tier} is a shared-core tier, which Cloud SQL for SQL Server ` +
        `does not offer; name a db-custom-CPUS-MB tier (default ${DEFAULT_TIER})`,
    );
  return {
    name: t.instance,
    region: gcp.region,
    databaseVersion,
    tier,
    edition: editionForTier(tier),
    availabilityType: t.highAvailability === false ? 'ZONAL' : 'REGIONAL',
    network: gcp.network,
    ...(gcp.allocatedIpRange ? { allocatedIpRange: gcp.allocatedIpRange } : {}),
  };
}

/**
 * The instances.insert body without the root password (DatabaseInstance, cloud_sql_instances.proto;
 * Settings, cloud_sql_resources.proto). Enum fields are sent as their names, which REST accepts.
 */
export function instanceBody(task: DatabaseTask, wanted: CloudSqlWanted): Instance {
  const gcp = task.gcp!;
  const t = task.database.target;
  const mysql = task.database.engine === 'mysql';
  const settings: Settings = {
    tier: wanted.tier,
    edition: wanted.edition as unknown as Settings['edition'],
    availabilityType: wanted.availabilityType as unknown as Settings['availabilityType'],
    dataDiskType: 'PD_SSD' as unknown as Settings['dataDiskType'],
    dataDiskSizeGb: { value: Math.max(t.storageGb ?? Math.ceil(task.database.sizeGb * 1.5), 10) },
    storageAutoResize: { value: true },
    // binary_log_enabled is MySQL's (BackupConfiguration, cloud_sql_resources.proto); PostgreSQL's
    // point-in-time recovery is point_in_time_recovery_enabled.
    backupConfiguration: {
      enabled: { value: true },
      startTime: '02:00',
      ...(mysql ? { binaryLogEnabled: { value: true } } : { pointInTimeRecoveryEnabled: { value: true } }),
    },
    maintenanceWindow: { day: { value: gcp.maintenanceWindow.day }, hour: { value: gcp.maintenanceWindow.hour } },
    // Private IP only, on the plan's VPC through private services access; allocated_ip_range names
    // the reserved range to draw from (https://cloud.google.com/sql/docs/postgres/configure-private-ip).
    ipConfiguration: {
      ipv4Enabled: { value: false },
      privateNetwork: wanted.network,
      ...(wanted.allocatedIpRange ? { allocatedIpRange: wanted.allocatedIpRange } : {}),
    },
    userLabels: ownerLabels(task),
  };
  return {
    name: wanted.name,
    region: wanted.region,
    databaseVersion: wanted.databaseVersion as unknown as Instance['databaseVersion'],
    settings,
  };
}

/** How an existing instance differs from what the plan needs; empty when it can be reused. */
export function differences(existing: Instance, wanted: CloudSqlWanted): string[] {
  const diffs: string[] = [];
  const s = existing.settings ?? {};
  const differ = (what: string, is: unknown, needs: unknown) => {
    if (String(is ?? 'unset') !== String(needs)) diffs.push(`${what} is ${is ?? 'unset'}, plan needs ${needs}`);
  };
  differ('databaseVersion', existing.databaseVersion, wanted.databaseVersion);
  differ('tier', s.tier, wanted.tier);
  if (s.edition) differ('edition', s.edition, wanted.edition);
  differ('availabilityType', s.availabilityType, wanted.availabilityType);
  if (existing.region) differ('region', existing.region, wanted.region);
  differ('private network', s.ipConfiguration?.privateNetwork, wanted.network);
  if (wanted.allocatedIpRange) differ('allocatedIpRange', s.ipConfiguration?.allocatedIpRange, wanted.allocatedIpRange);
  return diffs;
}

/** Why an instance labelled by dbmig is not this database's, or undefined when it is (or is unlabelled). */
function foreignOwner(inst: Instance, task: DatabaseTask): string | undefined {
  const labels = inst.settings?.userLabels;
  if (!labels?.[OWNER_LABEL] || ownedBy(labels, task)) return undefined;
  return `it was created for migration ${labels[OWNER_LABEL]}, database ${labels[DATABASE_LABEL] ?? 'unknown'}`;
}

/** The instance named `name`, from instances.list (never instances.get: see the header). */
export async function findInstance(c: GcpClients, project: string, name: string): Promise<Instance | undefined> {
  let pageToken: string | undefined;
  do {
    const [res] = await call(`list Cloud SQL instances named ${name} in ${project}`, () =>
      c.sqlInstances.list({ project, filter: `name:${name}`, pageToken }),
    );
    // The filter narrows; the exact name decides (a `:` filter may also match longer names).
    const found = res.items?.find((i) => i.name === name);
    if (found) return found;
    pageToken = res.nextPageToken || undefined;
  } while (pageToken);
  return undefined;
}

export function waitSqlOperation(c: GcpClients, project: string, operation: string, poll: PollOptions) {
  return waitForOperation(
    `Cloud SQL operation ${operation}`,
    async () => (await c.sqlOperations.get({ project, operation }))[0],
    STATUS_DONE,
    poll,
  );
}

/** Polls until the instance leaves PENDING_CREATE (SqlInstanceState); anything but RUNNABLE fails. */
async function waitRunnable(c: GcpClients, project: string, name: string, poll: PollOptions): Promise<Instance> {
  const doing = `Cloud SQL instance ${name}`;
  const inst = await pollUntil(
    `${doing} to become RUNNABLE`,
    () => call(`get ${doing}`, async () => (await c.sqlInstances.get({ project, instance: name }))[0]),
    (i) => String(i.state) !== 'PENDING_CREATE',
    poll,
  );
  if (String(inst.state) === 'RUNNABLE') return inst;
  const why =
    String(inst.state) === 'PENDING_DELETE'
      ? 'it is being deleted; its name can be used again only once the deletion completes'
      : `its state is ${inst.state}`;
  throw new MigrationError('OperationFailed', `${doing} cannot be the target: ${why}`);
}

function targetPassword(task: DatabaseTask): Promise<string> {
  const ref = task.database.target.passwordRef;
  if (!ref)
    throw new MigrationError(
      'InvalidPlan',
      `databases[${task.database.name}].target.passwordRef is required on gcp: ` +
        "the target's password is set at creation",
    );
  return resolveSecret(ref, { project: task.gcp!.project });
}

export async function ensureCloudSql(
  c: GcpClients,
  task: DatabaseTask,
  poll: PollOptions,
  opts: TargetOptions = {},
): Promise<TargetInfo> {
  const project = task.gcp!.project;
  const wanted = wantedInstance(task, resolveVersion(task, opts.sourceVersion).enumName);
  const doing = `Cloud SQL instance ${wanted.name}`;
  let existing = await findInstance(c, project, wanted.name);
  if (!existing) {
    // rootPassword (DatabaseInstance.root_password) is the one field that carries the secret.
    const body: Instance = { ...instanceBody(task, wanted), rootPassword: await targetPassword(task) };
    const op = await call(`create ${doing}`, async () => {
      try {
        return (await c.sqlInstances.insert({ project, body }))[0];
      } catch (err) {
        if (isAlreadyExists(err)) return undefined;
        throw err;
      }
    });
    if (op) await waitSqlOperation(c, project, op.name!, poll);
    else {
      // 409: our own earlier insert whose answer was lost, someone else's instance, or a name
      // Cloud SQL still holds for an instance being deleted (or, by its own 409 message, deleted
      // within the past week: https://cloud.google.com/sql/docs/mysql/delete-instance).
      existing = await findInstance(c, project, wanted.name);
      if (!existing)
        throw new MigrationError(
          'AlreadyExistsMismatch',
          `create ${doing}: Cloud SQL refuses the name although no instance of that name is listed in ${project}: ` +
            "an instance of that name was deleted recently, and Cloud SQL does not let a deleted instance's name be " +
            `reused until its deletion has completed (up to a week, per the API's answer); choose another ` +
            `databases[${task.database.name}].target.instance, or retry later`,
        );
      if (!ownedBy(existing.settings?.userLabels, task))
        throw new MigrationError(
          'AlreadyExistsMismatch',
          `create ${doing}: an instance of that name appeared that this migration's database ${task.database.name} ` +
            `did not create (${foreignOwner(existing, task) ?? 'it carries no dbmig labels'}); it is not used`,
        );
    }
  }
  if (existing) {
    // First: a target that took over is refused whoever it belongs to (took-over.ts).
    const tookOver = tookOverRefusal(existing.settings?.userLabels, doing, 'reusing it as a target');
    if (tookOver) throw tookOver;
    const foreign = foreignOwner(existing, task);
    if (foreign)
      throw new MigrationError('AlreadyExistsMismatch', `${doing} exists and is not this database's: ${foreign}`);
    const diffs = differences(existing, wanted);
    if (diffs.length)
      throw new MigrationError(
        'AlreadyExistsMismatch',
        `${doing} already exists with another configuration: ${diffs.join('; ')}`,
      );
  }
  const inst = await waitRunnable(c, project, wanted.name, poll);
  const ip =
    inst.ipAddresses?.find((a) => String(a.type) === 'PRIVATE')?.ipAddress ??
    inst.ipAddresses?.[0]?.ipAddress ??
    'pending';
  return {
    endpoint: `cloudsql://${project}/${wanted.name} (${ip})`,
    ownedByMigration: ownedBy(inst.settings?.userLabels, task),
  };
}

/** The dry run of ensureCloudSql, from the same body. */
export function describeCloudSql(task: DatabaseTask, opts: TargetOptions = {}): PlannedOperation[] {
  const version = plannedVersion(task, opts.sourceVersion);
  const wanted = wantedInstance(task, version?.enumName ?? "the source's version (read at run time)");
  const body = instanceBody(task, wanted);
  const s = body.settings!;
  const backup = s.backupConfiguration!;
  const window = s.maintenanceWindow!;
  const ipc = s.ipConfiguration!;
  const resource = gcpNames(task).sqlInstance;
  const detail = [
    `${body.databaseVersion}${version ? ` (from ${version.from})` : ''}`,
    `${s.tier} (${s.edition}), ${s.availabilityType}`,
    `${s.dataDiskType} ${s.dataDiskSizeGb?.value} GB${s.storageAutoResize?.value ? ' auto-resize' : ''}`,
    `backups at ${backup.startTime} UTC${backup.binaryLogEnabled?.value ? ' with binary log' : ''}`,
    `maintenance day ${window.day?.value} ${window.hour?.value}:00 UTC`,
    `private IP only on ${ipc.privateNetwork}${ipc.allocatedIpRange ? ` (range ${ipc.allocatedIpRange})` : ''}`,
    `root password from ${task.database.target.passwordRef}`,
  ].join(', ');
  return [
    planned({
      state: 'PROVISIONING_TARGET',
      reads: ['sql.instances.list'],
      calls: [plannedCall('sql.instances.insert', resource)],
      resource,
      detail,
    }),
  ];
}

/** What deleteTarget did, and why not when it did not. */
export interface TargetDeletion {
  deleted: boolean;
  reason?: string;
}

/**
 * Refuses an instance marked as taken over (took-over.ts), whatever created it.
 * Deletes the instance only when this (migration, database) created it and no other database's
 * DMS profile or job uses it (target-users.ts): one database's compensation must never delete an
 * instance another database has cut over to. Cloud SQL's delete has no request id and no force.
 */
export async function deleteCloudSql(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<TargetDeletion> {
  const project = task.gcp!.project;
  const name = task.database.target.instance;
  const doing = `Cloud SQL instance ${name}`;
  const inst = await findInstance(c, project, name);
  if (!inst) return { deleted: false, reason: `${doing} does not exist` };
  const tookOver = tookOverRefusal(inst.settings?.userLabels, doing, 'deleting it');
  if (tookOver) throw tookOver;
  if (!ownedBy(inst.settings?.userLabels, task))
    return {
      deleted: false,
      reason: `${doing} was not created for this database: ${foreignOwner(inst, task) ?? 'no dbmig labels'}`,
    };
  const users = await otherUsers(c, task, { cloudSqlId: name });
  if (users.length) return { deleted: false, reason: `${doing} is used by ${users.join('; ')}` };
  const gone = () =>
    pollUntil(
      `${doing} to be deleted`,
      () => findInstance(c, project, name),
      (i) => !i,
      poll,
    );
  // A delete already under way (a retry after a lost answer) is waited for, not sent again: Cloud
  // SQL answers 409 to an operation on an instance that has one in progress.
  if (String(inst.state) === 'PENDING_DELETE') {
    await gone();
    return { deleted: true };
  }
  if (String(inst.state) === 'PENDING_CREATE') await waitRunnable(c, project, name, poll);
  let op: protos.google.cloud.sql.v1.IOperation | undefined;
  try {
    [op] = await call(`delete ${doing}`, () => c.sqlInstances.delete({ project, instance: name }));
  } catch (err) {
    // 403 is also Cloud SQL's answer for an instance that no longer exists.
    if (httpStatus(err) === 403 || (err instanceof MigrationError && err.type === 'PermissionDenied')) {
      if (!(await findInstance(c, project, name))) return { deleted: true };
    }
    throw err;
  }
  await waitSqlOperation(c, project, op!.name!, poll);
  await gone();
  return { deleted: true };
}
