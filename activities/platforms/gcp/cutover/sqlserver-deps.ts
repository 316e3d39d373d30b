// What the SQL Server cutover reads and does beyond the job (cutover/sqlserver.ts), built from the
// platform's clients: the database's object (migrationJobs.objects.list), the bucket's newest log
// backup, and, for backups.tailLog worker, the source over TDS and the tail-log backup's upload.
import type { DatabaseTask } from '../../../steps';
import type { GcpClients } from '../clients';
import { BACKUP_FILE_PATTERN } from '../dms/job-sqlserver';
import { databaseObject } from '../dms/sqlserver-objects';
import { readBackupBucket, tailLogArrived } from '../sqlserver/backups';
import { sqlServerBackups } from '../sqlserver/plan';
import type { TdsSession } from '../sqlserver/tds-session';
import type { SqlServerCutoverDeps } from './sqlserver';

export function sqlServerCutoverDeps(
  clients: GcpClients,
  task: DatabaseTask,
  opts: { open: (task: DatabaseTask) => Promise<TdsSession>; settleMs?: number },
): Partial<SqlServerCutoverDeps> {
  const bucket = task.database.backups?.bucket ?? '';
  return {
    ...(task.database.backups?.tailLog === 'worker'
      ? {
          tailLog: {
            open: () => opts.open(task),
            uploadedAt: async (name: string) => {
              const r = await tailLogArrived(clients.storage, bucket, name);
              return r.arrived ? r.uploadedAt : undefined;
            },
          },
        }
      : {}),
    databaseObject: async () => {
      const o = await databaseObject(clients, task);
      return o
        ? { state: o.state ?? undefined, phase: o.phase ?? undefined, updateTime: o.updateTime ?? undefined }
        : undefined;
    },
    // When the bucket's last log backup arrived: the cutover promotes only on a restore reported after it.
    newestLogBackupAt: async () => {
      const r = await readBackupBucket(clients.storage, sqlServerBackups(task), BACKUP_FILE_PATTERN);
      return r.newestLogUploadedAt === undefined ? undefined : new Date(r.newestLogUploadedAt);
    },
    ...(opts.settleMs !== undefined ? { settleMs: opts.settleMs } : {}),
  };
}
