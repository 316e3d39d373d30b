// DMS connection profiles (clouddms_resources.proto ConnectionProfile; REST
// https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.connectionProfiles).
//
// Source: the `mysql` / `postgresql` form (MySqlConnectionProfile / PostgreSqlConnectionProfile),
// whose host, port, username and password are REQUIRED; with connectivity private-service-connect
// also its privateConnectivity {privateConnection} (dms/connectivity.ts), the private connection
// read first: it must be CREATED.
//
// Destination: the platform has already created the target, so this is Google's "existing
// destination instance" flow, not the one where DMS creates it:
// - Cloud SQL: the same `mysql` / `postgresql` form with `cloudSqlId` naming the instance, and the
//   instance's private IP, user and password (REQUIRED as for any such profile)
//   (https://cloud.google.com/database-migration/docs/postgres/create-migration-job-existing-instance,
//   https://cloud.google.com/database-migration/docs/mysql/create-migration-job-existing-instance).
// - AlloyDB: the `postgresql` form with `alloydbClusterId` ("If the destination is an AlloyDB
//   database, use this field to provide the AlloyDB cluster ID", PostgreSqlConnectionProfile in
//   googleapis' datamigration v1). The `alloydb` form (AlloyDbConnectionProfile with settings) is
//   the one that makes DMS create a cluster, which would clash with the platform's.
//
// Passwords are resolved here and go only into the request body: never into labels, errors or logs.
// validateOnly on connectionProfiles.create is not used: DMS honours it for Oracle profiles only;
// verify (dms/actions.ts) is DMS's check of the connection.
import { resolveSecret, sourcePassword } from '../../../secrets';
import type { DatabaseTask, PlannedOperation } from '../../../steps';
import { MigrationError } from '../../../../common/failures';
import type { GcpClients } from '../clients';
import { dmsRequestId, data, PROFILES, waitDmsOperation, type Profile } from './common';
import { call, getOrUndefined, isAlreadyExists } from '../errors';
import { gcpNames, ownedBy, ownerLabels } from '../names';
import { planned, plannedCall } from '../planned';
import { pollUntil, type PollOptions } from '../poll';
import { targetAddressRead, targetPrivateIp } from '../sql/target-address';
import {
  checkPrivateConnection,
  connectivityOf,
  connectivityReads,
  profilePrivateConnection,
  sourceProfileConnectivity,
} from './connectivity';
import {
  describeSqlServerSource,
  flatSqlServer,
  SQLSERVER_COMPARED,
  sqlServerDestination,
  sqlServerSource,
} from './profiles-sqlserver';

type Engine = DatabaseTask['database']['engine'];

/** The administrative user Cloud SQL and AlloyDB create with an instance. */
export const DEFAULT_TARGET_USER: Record<Engine, string> = {
  postgresql: 'postgres',
  mysql: 'root',
  // Cloud SQL for SQL Server's built-in administrator (https://cloud.google.com/sql/docs/sqlserver/users).
  sqlserver: 'sqlserver',
};
/** Cloud SQL and AlloyDB listen on the engines' standard ports on their private IP. */
const TARGET_PORT: Record<Engine, number> = { postgresql: 5432, mysql: 3306, sqlserver: 1433 };

/** The source connection without its password, which only `sourceProfileBody` resolves. */
export function sourceConnection(task: DatabaseTask) {
  const s = task.database.source;
  return { host: s.host, port: s.port, username: s.user };
}

/** The destination connection without its password. */
export function destinationConnection(task: DatabaseTask, host: string) {
  const t = task.database.target;
  const engine = task.database.engine;
  return {
    host,
    port: TARGET_PORT[engine],
    username: t.user ?? DEFAULT_TARGET_USER[engine],
    ...(t.kind === 'alloydb' ? { alloydbClusterId: t.instance } : { cloudSqlId: t.instance }),
  };
}

function profile(task: DatabaseTask, id: string, conn: Record<string, unknown>): Profile {
  return { displayName: id, labels: ownerLabels(task), [task.database.engine]: conn };
}

export async function sourceProfileBody(task: DatabaseTask): Promise<Profile> {
  const password = await sourcePassword(task.database.source, { project: task.gcp!.project });
  return profile(task, gcpNames(task).sourceProfile, {
    ...sourceConnection(task),
    password,
    ...sqlServerSource(task),
    // A SQL Server job reads backup files from the bucket: DMS does not connect to the source.
    ...(task.database.engine === 'sqlserver' ? {} : sourceProfileConnectivity(task)),
  });
}

