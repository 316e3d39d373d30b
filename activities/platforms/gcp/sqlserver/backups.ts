// The SQL Server backup bucket as DMS will read it: per database, the full backup DMS restores
// first, the log backups it applies after (are they arriving, and the newest one's time), and the
// files it would not recognise. Read with the Cloud Storage JSON API (buckets.get, objects.list);
// judged by DMS's published layout and naming (naming.ts). This is the whole assessment where the
// worker does not reach the source (source.access dms-only), and a part of it where it does.
import type { Storage } from '@google-cloud/storage';
import type { Finding } from '../../../steps';
import { classify, logNameReader, type BackupFile, type Misnamed } from './naming';
import type { SqlServerBackups } from './plan';

/** "Your backup files can have a maximum size of 5 TB" (export-backup-files, Requirements). */
export const MAX_BACKUP_FILE_BYTES = 5 * 1024 ** 4;

export interface BucketReading {
  bucket: string;
  prefix: string;
  folder: string;
  /** Absent: the bucket does not exist, or the worker may not read it (`denied`). */
  location?: string;
  missing?: 'bucket' | 'denied';
  /** The newest full backup set (one file, or every stripe of one stripe folder). */
  full?: { takenAt: number; files: BackupFile[] };
  /** Log backups, oldest first. */
  logs: BackupFile[];
  /** The newest log backup's time (ms), as its name says: how far the target can get. */
  newestLogAt?: number;
  /**
   * When the last log backup reached the bucket (ms; the objects' timeCreated,
   * https://cloud.google.com/storage/docs/json_api/v1/objects#resource): a restore DMS reports
   * later than this can include it, one reported earlier cannot. A name's time is when the backup
   * was taken, before its upload, and so cannot say that.
   */
  newestLogUploadedAt?: number;
  misnamed: Misnamed[];
  /** Why the job's backupFilePattern cannot be used, if it cannot. */
  patternError?: string;
  tooLarge: string[];
}

/** The latest of some times, undefined when none is known. */
function newest(times: number[]): number | undefined {
  const known = times.filter((t) => Number.isFinite(t));
  return known.length ? Math.max(...known) : undefined;
}

/** Reads one database's folder of the bucket. */
export async function readBackupBucket(
  storage: Storage,
  backups: SqlServerBackups,
  backupFilePattern: string,
): Promise<BucketReading> {
  const base = { bucket: backups.bucket, prefix: backups.prefix, folder: backups.folder, logs: [], misnamed: [] };
  const bucket = storage.bucket(backups.bucket);
  let location: string;
  try {
    location = String((await bucket.getMetadata())[0].location ?? '');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 404) return { ...base, missing: 'bucket', tooLarge: [] };
    if (code === 403) return { ...base, missing: 'denied', tooLarge: [] };
    throw err;
  }
  const [files] = await bucket.getFiles({ prefix: backups.prefix });
  const objects = files.map((f) => ({ name: f.name, size: Number(f.metadata.size ?? 0) }));
  const uploadedAt = new Map(files.map((f) => [f.name, Date.parse(String(f.metadata.timeCreated ?? ''))]));
  const reader = logNameReader(backupFilePattern);
  const { files: sorted, misnamed } = classify(
    backups.prefix,
    objects,
    'error' in reader ? () => undefined : reader.read,
  );
  const fulls = sorted.filter((f) => f.kind === 'full');
  const newestFullAt = fulls.length ? fulls[fulls.length - 1].takenAt : undefined;
  const logs = sorted.filter((f) => f.kind === 'log');
  return {
    ...base,
    location,
    full:
      newestFullAt === undefined
        ? undefined
        : { takenAt: newestFullAt, files: fulls.filter((f) => f.takenAt === newestFullAt) },
    logs,
    newestLogAt: logs.length ? logs[logs.length - 1].takenAt : undefined,
    newestLogUploadedAt: newest(logs.map((l) => uploadedAt.get(l.name) ?? NaN)),
    misnamed,
    ...('error' in reader ? { patternError: reader.error } : {}),
    tooLarge: objects.filter((o) => o.size > MAX_BACKUP_FILE_BYTES).map((o) => o.name),
  };
}

export interface BucketJudgement {
  /** The plan's region: DMS and the bucket must share it. */
  region?: string;
  /** The database as the plan names it on the source. */
  database: string;
  now: number;
  /** A newest log backup older than this is "not arriving" (default 30 minutes). */
  logStaleMs?: number;
}

