// Which database version a target gets, and its name in each API's enum. Pure: the dry run and the
// requests both take the version from here.
//
// The version follows the plan: databases[].target.version, else databases[].source.version, else
// the version the worker read from the source over SQL (the caller passes it), else the plan is
// refused: a target silently created at a default version would have DMS fail (or worse, migrate
// into an older major) long after the operator could have fixed one line.
import { MigrationError } from '../../../../common/failures';
import type { DatabaseTask } from '../../../steps';

export type Engine = 'postgresql' | 'mysql' | 'sqlserver';

/**
 * Cloud SQL's google.cloud.sql.v1.SqlDatabaseVersion (google/cloud/sql/v1/cloud_sql_resources.proto)
 * for the major versions Cloud SQL offers for new instances
 * (https://cloud.google.com/sql/docs/postgres/db-versions, https://cloud.google.com/sql/docs/mysql/db-versions).
 * The proto also names versions that are not offered (POSTGRES_19, POSTGRES_20, MYSQL_9_7): they
 * are left out so such a plan is refused here, not by the API an hour into a fleet.
 */
export const CLOUD_SQL_VERSIONS: Record<Engine, Record<string, string>> = {
  postgresql: {
    '9.6': 'POSTGRES_9_6',
    '10': 'POSTGRES_10',
    '11': 'POSTGRES_11',
    '12': 'POSTGRES_12',
    '13': 'POSTGRES_13',
    '14': 'POSTGRES_14',
    '15': 'POSTGRES_15',
    '16': 'POSTGRES_16',
    '17': 'POSTGRES_17',
    '18': 'POSTGRES_18',
  },
  mysql: { '5.6': 'MYSQL_5_6', '5.7': 'MYSQL_5_7', '8.0': 'MYSQL_8_0', '8.4': 'MYSQL_8_4' },
  // SQL Server by release year; the edition completes the enum name (sqlServerVersion below).
  sqlserver: { '2017': 'SQLSERVER_2017', '2019': 'SQLSERVER_2019', '2022': 'SQLSERVER_2022' },
};

/**
 * SQL Server's enum names carry the edition: SQLSERVER_2022_STANDARD ... _ENTERPRISE, _EXPRESS, _WEB
 * (SqlDatabaseVersion in @google-cloud/sql 0.32's cloud_sql_resources.proto; the versions and
 * editions Cloud SQL offers: https://cloud.google.com/sql/docs/sqlserver/db-versions). The proto's
 * SQLSERVER_2025_* are left out: not among the versions that page lists as generally available.
 */
export function sqlServerVersion(year: string, edition = 'standard'): string {
  return `${year}_${edition.toUpperCase()}`;
}

/**
 * SQL Server's product versions by major (SERVERPROPERTY('ProductVersion') 16.0.x is SQL Server 2022:
 * https://learn.microsoft.com/en-us/troubleshoot/sql/releases/download-and-install-latest-updates).
 */
const SQLSERVER_RELEASES: Record<string, string> = { '14': '2017', '15': '2019', '16': '2022', '17': '2025' };

/**
 * AlloyDB's google.cloud.alloydb.v1.DatabaseVersion (google/cloud/alloydb/v1/resources.proto, as
 * shipped in @google-cloud/alloydb 3): POSTGRES_13 is deprecated there, so it is not offered.
 */
export const ALLOYDB_VERSIONS: Record<string, string> = {
  '14': 'POSTGRES_14',
  '15': 'POSTGRES_15',
  '16': 'POSTGRES_16',
  '17': 'POSTGRES_17',
  '18': 'POSTGRES_18',
};

export interface ResolvedVersion {
  /** The major version, as the tables above key it: 15, 9.6, 8.0. */
  major: string;
  /** The API enum name, e.g. POSTGRES_15, MYSQL_8_0. */
  enumName: string;
  /** Where the version came from, as the plan or the source names it. */
  from: string;
}

/** The major version in a version string: `15.4` → 15, `9.6.24` → 9.6, `8.0.35-log` → 8.0. */
export function majorVersion(engine: Engine, version: string): string | undefined {
  if (engine === 'sqlserver') {
    const year = /\b(20\d\d)\b/.exec(version)?.[1];
    return year ?? SQLSERVER_RELEASES[/^(\d+)\./.exec(version)?.[1] ?? ''];
  }
  const m = /(\d+)(?:\.(\d+))?/.exec(version);
  if (!m) return undefined;
  const [, major, minor] = m;
  // PostgreSQL numbers majors with one number from 10 on (https://www.postgresql.org/support/versioning/).
  if (engine === 'postgresql') return Number(major) >= 10 ? major : minor !== undefined ? `${major}.${minor}` : major;
  return minor !== undefined ? `${major}.${minor}` : undefined;
}

