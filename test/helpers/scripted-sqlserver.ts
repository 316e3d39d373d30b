// A TDS session that answers tds-sql.ts's and tail-log-sql.ts's batches as a SQL Server would, for
// the tests of the assessment, the tail-log backup and the cutover: there is no SQL Server on this
// machine. What it models, and where SQL Server's behaviour is documented:
// - BACKUP LOG ... WITH NORECOVERY leaves the database RESTORING
//   (https://learn.microsoft.com/sql/relational-databases/backup-restore/tail-log-backups-sql-server);
// - RESTORE DATABASE ... WITH RECOVERY brings a RESTORING database ONLINE and fails on one that is
//   online already (https://learn.microsoft.com/sql/t-sql/statements/restore-statements-arguments-transact-sql,
//   RECOVERY);
// - the reopen job (tail-log-sql.ts reopenStepSql) runs when SQL Server Agent reaches its schedule,
//   and reopens only while it is enabled and the database RESTORING: `fireJob()` is Agent reaching it;
// - msdb records each log backup with the device it went to (backupset, backupmediafamily).
// Every batch is logged by kind in `sent`, in order, so a test reads what reached the server.
import type { TdsSession } from '../../activities/platforms/gcp/sqlserver/tds-session';
import type { BackupSetRow, DatabaseRow, ServerRow } from '../../activities/platforms/gcp/sqlserver/tds-sql';

// Rows as SQL Server answers tds-sql.ts's queries (types as tedious decodes them).
export const SERVER_2019: ServerRow = {
  product_version: '15.0.4375.4',
  edition: 'Enterprise Edition: Core-based Licensing (64-bit)',
  engine_edition: 3,
  is_sysadmin: 0,
  is_dbcreator: 1,
  can_kill: 1,
  can_add_job: 1,
  agent_status: 'Running',
};
export const SERVER_2022: ServerRow = { ...SERVER_2019, product_version: '16.0.4135.4' };

export const HEALTHY_DB: DatabaseRow = {
  name: 'sales',
  state_desc: 'ONLINE',
  recovery_model_desc: 'FULL',
  user_access_desc: 'MULTI_USER',
  is_read_only: false,
  is_encrypted: false,
  encryption_state: null,
  can_backup_log: 1,
  is_owner: 0,
};

const at = (iso: string) => new Date(iso);
/** A row of msdb.dbo.backupset (type D full, L log) as readChain reads it. */
export function backup(type: string, start: string, first: string, last: string, extra: Partial<BackupSetRow> = {}) {
  return {
    backup_set_id: Number(last.slice(-6)),
    type,
    is_copy_only: false,
    backup_start_date: at(start),
    backup_finish_date: at(start),
    first_lsn: first,
    last_lsn: last,
    checkpoint_lsn: first,
    database_backup_lsn: '0',
    key_algorithm: null,
    encryptor_type: null,
    is_damaged: false,
    families: 1,
    device: `D:\\Backup\\sales_${type}_${start.slice(11, 16).replace(':', '')}.${type === 'D' ? 'bak' : 'trn'}`,
    ...extra,
  } satisfies BackupSetRow;
}
/** A full backup and an unbroken chain of log backups after it. */
export const CHAIN: BackupSetRow[] = [
  backup('D', '2026-12-06T15:00:00Z', '37000000012000037', '37000000013600001'),
  // A log backup ending before the full backup's last LSN is not needed by the restore.
  backup('L', '2026-12-06T15:00:00Z', '37000000010000001', '37000000012000037'),
  backup('L', '2026-12-07T14:00:00Z', '37000000012000037', '37000000020800001'),
  backup('L', '2026-12-07T14:15:00Z', '37000000020800001', '37000000021600001'),
  backup('L', '2026-12-07T14:30:00Z', '37000000021600001', '37000000022400001'),
];

export type TailDestination = { kind: 'url'; url: string } | { kind: 'disk'; path: string };

export interface Script {
  server: ServerRow;
  database: DatabaseRow;
  chain?: BackupSetRow[];
  /** What the BACKUP LOG batch does: completes, fails before closing, or closes and loses its answer. */
  backup?: 'ok' | 'fails' | 'answer-lost';
  /** The job's schedule as the server answers it, relative to the seconds asked for. */
  scheduleOffset?: number;
  /** The server's clock (default Date.now). */
  now?: () => number;
  /** RESTORE ... WITH RECOVERY fails in the reopen-if-armed batch (a damaged log, say). */
  reopenFails?: boolean;
  /** Called once the tail-log backup is written (e.g. to put it in the fake bucket). */
  onBackup?: (to: TailDestination, at: number) => void;
}

export type Kind =
  | 'hold-lock'
  | 'release-lock'
  | 'reopen-if-armed'
  | 'backup'
  | 'arm'
  | 'disarm'
  | 'reopen'
  | 'server'
  | 'database'
  | 'tail-record'
  | 'chain'
  | 'newest-log'
  | 'job-state'
  | 'other';