const SHOWN = 5;
const ago = (ms: number) => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`);
const at = (ms: number) => new Date(ms).toISOString();

/** What the bucket means for the migration, as findings (pure). */
export function evaluateBucket(r: BucketReading, j: BucketJudgement): Finding[] {
  const where = `gs://${r.bucket}/${r.prefix}`;
  if (r.missing === 'bucket')
    return [{ code: 'BACKUP_BUCKET_MISSING', severity: 'error', message: `bucket ${r.bucket} does not exist` }];
  if (r.missing === 'denied')
    return [
      {
        code: 'BACKUP_BUCKET_DENIED',
        severity: 'error',
        message:
          `the worker may not read bucket ${r.bucket}: it needs storage.buckets.get and storage.objects.list ` +
          '(roles/storage.objectViewer on the bucket)',
      },
    ];
  const out: Finding[] = [];
  // "Make sure you use the same region as the one where you intend to create your destination
  // Cloud SQL for SQL Server instance" (https://cloud.google.com/database-migration/docs/sqlserver/storage-buckets).
  if (j.region && r.location && r.location.toLowerCase() !== j.region.toLowerCase())
    out.push({
      code: 'BACKUP_BUCKET_REGION',
      severity: 'error',
      message: `bucket ${r.bucket} is in ${r.location}; DMS needs it in the migration's region ${j.region}`,
    });
  if (r.folder !== j.database)
    out.push({
      code: 'BACKUP_FOLDER_NOT_DATABASE',
      severity: 'error',
      message:
        `the backups folder ${where} is named ${r.folder}, but DMS takes each folder's name as the database's ` +
        `name: it must be ${j.database}`,
    });
  if (r.patternError) out.push({ code: 'BACKUP_FILE_PATTERN', severity: 'error', message: r.patternError });
  if (!r.full)
    out.push({
      code: 'FULL_BACKUP_MISSING',
      severity: 'error',
      message:
        `no full backup in ${where}full/ (named ${j.database}.<unix seconds>.bak, ` +
        'or stripes in full/<unix seconds>/)',
    });
  else
    out.push({
      code: 'FULL_BACKUP_PRESENT',
      severity: 'info',
      message:
        `full backup taken ${at(r.full.takenAt)}` +
        (r.full.files.length > 1 ? ` (${r.full.files.length} stripes)` : '') +
        `: ${r.full.files[0].name}`,
    });
  const newLogs = r.full ? r.logs.filter((l) => l.takenAt >= r.full!.takenAt) : r.logs;
  if (r.full && !newLogs.length)
    out.push({
      code: 'LOG_BACKUPS_MISSING',
      severity: 'warning',
      message:
        `no log backup taken after the full backup in ${where}log/: the target can only reach the full ` +
        "backup's point until log backups arrive (the tail-log backup at cutover carries the rest)",
    });
  else if (r.newestLogAt !== undefined) {
    const age = j.now - r.newestLogAt;
    const stale = age > (j.logStaleMs ?? 30 * 60_000);
    out.push({
      code: stale ? 'LOG_BACKUPS_STALE' : 'LOG_BACKUPS_ARRIVING',
      severity: stale ? 'warning' : 'info',
      message:
        `${newLogs.length} log backup(s) since the full backup; the newest was taken ${at(r.newestLogAt)} ` +
        `(${ago(Math.max(0, age))} ago)` +
        (stale ? ': log backups are not arriving, and the target falls behind the source' : ''),
    });
  }
  if (r.misnamed.length)
    out.push({
      code: 'BACKUP_FILE_MISNAMED',
      severity: 'warning',
      message:
        `${r.misnamed.length} file(s) in ${where} DMS will not use: ` +
        r.misnamed
          .slice(0, SHOWN)
          .map((m) => `${m.name} ${m.why}`)
          .join('; ') +
        (r.misnamed.length > SHOWN ? '; …' : ''),
    });
  for (const name of r.tooLarge)
    out.push({
      code: 'BACKUP_FILE_TOO_LARGE',
      severity: 'error',
      message: `${name} is larger than the 5 TB DMS reads per file: stripe the backup`,
    });
  return out;
}

/**
 * Whether the tail-log backup has reached the bucket (objects.get): at once for BACKUP TO URL,
 * after the operator's shipper uploads it for a folder on the source, or after the operator
 * uploads it (backups.tailLog operator). Its size, when there.
 */
export async function tailLogArrived(
  storage: Storage,
  bucket: string,
  objectName: string,
): Promise<{ arrived: false } | { arrived: true; size: number; uploadedAt: Date }> {
  try {
    const [meta] = await storage.bucket(bucket).file(objectName).getMetadata();
    // timeCreated: when the upload finished (the object's creation, storage v1 Object resource).
    return { arrived: true, size: Number(meta.size ?? 0), uploadedAt: new Date(String(meta.timeCreated)) };
  } catch (err) {
    if ((err as { code?: unknown }).code === 404) return { arrived: false };
    throw err;
  }
}