const EXAMPLE: Record<Engine, string> = { postgresql: '15', mysql: '8.0', sqlserver: '2022' };
const SERVICE_ENGINE: Record<Engine, string> = { postgresql: 'PostgreSQL', mysql: 'MySQL', sqlserver: 'SQL Server' };

/** The field a plan error names, e.g. databases[orders].target.version. */
const field = (task: DatabaseTask, f: string) => `databases[${task.database.name}].${f}`;

/** Where the version comes from, or undefined when neither the plan nor the source says. */
function versionSource(task: DatabaseTask, sourceVersion?: string): { version: string; from: string } | undefined {
  const { target, source } = task.database;
  if (target.version) return { version: target.version, from: field(task, 'target.version') };
  if (source.version) return { version: source.version, from: field(task, 'source.version') };
  if (sourceVersion) return { version: sourceVersion, from: "the source server's version" };
  return undefined;
}

/**
 * The target's version for `kind`, or a permanent InvalidPlan error that names the field to set
 * and, for a version the service does not offer, what it does offer.
 */
export function resolveVersion(task: DatabaseTask, sourceVersion?: string): ResolvedVersion {
  const engine = task.database.engine;
  const kind = task.database.target.kind;
  const found = versionSource(task, sourceVersion);
  if (!found)
    throw new MigrationError(
      'InvalidPlan',
      `${field(task, 'target.version')}: no version is known for the ${kind} target (the plan names none and the ` +
        "source's version could not be read); set target.version or source.version, e.g. " +
        `"${EXAMPLE[engine]}"`,
    );
  const table = kind === 'alloydb' ? ALLOYDB_VERSIONS : CLOUD_SQL_VERSIONS[engine];
  const offered = Object.keys(table).join(', ');
  const service = kind === 'alloydb' ? 'AlloyDB' : `Cloud SQL for ${SERVICE_ENGINE[engine]}`;
  const major = majorVersion(engine, found.version);
  const base = major === undefined ? undefined : table[major];
  const enumName =
    base && engine === 'sqlserver' ? sqlServerVersion(base, task.database.target.edition ?? 'standard') : base;
  if (!enumName)
    throw new MigrationError(
      'InvalidPlan',
      `${found.from}: ${service} does not offer version ${found.version}` +
        `${found.from.startsWith('databases[') ? '' : ` for ${field(task, 'target')}`}; it offers ${offered} ` +
        `(set ${field(task, 'target.version')} to one of them)`,
    );
  return { major: major!, enumName, from: found.from };
}

/** resolveVersion for the dry run: undefined instead of an error when nothing names a version yet. */
export function plannedVersion(task: DatabaseTask, sourceVersion?: string): ResolvedVersion | undefined {
  return versionSource(task, sourceVersion) ? resolveVersion(task, sourceVersion) : undefined;
}

/**
 * The Cloud SQL edition for a machine tier (google.cloud.sql.v1.Settings.Edition). Set explicitly,
 * never left to the default: Google made Enterprise Plus the default edition for new PostgreSQL 16+
 * and MySQL 8.4 instances (https://cloud.google.com/sql/docs/editions-intro), and Enterprise Plus
 * takes only the db-perf-optimized-N-* tiers of its N2/C4A machine series, so a db-custom-* tier left
 * with the default edition is refused ("Invalid Tier ... for (ENTERPRISE_PLUS) Edition"). Machine
 * series per edition: https://cloud.google.com/sql/docs/postgres/machine-series-overview.
 */
export function editionForTier(tier: string): 'ENTERPRISE' | 'ENTERPRISE_PLUS' {
  return /^db-perf-optimized-/.test(tier) ? 'ENTERPRISE_PLUS' : 'ENTERPRISE';
}

/** What the lead passes to ensure/describe a target beyond the task. */
export interface TargetOptions {
  /** The source server's version as read over SQL (e.g. 15.4, 8.0.35), when the plan names none. */
  sourceVersion?: string;
}
