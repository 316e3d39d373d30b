// A MySQL source's DMS prerequisites, read over SQL and judged by what Google documents:
//   https://cloud.google.com/database-migration/docs/mysql/configure-source-database
//   https://cloud.google.com/database-migration/docs/mysql/configure-source-database-continuous
//   https://cloud.google.com/database-migration/docs/mysql/known-limitations
// DMS reads the binary log (row events) after a dump; it does not migrate users, so a DEFINER
// naming a user the target lacks fails there.
// The facts are read first (readMysqlFacts) and judged by a pure function (evaluateMysql).
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { DatabaseTask, Finding } from '../../steps';
import { versionMismatch } from '../source-version';

export interface MysqlTableFacts {
  /** `schema`.`table` */
  name: string;
  hasPrimaryKey: boolean;
}

export interface MysqlDefinerFacts {
  kind: 'VIEW' | 'ROUTINE' | 'TRIGGER' | 'EVENT';
  name: string;
  /** As information_schema shows it: user@host. */
  definer: string;
}

export interface MysqlSourceFacts {
  /** SELECT VERSION(), e.g. 8.0.36 or 10.11.6-MariaDB-0+deb12u1. */
  version: string;
  /** Global variables by lower-case name; a variable the server does not have is absent. */
  variables: Record<string, string>;
  tables: MysqlTableFacts[];
  definers: MysqlDefinerFacts[];
  /** CURRENT_USER(), user@host. */
  user: string;
  /** The user's privileges, global and on the plan's database (upper case); ALL PRIVILEGES expanded. */
  privileges: string[];
  estimatedRows: number;
}

export const MYSQL_VARIABLES = [
  'log_bin',
  'binlog_format',
  'binlog_row_image',
  'gtid_mode',
  'enforce_gtid_consistency',
  'server_id',
  'binlog_expire_logs_seconds',
  'expire_logs_days',
  'version_comment',
];

async function rows<T>(c: Connection, sql: string, params: unknown[] = []): Promise<T[]> {
  const [r] = await c.query<RowDataPacket[]>(sql, params);
  return r as T[];
}

/** Privileges DMS asks of the migration user for a continuous migration with a managed dump (type 1). */
export const REQUIRED_PRIVILEGES = [
  'REPLICATION SLAVE',
  'EXECUTE',
  'SELECT',
  'SHOW VIEW',
  'REPLICATION CLIENT',
  'RELOAD',
  'TRIGGER',
];

export async function readMysqlFacts(c: Connection, database: string): Promise<MysqlSourceFacts> {
  const [{ version, user }] = await rows<{ version: string; user: string }>(
    c,
    'SELECT VERSION() AS version, CURRENT_USER() AS user',
  );
  const variables: Record<string, string> = {};
  for (const r of await rows<{ Variable_name: string; Value: string }>(
    c,
    `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${MYSQL_VARIABLES.map(() => '?').join(', ')})`,
    MYSQL_VARIABLES,
  ))
    variables[r.Variable_name.toLowerCase()] = r.Value;
  const tables = (
    await rows<{ name: string; pk: number }>(
      c,
      `SELECT CONCAT('\`', t.TABLE_SCHEMA, '\`.\`', t.TABLE_NAME, '\`') AS name,
              EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS k
                       WHERE k.TABLE_SCHEMA = t.TABLE_SCHEMA AND k.TABLE_NAME = t.TABLE_NAME
                         AND k.CONSTRAINT_TYPE = 'PRIMARY KEY') AS pk
         FROM information_schema.TABLES t
        WHERE t.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE' ORDER BY 1`,
      [database],
    )
  ).map((r) => ({ name: r.name, hasPrimaryKey: !!Number(r.pk) }));
  const definers = await rows<MysqlDefinerFacts>(
    c,
    `SELECT 'VIEW' AS kind, TABLE_NAME AS name, DEFINER AS definer FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?
     UNION ALL SELECT 'ROUTINE', ROUTINE_NAME, DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?
     UNION ALL SELECT 'TRIGGER', TRIGGER_NAME, DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
     UNION ALL SELECT 'EVENT', EVENT_NAME, DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?
     ORDER BY 1, 2`,
    [database, database, database, database],
  );
  // information_schema's privilege tables show the grants of the current account only.
  const grantee = user.replace(/^(.*)@([^@]*)$/, "'$1'@'$2'");
  const granted = await rows<{ p: string }>(
    c,
    `SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?
     UNION SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND ? LIKE TABLE_SCHEMA`,
    [grantee, grantee, database],
  );
  const [{ n }] = await rows<{ n: string | number | null }>(
    c,
    `SELECT COALESCE(SUM(TABLE_ROWS), 0) AS n FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'`,
    [database],
  );
  return {
    version,
    variables,
    tables,
    definers,
    user,
    privileges: granted.map((g) => g.p.toUpperCase()),
    estimatedRows: Number(n ?? 0),
  };
}

