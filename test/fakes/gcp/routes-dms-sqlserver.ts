// DMS for SQL Server (homogeneous, into Cloud SQL for SQL Server): the job restores the backup files
// it finds in Cloud Storage and reports each database as a MigrationJobObject
// (migrationJobs.objects.list/get/lookup in the datamigration v1 discovery document). What it
// follows:
// - the bucket layout: under the source profile's gcsPrefix one folder per database, holding `full/`
//   (the full backup) and `log/` (transaction log backups)
//   (https://cloud.google.com/database-migration/docs/sqlserver/storage-buckets);
// - the files of a database are restored in the order of their names, which backupFilePattern must
//   make chronological (SqlServerHomogeneousMigrationJobConfig.backupFilePattern);
// - a database object is FULL_DUMP until its full backup is restored, CDC while uploaded log backups
//   wait to be restored, READY_FOR_PROMOTE once none does (MigrationJobObject.phase), and
//   PROMOTE_IN_PROGRESS then PROMOTED with the promote; its updateTime is when its phase last
//   changed. The job is RUNNING in FULL_DUMP until every database's full backup is restored, then in
//   CDC (https://cloud.google.com/database-migration/docs/sqlserver/finalize-migration: "Make sure
//   that all the available data from transaction log files is replicated ... promote").
// The bucket is the fake Cloud Storage's (routes-storage.ts): objects under `gcs/o/BUCKET/NAME`.
import { ApiError, ok, type Ctx, type FakeGcp } from './server';
import type { DmsBehaviour, FakeJob } from './routes-dms';
import { objectsOf as storedObjects, putBucket, putObject } from './routes-storage';

/** How long the fake DMS takes to restore one transaction log backup (default 100 ms). */
export interface SqlServerBehaviour {
  logRestoreMs?: number;
}

export interface BucketObject {
  name: string;
  /** When the upload finished (ms). */
  created: number;
}

/** A test's (or the operator's) upload of a backup file into the fake's bucket (made if missing). */
export function putBackupFile(f: FakeGcp, bucket: string, name: string, created = Date.now()): void {
  if (!f.resources.has(`gcs/b/${bucket}`)) putBucket(f, bucket);
  putObject(f, bucket, name, `backup ${name}`, { at: created });
}

