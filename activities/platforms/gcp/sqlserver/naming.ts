// How DMS finds a SQL Server database's backup files in its bucket, as Google publishes it:
// - folders (https://cloud.google.com/database-migration/docs/sqlserver/storage-buckets): each
//   database has a folder named after it holding `full/` (the full backup), optionally `diff/`, and
//   `log/` (transaction log backups); a striped full (or diff) backup sits one folder deeper, in a
//   folder named by a Unix timestamp in seconds;
// - file names (https://cloud.google.com/database-migration/docs/sqlserver/export-backup-files,
//   "Naming conventions"): a single full backup is `db_name.epoch.bak` (epoch: Unix seconds, the
//   approximate time it was taken); log backups are named by the migration job's
//   `backupFilePattern` (SqlServerHomogeneousMigrationJobConfig in the DMS discovery document):
//   a regular expression that orders the files and defines either the capture groups
//   yy|yyyy, mm, dd, hh, mi, ss or the group `timestamp` (Unix seconds).
// Pure: the bucket is read in backups.ts.

/**
 * The log file pattern dbmig uses when the plan names none: `<anything>.<unix seconds>.trn`, the
 * discovery document's own second example (TestDB.1691448254.trn), with only the `timestamp` group
 * it requires. The tail-log backup the worker takes is named to match it (tailLogName).
 */
export const DEFAULT_BACKUP_FILE_PATTERN = '.*\\.(?<timestamp>\\d*)\\.trn';

export type BackupKind = 'full' | 'diff' | 'log';

export interface BackupFile {
  kind: BackupKind;
  /** The object's name in the bucket. */
  name: string;
  /** When it was taken, from its name (ms since the epoch). */
  takenAt: number;
  /** For a striped backup: the stripe folder's timestamp (all its stripes share it). */
  stripeSet?: number;
  size: number;
}

export interface Misnamed {
  name: string;
  why: string;
}

/**
 * A backupFilePattern as a function from a file's name to the time it names, or why the pattern
 * is unusable (it defines neither capture group set).
 */
export function logNameReader(pattern: string): { read: (file: string) => number | undefined } | { error: string } {
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${pattern})$`);
  } catch (err) {
    return { error: `backupFilePattern is not a regular expression: ${(err as Error).message}` };
  }
  const groups = new Set([...pattern.matchAll(/\(\?<([A-Za-z][A-Za-z0-9]*)>/g)].map((m) => m[1]));
  const dated = ['mm', 'dd', 'hh', 'mi', 'ss'].every((g) => groups.has(g)) && (groups.has('yyyy') || groups.has('yy'));
  if (!groups.has('timestamp') && !dated)
    return {
      error:
        'backupFilePattern defines neither capture group set DMS requires: ' +
        '(yyyy or yy, mm, dd, hh, mi, ss) or timestamp',
    };
  return {
    read(file) {
      const g = re.exec(file)?.groups;
      if (!g) return undefined;
      if (g.timestamp !== undefined && g.timestamp !== '') return Number(g.timestamp) * 1000;
      if (!dated) return undefined;
      const year = g.yyyy !== undefined ? Number(g.yyyy) : 2000 + Number(g.yy);
      const at = Date.UTC(year, Number(g.mm) - 1, Number(g.dd), Number(g.hh), Number(g.mi), Number(g.ss));
      return Number.isFinite(at) ? at : undefined;
    },
  };
}

const FULL_SINGLE = /^(.+)\.(\d+)\.bak$/;
const EPOCH_FOLDER = /^(\d+)\/(.+)$/;

/**
 * Sorts the objects under a database folder (`prefix`) into backup files by DMS's layout, and
 * lists every object that DMS would not recognise, with why.
 */
export function classify(
  prefix: string,
  objects: { name: string; size: number }[],
  readLog: (file: string) => number | undefined,
): { files: BackupFile[]; misnamed: Misnamed[] } {
  const files: BackupFile[] = [];
  const misnamed: Misnamed[] = [];
  for (const o of objects) {
    const rest = o.name.slice(prefix.length);
    const slash = rest.indexOf('/');
    const folder = slash < 0 ? '' : rest.slice(0, slash);
    const inside = rest.slice(slash + 1);
    if (!inside) continue; // a folder placeholder object
    if (folder === 'log') {
      const at = inside.includes('/') ? undefined : readLog(inside);
      if (at === undefined) misnamed.push({ name: o.name, why: 'does not match the job’s backupFilePattern' });
      else files.push({ kind: 'log', name: o.name, takenAt: at, size: o.size });
    } else if (folder === 'full' || folder === 'diff') {
      const striped = EPOCH_FOLDER.exec(inside);
      const single = FULL_SINGLE.exec(inside);
      if (striped && !striped[2].includes('/')) {
        const at = Number(striped[1]) * 1000;
        files.push({ kind: folder, name: o.name, takenAt: at, stripeSet: at, size: o.size });
      } else if (single && !inside.includes('/'))
        files.push({ kind: folder, name: o.name, takenAt: Number(single[2]) * 1000, size: o.size });
      else
        misnamed.push({
          name: o.name,
          why: `is not db_name.epoch.bak, nor a stripe in a ${folder}/<epoch>/ folder`,
        });
    } else misnamed.push({ name: o.name, why: 'is outside the full/, diff/ and log/ folders DMS reads' });
  }
  files.sort((a, b) => a.takenAt - b.takenAt || (a.name < b.name ? -1 : 1));
  return { files, misnamed };
}

/** The tail-log backup's object name: in log/, matching DEFAULT_BACKUP_FILE_PATTERN. */
export function tailLogName(prefix: string, database: string, at: number): string {
  return `${prefix}log/${database}.${Math.floor(at / 1000)}.trn`;
}
