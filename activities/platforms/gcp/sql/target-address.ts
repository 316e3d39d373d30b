// The private IP of the target the platform created, for the destination connection profile (DMS
// connects to an existing destination by host, "Migrate to an existing destination instance":
// https://cloud.google.com/database-migration/docs/postgres/create-migration-job-existing-instance).
// Cloud SQL: instances.get ipAddresses[] with type PRIVATE (google/cloud/sql/v1/cloud_sql_resources.proto
// IpMapping, SqlIpAddressType PRIVATE). AlloyDB: the primary instance's ip_address
// (google/cloud/alloydb/v1/resources.proto Instance.ip_address, output only, set once READY).
import type { DatabaseTask } from '../../../steps';
import { MigrationError } from '../../../../common/failures';
import type { GcpClients } from '../clients';
import { getOrUndefined } from '../errors';
import { gcpNames } from '../names';
import { pollUntil, type PollOptions } from '../poll';

/** How long to wait for an address before failing retryably (the activity retries later). */
const ADDRESS_WAIT_MS = 10 * 60_000;

/** The address read once: undefined while the instance has none yet. */
export async function readTargetPrivateIp(c: GcpClients, task: DatabaseTask): Promise<string | undefined> {
  const t = task.database.target;
  if (t.kind === 'alloydb') {
    const name = gcpNames(task).alloyPrimary;
    const inst = await getOrUndefined(
      `get AlloyDB instance ${name}`,
      async () => (await c.alloydb.getInstance({ name }))[0],
    );
    if (!inst) throw missing(task, `AlloyDB primary instance ${name}`);
    return inst.ipAddress || undefined;
  }
  const project = task.gcp!.project;
  const inst = await getOrUndefined(
    `get Cloud SQL instance ${t.instance}`,
    async () => (await c.sqlInstances.get({ project, instance: t.instance }))[0],
  );
  if (!inst) throw missing(task, `Cloud SQL instance ${t.instance}`);
  return inst.ipAddresses?.find((a) => String(a.type) === 'PRIVATE')?.ipAddress || undefined;
}

function missing(task: DatabaseTask, what: string): MigrationError {
  return new MigrationError(
    'NotFound',
    `${what} (target of ${task.database.name}) does not exist: the target is provisioned before the DMS job`,
  );
}

/** Waits for the target's private IP; fails retryably while it is not assigned. */
export async function targetPrivateIp(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<string> {
  const ip = await pollUntil(
    `private IP of ${task.database.target.instance}`,
    () => readTargetPrivateIp(c, task),
    Boolean,
    {
      intervalMs: poll.intervalMs,
      timeoutMs: Math.min(poll.timeoutMs, ADDRESS_WAIT_MS),
    },
  );
  return ip!;
}

/** The read the dry run lists before the destination profile. */
export const targetAddressRead = (task: DatabaseTask): string =>
  task.database.target.kind === 'alloydb' ? 'alloydb.projects.locations.clusters.instances.get' : 'sql.instances.get';