/** The major version as DMS and Cloud SQL name it: '8.0', '5.7'. */
export function mysqlMajor(version: string): string {
  const m = /^(\d+)\.(\d+)/.exec(version);
  return m ? `${m[1]}.${m[2]}` : version;
}

export function isMariaDb(f: MysqlSourceFacts): boolean {
  return /mariadb/i.test(f.version) || /mariadb/i.test(f.variables.version_comment ?? '');
}

/** Self-managed MySQL sources DMS lists (configure-source-database, as of 2026-11). */
const SUPPORTED_MAJORS = ['5.5', '5.6', '5.7', '8.0', '8.4'];
/** The 8.0 minor versions the same page lists. */
const SUPPORTED_80_MINORS = [18, 26, 27, 28, 30, 31, 32, 33, 34, 35, 36, 37, 39, 40, 41, 42, 43];

/** DMS: "Generally, one week is sufficient" (configure-source-database-continuous). */
export const BINLOG_RETENTION_SECONDS = 7 * 24 * 3600;

/** Accounts that exist on every MySQL server: a definer naming one of them needs nothing. */
const SYSTEM_DEFINERS = ['mysql.sys@localhost', 'mysql.session@localhost', 'mariadb.sys@localhost'];

/** MariaDB 10.5 renamed REPLICATION CLIENT; information_schema shows the new name. */
const ALIASES: Record<string, string> = {
  'BINLOG MONITOR': 'REPLICATION CLIENT',
  'REPLICATION REPLICA': 'REPLICATION SLAVE',
};

function on(v: string | undefined): boolean {
  return v !== undefined && ['ON', '1', 'TRUE'].includes(v.toUpperCase());
}