export async function destinationProfileBody(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<Profile> {
  const t = task.database.target;
  if (!t.passwordRef)
    throw new MigrationError(
      'InvalidPlan',
      `databases.${task.database.name}.target.passwordRef: DMS needs the target's password for the destination profile`,
    );
  const host = await targetPrivateIp(c, task, poll);
  const password = await resolveSecret(t.passwordRef, { project: task.gcp!.project });
  const conn = { ...destinationConnection(task, host), password, ...sqlServerDestination(task) };
  return profile(task, gcpNames(task).destinationProfile, conn);
}

/** What differs between an existing profile and the wanted one (the password is never returned). */
export function profileDifferences(existing: Profile, wanted: Profile): string[] {
  const form = (p: Profile) =>
    p.mysql ? 'mysql' : p.postgresql ? 'postgresql' : p.sqlserver ? 'sqlserver' : p.alloydb ? 'alloydb' : 'other';
  const diffs: string[] = [];
  if (form(existing) !== form(wanted)) return [`form is ${form(existing)}, plan needs ${form(wanted)}`];
  const a = (existing.mysql ?? existing.postgresql ?? flatSqlServer(existing.sqlserver)) as Record<string, unknown>;
  const b = (wanted.mysql ?? wanted.postgresql ?? flatSqlServer(wanted.sqlserver)) as Record<string, unknown>;
  for (const k of ['host', 'port', 'username', 'cloudSqlId', 'alloydbClusterId', ...SQLSERVER_COMPARED])
    if ((a[k] ?? null) !== (b[k] ?? null)) diffs.push(`${k} is ${a[k] ?? 'unset'}, plan needs ${b[k] ?? 'unset'}`);
  const [pa, pb] = [profilePrivateConnection(existing), profilePrivateConnection(wanted)];
  if ((pa ?? null) !== (pb ?? null))
    diffs.push(`privateConnectivity.privateConnection is ${pa ?? 'unset'}, plan needs ${pb ?? 'unset'}`);
  return diffs;
}

/**
 * Get-or-create of one profile: an existing one must be this (migration, database)'s (labels) and
 * match; one still CREATING (a lost create answer) is waited for. ConnectionProfile.State:
 * CREATING → READY | FAILED.
 */
export async function ensureProfile(
  c: GcpClients,
  task: DatabaseTask,
  name: string,
  body: () => Promise<Profile>,
  poll: PollOptions,
): Promise<void> {
  const id = name.split('/').pop()!;
  const get = () =>
    getOrUndefined(`get connection profile ${id}`, () =>
      data(c.dms.projects.locations.connectionProfiles.get({ name })),
    );
  const wanted = await body();
  for (let attempt = 0; ; attempt++) {
    let existing = await get();
    if (existing) {
      checkProfile(task, id, existing, wanted);
      if (existing.state === 'CREATING')
        existing = await pollUntil(
          `connection profile ${id}`,
          () => get(),
          (p) => p?.state !== 'CREATING',
          poll,
        );
      if (existing?.state === 'FAILED')
        throw new MigrationError('OperationFailed', `connection profile ${id} FAILED: ${existing.error?.message}`);
      return;
    }
    try {
      const op = await call(`create connection profile ${id}`, () =>
        data(
          c.dms.projects.locations.connectionProfiles.create({
            parent: gcpNames(task).parent,
            connectionProfileId: id,
            requestId: dmsRequestId(task, 'create', name),
            requestBody: wanted,
          }),
        ),
      );
      await waitDmsOperation(c, op, poll);
      return;
    } catch (err) {
      // Created meanwhile (by a lost earlier answer with another request id): compare it above.
      if (!isAlreadyExists(err) || attempt > 0) throw err;
    }
  }
}

/** Refuses an existing profile this (migration, database) did not create, or one configured otherwise. */
function checkProfile(task: DatabaseTask, id: string, existing: Profile, wanted: Profile): void {
  if (!ownedBy(existing.labels, task))
    throw new MigrationError(
      'AlreadyExistsMismatch',
      `connection profile ${id} exists but was not created for ${task.database.name} of migration ` +
        `${task.migrationId} (labels ${JSON.stringify(existing.labels ?? {})}); it is left alone`,
    );
  const diffs = profileDifferences(existing, wanted);
  if (diffs.length)
    throw new MigrationError(
      'AlreadyExistsMismatch',
      `connection profile ${id} exists with another configuration: ${diffs.join('; ')}`,
    );
}

/** Both profiles are checked before either is created: refusing the second must leave no first behind. */
export async function ensureProfiles(c: GcpClients, task: DatabaseTask, poll: PollOptions): Promise<void> {
  const n = gcpNames(task);
  await checkPrivateConnection(c, task);
  const sides = [
    { name: n.sourceProfileName, body: await sourceProfileBody(task) },
    { name: n.destinationProfileName, body: await destinationProfileBody(c, task, poll) },
  ];
  for (const { name, body } of sides) {
    const existing = await getOrUndefined(`get connection profile ${name.split('/').pop()}`, () =>
      data(c.dms.projects.locations.connectionProfiles.get({ name })),
    );
    if (existing) checkProfile(task, name.split('/').pop()!, existing, body);
  }
  for (const { name, body } of sides) await ensureProfile(c, task, name, async () => body, poll);
}

/** The dry run of ensureProfiles: the same ids, connections and target read, without passwords. */
export function describeProfiles(task: DatabaseTask): PlannedOperation[] {
  const n = gcpNames(task);
  const src = sourceConnection(task);
  const dst: { port: number; username: string } = destinationConnection(task, '<private IP>');
  const t = task.database.target;
  return [
    planned({
      state: 'CREATING_JOB',
      reads: [...connectivityReads(task), `${PROFILES}.get`],
      calls: [plannedCall(`${PROFILES}.create`, n.sourceProfileName)],
      resource: n.sourceProfileName,
      detail:
        `source ${task.database.engine} ${src.host}:${src.port} as ${src.username}, ` +
        `password from ${task.database.source.passwordRef}${privateDetail(task)}${describeSqlServerSource(task)}`,
    }),
    planned({
      state: 'CREATING_JOB',
      reads: [targetAddressRead(task), `${PROFILES}.get`],
      calls: [plannedCall(`${PROFILES}.create`, n.destinationProfileName)],
      resource: n.destinationProfileName,
      detail:
        `existing ${t.kind === 'alloydb' ? 'AlloyDB cluster' : 'Cloud SQL instance'} ${t.instance} ` +
        `at its private IP:${dst.port} as ${dst.username}, password from ${t.passwordRef}`,
    }),
  ];
}

const privateDetail = (task: DatabaseTask) => {
  const c = connectivityOf(task);
  return c.method === 'private-service-connect' ? `, through private connection ${c.privateConnection} (CREATED)` : '';
};