const kindOf = (text: string): Kind =>
  /DECLARE @armed bit/.test(text)
    ? 'reopen-if-armed'
    : /SELECT @got AS got/.test(text)
      ? 'hold-lock'
      : /sp_releaseapplock/.test(text) && !/sp_getapplock/.test(text)
        ? 'release-lock'
        : /BACKUP LOG \[/.test(text)
          ? 'backup'
          : /sp_add_job /.test(text)
            ? 'arm'
            : /sp_update_job/.test(text)
              ? 'disarm'
              : /^RESTORE DATABASE/.test(text.trim())
                ? 'reopen'
                : /SERVERPROPERTY/.test(text)
                  ? 'server'
                  : /FROM sys\.databases AS d/.test(text)
                    ? 'database'
                    : /physical_device_name = @device/.test(text)
                      ? 'tail-record'
                      : /newest_full/.test(text)
                        ? 'chain'
                        : /ORDER BY b\.backup_finish_date DESC/.test(text)
                          ? 'newest-log'
                          : /FROM msdb\.dbo\.sysjobs AS j/.test(text)
                            ? 'job-state'
                            : 'other';

export interface ScriptedSqlServer extends TdsSession {
  sent: Kind[];
  closed: boolean;
  state(): string;
  /** The reopen job as the server has it, or undefined once deleted. */
  job(): { enabled: boolean; fireAt: number } | undefined;
  /** SQL Server Agent reaching the job's schedule: reopens only while enabled and RESTORING. */
  fireJob(): void;
  /** Stops (or starts) SQL Server Agent. */
  setAgent(status: string | null): void;
}

export function scriptedSqlServer(script: Script): ScriptedSqlServer {
  const now = script.now ?? Date.now;
  let state = script.database.state_desc;
  let agent = script.server.agent_status;
  let job: { enabled: boolean; fireAt: number } | undefined;
  let tail: { device: string; finishedAt: number; description: string } | undefined;
  const jobRow = () =>
    job
      ? [
          {
            enabled: job.enabled ? 1 : 0,
            active_start_date: 20261207,
            active_start_time: 153000,
            seconds_left: Math.floor((job.fireAt - now()) / 1000),
          },
        ]
      : [];
  const s: ScriptedSqlServer = {
    sent: [],
    closed: false,
    state: () => state,
    job: () => job,
    fireJob() {
      if (job?.enabled && state === 'RESTORING') state = 'ONLINE';
    },
    setAgent(status) {
      agent = status;
    },
    async query<T>(text: string, params: Record<string, string | number> = {}): Promise<T[]> {
      const k = kindOf(text);
      s.sent.push(k);
      const rows = (r: unknown[]) => r as T[];
      switch (k) {
        case 'server':
          return rows([{ ...script.server, agent_status: agent }]);
        case 'database':
          return rows([{ ...script.database, state_desc: state }]);
        case 'chain':
          return rows(script.chain ?? []);
        case 'arm': {
          const secs = Number(/DATEADD\(second, (\d+),/.exec(text)![1]) + (script.scheduleOffset ?? 0);
          job = { enabled: true, fireAt: now() + secs * 1000 };
          return rows(jobRow());
        }
        case 'job-state':
          return rows(jobRow());
        case 'backup': {
          const m = /TO (URL|DISK) = N'([^']+)'/.exec(text)!;
          const description = /DESCRIPTION = N'([^']*)'/.exec(text)?.[1] ?? '';
          const to: TailDestination = m[1] === 'URL' ? { kind: 'url', url: m[2] } : { kind: 'disk', path: m[2] };
          if (script.backup === 'fails')
            throw Object.assign(new Error('Exclusive access could not be obtained because the database is in use.'), {
              number: 3101,
            });
          state = 'RESTORING';
          tail = { device: m[2], finishedAt: now(), description };
          script.onBackup?.(to, tail.finishedAt);
          if (script.backup === 'answer-lost') throw Object.assign(new Error('Connection lost'), { code: 'ESOCKET' });
          return [];
        }
        case 'tail-record':
          return rows(
            tail && params.device === tail.device && params.description === tail.description
              ? [
                  {
                    backup_start_date: new Date(tail.finishedAt - 2000),
                    backup_finish_date: new Date(tail.finishedAt),
                    first_lsn: '37000000022400001',
                    last_lsn: '37000000023200001',
                  },
                ]
              : [],
          );
        case 'newest-log':
          return rows(
            tail
              ? [{ device: tail.device, backup_finish_date: new Date(tail.finishedAt), description: tail.description }]
              : [],
          );
        case 'disarm':
          job = undefined;
          return rows([{ state_desc: state }]);
        // One session: the reopen lock is always granted (tests of two attempts at once would need two).
        case 'hold-lock':
          return rows([{ got: 0 }]);
        case 'release-lock':
          return [];
        case 'reopen-if-armed': {
          const armed = !!job;
          let error: string | null = null;
          if (armed && state === 'RESTORING') {
            if (script.reopenFails) error = 'RESTORE DATABASE is terminating abnormally.';
            else state = 'ONLINE';
          }
          if (armed && state !== 'RESTORING') job = undefined;
          return rows([{ state_desc: state, armed: armed ? 1 : 0, error }]);
        }
        case 'reopen':
          if (state !== 'RESTORING')
            throw Object.assign(new Error('RESTORE DATABASE is terminating abnormally.'), { number: 3013 });
          state = 'ONLINE';
          return [];
        default:
          return [];
      }
    },
    async close() {
      s.closed = true;
    },
  };
  return s;
}