export function evaluateMysql(f: MysqlSourceFacts, task: DatabaseTask): Finding[] {
  const findings: Finding[] = [];
  const add = (code: string, severity: Finding['severity'], message: string, table?: string) =>
    findings.push({ code, severity, message, ...(table ? { table } : {}) });
  const v = f.variables;
  const major = mysqlMajor(f.version);
  const mariadb = isMariaDb(f);

  if (mariadb)
    add(
      'UNSUPPORTED_VERSION',
      'error',
      `the source is MariaDB (${f.version}): DMS lists MySQL sources only, and MariaDB's binary log and GTIDs ` +
        'differ from MySQL’s; migrate it another way or from a MySQL replica of it',
    );
  else if (!SUPPORTED_MAJORS.includes(major))
    add(
      'UNSUPPORTED_VERSION',
      'error',
      `MySQL ${f.version}: DMS supports self-managed MySQL ${SUPPORTED_MAJORS.join(', ')}`,
    );
  else if (major === '8.0') {
    const minor = Number(/^8\.0\.(\d+)/.exec(f.version)?.[1]);
    if (!SUPPORTED_80_MINORS.includes(minor))
      add(
        'UNSUPPORTED_VERSION',
        'warning',
        `MySQL ${f.version}: DMS lists the 8.0 minor versions ` +
          `${SUPPORTED_80_MINORS.map((m) => `8.0.${m}`).join(', ')}; ` +
          'upgrade the source to one of them',
      );
  }
  const mismatch = versionMismatch(task, major);
  if (mismatch) add(mismatch.code, mismatch.severity, mismatch.message);

  if (!on(v.log_bin))
    add(
      'BINLOG_DISABLED',
      'error',
      'binary logging is off (log_bin): start the source with log-bin (and server-id) so DMS can replicate',
    );
  if ((v.binlog_format ?? '').toUpperCase() !== 'ROW')
    add(
      'BINLOG_FORMAT',
      'error',
      `binlog_format is ${v.binlog_format ?? 'unset'}: set binlog_format = ROW (DMS requires row events)`,
    );
  if (v.binlog_row_image !== undefined && v.binlog_row_image.toUpperCase() !== 'FULL')
    add(
      'BINLOG_ROW_IMAGE',
      'error',
      `binlog_row_image is ${v.binlog_row_image}: set binlog_row_image = FULL so row events carry every column`,
    );
  const serverId = Number(v.server_id ?? 0);
  if (!(serverId >= 1))
    add('SERVER_ID', 'error', `server_id is ${v.server_id ?? 'unset'}: set server-id to 1 or more and restart`);

  // GTID_MODE must be ON or OFF (ON_PERMISSIVE is not supported; OFF_PERMISSIVE only for Aurora
  // without SUPER: https://cloud.google.com/database-migration/docs/mysql/aurora-no-superuser). OFF
  // is fine with the dump DMS takes itself, the only one the gcp platform uses.
  const gtid = v.gtid_mode?.toUpperCase();
  if (gtid === undefined)
    add(
      'GTID_MODE_UNKNOWN',
      mariadb ? 'warning' : 'error',
      mariadb
        ? "the server has no gtid_mode variable (MariaDB's GTIDs are always on and of another format than " +
            "MySQL's): DMS cannot use them"
        : 'the server has no gtid_mode variable (MySQL before 5.6): DMS needs GTID_MODE ON or OFF',
    );
  else if (gtid === 'ON_PERMISSIVE' || gtid === 'OFF_PERMISSIVE')
    add('GTID_MODE', 'error', `gtid_mode is ${gtid}, which DMS does not support: set it to ON (or OFF)`);
  else if (gtid === 'OFF') add('GTID_MODE', 'info', 'gtid_mode is OFF: supported with the dump DMS takes itself');

  const seconds = Number(v.binlog_expire_logs_seconds ?? 0);
  const days = Number(v.expire_logs_days ?? 0);
  // MySQL 8.0: a non-zero binlog_expire_logs_seconds wins over expire_logs_days; 0 and 0 keep logs forever.
  const retention = seconds > 0 ? seconds : days > 0 ? days * 86400 : Infinity;
  if (retention < BINLOG_RETENTION_SECONDS)
    add(
      'BINLOG_RETENTION',
      'warning',
      `binary logs are kept ${Math.round((retention / 86400) * 10) / 10} days: a migration that falls behind ` +
        'longer than that must restart; keep them a week (binlog_expire_logs_seconds = 604800, or ' +
        'expire_logs_days = 7 before 8.0)',
    );

  const have = new Set(f.privileges.flatMap((p) => (p === 'ALL PRIVILEGES' ? REQUIRED_PRIVILEGES : [ALIASES[p] ?? p])));
  const lacking = REQUIRED_PRIVILEGES.filter((p) => !have.has(p));
  if (lacking.length)
    add(
      'MISSING_PRIVILEGES',
      'error',
      `user ${f.user} lacks ${lacking.join(', ')}: GRANT ${lacking.join(', ')} ON *.* TO the migration user`,
    );

  // Row events for a table without a key are applied by scanning the table on the replica, one scan
  // per changed row (https://dev.mysql.com/doc/refman/8.0/en/replication-rbr-usage.html).
  for (const t of f.tables.filter((x) => !x.hasPrimaryKey))
    add(
      'NO_PRIMARY_KEY',
      'warning',
      `${t.name} has no primary key: each row change scans the table on the target, so replication lags behind ` +
        'writes to it; add a primary key',
      t.name,
    );

  // DMS does not migrate users: a definer must exist on the target before the job starts.
  const targetUser = task.database.target.user;
  for (const d of f.definers) {
    const account = d.definer.replace(/`/g, '');
    const name = account.replace(/@[^@]*$/, '');
    if (SYSTEM_DEFINERS.includes(account) || (targetUser && name === targetUser)) continue;
    add(
      'DEFINER',
      'warning',
      `${d.kind.toLowerCase()} ${d.name} has DEFINER ${account}, a user DMS does not create on the target: create ` +
        'that user on the target before the job starts, or change the definer (or use SQL SECURITY INVOKER)',
    );
  }
  return findings;
}