/** The objects of `bucket` under `prefix`, by name. */
export function bucketObjects(f: FakeGcp, bucket: string, prefix: string): BucketObject[] {
  return [...storedObjects(f, bucket).entries()]
    .filter(([name]) => name.startsWith(prefix))
    .map(([name, o]) => ({ name, created: Date.parse(o.meta.timeCreated as string) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

const isSqlServer = (j: FakeJob) => !!j.sqlserverHomogeneousMigrationJobConfig;

interface Place {
  bucket: string;
  folder: (db: string) => string;
}

function placeOf(f: FakeGcp, j: FakeJob): Place | undefined {
  const src = f.resources.get(`dms/${j.source}`)?.sqlserver;
  const bucket = src?.backups?.gcsBucket as string | undefined;
  if (!bucket) return undefined;
  const prefix = (src.backups.gcsPrefix as string | undefined)?.replace(/\/+$/, '');
  return { bucket, folder: (db) => `${prefix ? `${prefix}/` : ''}${db}/` };
}

const databasesOf = (j: FakeJob): string[] =>
  (
    (j.sqlserverHomogeneousMigrationJobConfig as { databaseBackups?: { database: string }[] }).databaseBackups ?? []
  ).map((d) => d.database);

interface ObjectProgress {
  phase: string;
  since: number;
}

/** Where one database's restore stands at `now`, from its files and when the job started. */
function progressOf(f: FakeGcp, j: FakeJob, db: string, b: DmsBehaviour, now: number): ObjectProgress {
  const place = placeOf(f, j);
  const started = j._runningSince ?? now;
  if (!place) return { phase: 'FULL_DUMP', since: started };
  const files = bucketObjects(f, place.bucket, place.folder(db)).filter((o) => o.created <= now);
  const full = files.find((o) => o.name.includes('/full/'));
  if (!full) return { phase: 'FULL_DUMP', since: started };
  const fullDone = Math.max(started, full.created) + b.fullDumpMs;
  if (now < fullDone) return { phase: 'FULL_DUMP', since: started };
  const restoreMs = (b as DmsBehaviour & SqlServerBehaviour).logRestoreMs ?? 100;
  let t = fullDone;
  let cdcFrom = fullDone;
  for (const log of files.filter((o) => o.name.includes('/log/'))) {
    if (log.created > t) {
      if (now < log.created) break;
      cdcFrom = log.created; // it was READY_FOR_PROMOTE from t until this upload
    }
    t = Math.max(t, log.created) + restoreMs;
    if (now < t) return { phase: 'CDC', since: cdcFrom };
  }
  return { phase: 'READY_FOR_PROMOTE', since: t };
}

/** Moves a SQL Server job on by the clock: its phase from its databases' objects. */
export function advanceSqlServerJob(f: FakeGcp, j: FakeJob, b: DmsBehaviour, now = Date.now()): void {
  if (!isSqlServer(j) || j.state !== 'RUNNING' || j.phase === 'PROMOTE_IN_PROGRESS') return;
  const restored = databasesOf(j).every((db) => progressOf(f, j, db, b, now).phase !== 'FULL_DUMP');
  if (restored && j.phase === 'FULL_DUMP') Object.assign(j, { phase: 'CDC', _cdcSince: now });
}

/** The job's objects as the API shows them (MigrationJobObject). */
function objectsOf(f: FakeGcp, j: FakeJob, b: DmsBehaviour): Record<string, unknown>[] {
  const now = Date.now();
  return databasesOf(j).map((db) => {
    let state = 'NOT_STARTED';
    let phase: string | undefined;
    let since = Date.parse(j.createTime as string);
    if (j.state === 'COMPLETED' || j.phase === 'PROMOTE_IN_PROGRESS') {
      state = j.state === 'COMPLETED' ? 'COMPLETED' : 'RUNNING';
      phase = j.state === 'COMPLETED' ? 'PROMOTED' : 'PROMOTE_IN_PROGRESS';
      since = (j._promotedAt as number | undefined) ?? now;
    } else if (j.state === 'RUNNING') {
      const p = progressOf(f, j, db, b, now);
      state = 'RUNNING';
      phase = p.phase;
      since = p.since;
    } else if (j.state === 'STOPPED') state = 'STOPPED';
    return {
      name: `${j.name}/objects/${db.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`,
      sourceObject: { type: 'DATABASE', database: db },
      state,
      ...(phase ? { phase } : {}),
      createTime: j.createTime,
      updateTime: new Date(since).toISOString(),
    };
  });
}

/**
 * The SQL Server side of verify: a database whose folder holds no full backup cannot be migrated
 * ("The full backup file is required for migration":
 * https://cloud.google.com/database-migration/docs/sqlserver/supported-backup-files).
 */
export function verifySqlServer(f: FakeGcp, j: FakeJob): string | undefined {
  if (!isSqlServer(j)) return undefined;
  const place = placeOf(f, j);
  if (!place) return 'the source connection profile names no backups.gcsBucket';
  const missing = databasesOf(j).filter((db) => !bucketObjects(f, place.bucket, `${place.folder(db)}full/`).length);
  return missing.length
    ? `no full backup in gs://${place.bucket}/${missing.map((db) => `${place.folder(db)}full/`).join(', ')}`
    : undefined;
}

/**
 * A `sqlserver` profile's cloudSqlId must name an instance, as for the other engines' profiles
 * (SqlServerConnectionProfile.cloud_sql_id: "the Cloud SQL instance ID").
 */
export function checkSqlServerProfile(f: FakeGcp, project: string, conn: Record<string, unknown>): void {
  // google/cloud/clouddms/v1/clouddms_resources.proto SqlServerConnectionProfile.cloud_sql_id names an instance.
  if (conn.cloudSqlId && !f.resources.has(`sql/${project}/${conn.cloudSqlId}`))
    throw new ApiError(400, `sqlserver.cloudSqlId: Cloud SQL instance ${conn.cloudSqlId} not found`);
}

/** migrationJobs.objects.list, get and lookup for SQL Server jobs. */
export function sqlServerObjectRoutes(f: FakeGcp, b: DmsBehaviour): void {
  const base = '^/v1/(projects/[^/]+/locations/[^/]+/migrationJobs/[^/:]+)';
  const JOBS = 'datamigration.projects.locations.migrationJobs';
  const job = (name: string): FakeJob => {
    const j = f.resources.get(`dms/${name}`);
    // A missing parent or resource is NOT_FOUND (https://google.aip.dev/131, https://google.aip.dev/132).
    if (!j) throw new ApiError(404, `migration job ${name} not found`);
    advanceSqlServerJob(f, j, b);
    return j;
  };
  f.route('GET', new RegExp(`${base}/objects$`), `${JOBS}.objects.list`, (ctx: Ctx) => {
    const objects = objectsOf(f, job(ctx.params[0]), b);
    return ok(objects.length ? { migrationJobObjects: objects } : {});
  });
  f.route('GET', new RegExp(`${base}/objects/([^/:]+)$`), `${JOBS}.objects.get`, (ctx: Ctx) => {
    const o = objectsOf(f, job(ctx.params[0]), b).find((x) => x.name === ctx.path.slice(4));
    // https://google.aip.dev/131: Get of a missing resource is NOT_FOUND.
    if (!o) throw new ApiError(404, `migration job object ${ctx.path.slice(4)} not found`);
    return ok(o);
  });
  f.route('POST', new RegExp(`${base}/objects:lookup$`), `${JOBS}.objects.lookup`, (ctx: Ctx) => {
    const db = ctx.body?.sourceObjectIdentifier?.database;
    const o = objectsOf(f, job(ctx.params[0]), b).find((x) => (x.sourceObject as { database: string }).database === db);
    // google/cloud/clouddms/v1/clouddms.proto LookupMigrationJobObject: no object for the identifier is NOT_FOUND
    // (https://google.aip.dev/131).
    if (!o) throw new ApiError(404, `no object for database ${db}`);
    return ok(o);
  });
}
