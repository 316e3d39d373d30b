// A PostgreSQL source's DMS prerequisites, read over SQL and judged by what Google documents:
//   https://cloud.google.com/database-migration/docs/postgres/configure-source-database (Cloud SQL target)
//   https://cloud.google.com/database-migration/docs/postgresql-to-alloydb/configure-source-database (AlloyDB)
//   https://cloud.google.com/database-migration/docs/postgres/known-limitations
//   https://cloud.google.com/database-migration/docs/postgresql-to-alloydb/known-limitations
// DMS replicates with pglogical, one replication set (slot, WAL sender, worker) per database of the
// source instance: it migrates every database but template0 and template1.
// The facts are read first (readPostgresFacts) and judged by a pure function (evaluatePostgres), so
// the rules can be tested without a server and the server is asked only simple questions.
import type pg from 'pg';
import type { DatabaseTask, Finding } from '../../../steps';
import { extensionFindings } from './extensions';
import { versionMismatch } from '../../../engines/source-version';

export interface PgTableFacts {
  /** Schema-qualified, quoted. */
  name: string;
  hasPrimaryKey: boolean;
}

export interface PgSourceFacts {
  serverVersion: string;
  /** server_version_num, e.g. 150004. */
  versionNum: number;
  walLevel: string;
  /** Undefined when the user may not read it (superuser or pg_read_all_settings only, from 10 on). */
  sharedPreloadLibraries?: string[];
  /** pglogical's supervisor runs: it is preloaded, whatever the user may read. */
  pglogicalRunning: boolean;
  maxReplicationSlots: number;
  maxWalSenders: number;
  maxWorkerProcesses: number;
  slotsUsed: number;
  sendersUsed: number;
  /** Background workers running now (they share max_worker_processes with pglogical's). */
  workersUsed: number;
  /** The databases DMS migrates: every one but the templates. */
  databases: string[];
  /** Of those, the ones whose pglogical extension is missing (or that could not be checked: `why`). */
  databasesWithoutPglogical: { database: string; why?: string }[];
  /** Extensions installed in the plan's database. */
  extensions: string[];
  tables: PgTableFacts[];
  unloggedTables: string[];
  populatedMatviews: number;
  largeObjects: number;
  user: string;
  superuser: boolean;
  /** REPLICATION attribute, or membership of a role a managed source uses for it (rds_replication). */
  replication: boolean;
  /** Schemas and tables of the plan's database the user cannot read (DMS's GRANT list). */
  schemasWithoutUsage: string[];
  tablesWithoutSelect: string[];
  sequencesWithoutSelect: string[];
  /** Whether PUBLIC has USAGE on schema pglogical (undefined: no such schema). */
  pglogicalUsageForPublic?: boolean;
  estimatedRows: number;
}

const USER_SCHEMAS = `n.nspname not in ('information_schema', 'pglogical') and n.nspname not like 'pg\\_%'`;

/** Background processes that are not background workers (backend_type, PostgreSQL 10 to 17). */
const NOT_BGWORKERS = [
  'client backend',
  'autovacuum launcher',
  'autovacuum worker',
  'background writer',
  'checkpointer',
  'walwriter',
  'walsender',
  'walreceiver',
  'startup',
  'archiver',
  'standalone backend',
  'wal summarizer',
  'slotsync worker',
  'io worker',
];

async function one<T>(c: pg.Client, sql: string, params: unknown[] = []): Promise<T> {
  return (await c.query(sql, params)).rows[0] as T;
}

/**
 * Reads the facts from a session on the plan's database; `openDatabase` opens a session on another
 * database of the same instance (pglogical is needed in each of them).
 */
export async function readPostgresFacts(
  c: pg.Client,
  openDatabase: (database: string) => Promise<pg.Client>,
): Promise<PgSourceFacts> {
  const s = await one<Record<string, string> & { preload: string | null }>(
    c,
    `select current_setting('server_version') as version, current_setting('server_version_num') as num,
            current_setting('wal_level') as wal_level,
            (select setting from pg_settings where name = 'shared_preload_libraries') as preload,
            current_setting('max_replication_slots') as slots, current_setting('max_wal_senders') as senders,
            current_setting('max_worker_processes') as workers, current_database() as db`,
  );
  const versionNum = Number(s.num);
  const used = await one<{ slots: string; senders: string }>(
    c,
    `select (select count(*) from pg_replication_slots) as slots,
            (select count(*) from pg_stat_replication) as senders`,
  );
  // backend_type exists from 10 on; before, background workers cannot be told apart: counted as none.
  const workersUsed =
    versionNum >= 100000
      ? Number(
          (
            await one<{ n: string }>(
              c,
              `select count(*) as n from pg_stat_activity where backend_type <> all($1::text[])`,
              [NOT_BGWORKERS],
            )
          ).n,
        )
      : 0;
  const pglogicalRunning =
    versionNum >= 100000 &&
    Number(
      (await one<{ n: string }>(c, `select count(*) as n from pg_stat_activity where backend_type like 'pglogical%'`))
        .n,
    ) > 0;
  const databases = (
    await c.query<{ datname: string }>(
      `select datname from pg_database where datname not in ('template0', 'template1') and datallowconn order by 1`,
    )
  ).rows.map((r) => r.datname);
  const extensions = (await c.query<{ extname: string }>(`select extname from pg_extension order by 1`)).rows.map(
    (r) => r.extname,
  );
  const databasesWithoutPglogical: PgSourceFacts['databasesWithoutPglogical'] = [];
  for (const db of databases) {
    if (db === s.db) {
      if (!extensions.includes('pglogical')) databasesWithoutPglogical.push({ database: db });
      continue;
    }
    let other: pg.Client | undefined;
    try {
      other = await openDatabase(db);
      const { rows } = await other.query(`select 1 from pg_extension where extname = 'pglogical'`);
      if (!rows.length) databasesWithoutPglogical.push({ database: db });
    } catch (err) {
      databasesWithoutPglogical.push({ database: db, why: (err as Error).message });
    } finally {
      await other?.end().catch(() => undefined);
    }
  }
  // DMS's own words are "tables that don't have primary keys": a replica identity index is not enough.
  const tables = (
    await c.query<{ name: string; pk: boolean }>(`
      select format('%I.%I', n.nspname, c.relname) as name,
             exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary) as pk
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'p') and not c.relispartition and c.relpersistence = 'p' and ${USER_SCHEMAS}
       order by 1`)
  ).rows.map((r) => ({ name: r.name, hasPrimaryKey: r.pk }));
  const unloggedTables = (
    await c.query<{ name: string }>(`
      select format('%I.%I', n.nspname, c.relname) as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.relkind = 'r' and c.relpersistence = 'u' and ${USER_SCHEMAS} order by 1`)
  ).rows.map((r) => r.name);
  const role = await one<{ user: string; superuser: boolean; replication: boolean }>(
    c,
    `select r.rolname as user, r.rolsuper as superuser,
            r.rolreplication or exists (select 1 from pg_roles g where g.rolname = 'rds_replication'
                                          and pg_has_role(r.oid, g.oid, 'member')) as replication
       from pg_roles r where r.rolname = current_user`,
  );
  const schemasWithoutUsage = (
    await c.query<{ nspname: string }>(
      `select n.nspname from pg_namespace n
        where ${USER_SCHEMAS} and not has_schema_privilege(n.oid, 'USAGE') order by 1`,
    )
  ).rows.map((r) => r.nspname);
  // has_table_privilege answers for sequences too; has_sequence_privilege would fail on whatever
  // relation the planner hands it before the relkind filter.
  const unreadable = async (kinds: string) =>
    (
      await c.query<{ name: string }>(`
        select format('%I.%I', n.nspname, c.relname) as name
          from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where c.relkind in (${kinds}) and ${USER_SCHEMAS} and not has_table_privilege(c.oid, 'SELECT') order by 1`)
    ).rows.map((r) => r.name);
  const pglogicalSchema = await c.query<{ usage: boolean }>(
    `select has_schema_privilege('public', oid, 'USAGE') as usage from pg_namespace where nspname = 'pglogical'`,
  );
  const counts = await one<{ lobs: string; matviews: string; rows: string }>(
    c,
    `select (select count(*) from pg_largeobject_metadata) as lobs,
            (select count(*) from pg_matviews where ispopulated) as matviews,
            (select coalesce(sum(n_live_tup), 0) from pg_stat_user_tables) as rows`,
  );
  return {
    serverVersion: s.version,
    versionNum,
    walLevel: s.wal_level,
    sharedPreloadLibraries:
      s.preload === null
        ? undefined
        : s.preload
            .split(',')
            .map((x) => x.trim().replace(/^"|"$/g, ''))
            .filter(Boolean),
    pglogicalRunning,
    maxReplicationSlots: Number(s.slots),
    maxWalSenders: Number(s.senders),
    maxWorkerProcesses: Number(s.workers),
    slotsUsed: Number(used.slots),
    sendersUsed: Number(used.senders),
    workersUsed,
    databases,
    databasesWithoutPglogical,
    extensions,
    tables,
    unloggedTables,
    populatedMatviews: Number(counts.matviews),
    largeObjects: Number(counts.lobs),
    user: role.user,
    superuser: role.superuser,
    replication: role.replication,
    schemasWithoutUsage,
    tablesWithoutSelect: await unreadable(`'r', 'p', 'v', 'm', 'f'`),
    sequencesWithoutSelect: await unreadable(`'S'`),
    pglogicalUsageForPublic: pglogicalSchema.rows[0]?.usage,
    estimatedRows: Number(counts.rows),
  };
}

/** The PostgreSQL major version as DMS and the target APIs name it: '9.6', '15'. */
export function postgresMajor(versionNum: number): string {
  return versionNum >= 100000
    ? String(Math.floor(versionNum / 10000))
    : `${Math.floor(versionNum / 10000)}.${Math.floor(versionNum / 100) % 100}`;
}

/**
 * Self-managed sources DMS lists: 9.4 to 18 for Cloud SQL targets, 9.4 to 17 for AlloyDB (the
 * configure-source-database pages above, as of 2026-11).
 */
const NEWEST_SUPPORTED = { cloudsql: 18, alloydb: 17 } as const;

function list(names: string[], max = 10): string {
  return names.length > max ? `${names.slice(0, max).join(', ')} and ${names.length - max} more` : names.join(', ');
}

export function evaluatePostgres(f: PgSourceFacts, task: DatabaseTask): Finding[] {
  const findings: Finding[] = [];
  const add = (code: string, severity: Finding['severity'], message: string, table?: string) =>
    findings.push({ code, severity, message, ...(table ? { table } : {}) });
  // A gcp plan's targets are cloudsql or alloydb (kind postgres is the local platform's).
  const target = task.database.target.kind === 'alloydb' ? 'alloydb' : 'cloudsql';
  const major = postgresMajor(f.versionNum);

  if (f.versionNum < 90400)
    add('UNSUPPORTED_VERSION', 'error', `PostgreSQL ${f.serverVersion}: DMS needs 9.4 or later (pglogical)`);
  else if (f.versionNum >= (NEWEST_SUPPORTED[target] + 1) * 10000)
    add(
      'UNSUPPORTED_VERSION',
      'warning',
      `PostgreSQL ${f.serverVersion} is newer than the versions DMS lists for ${target} targets ` +
        `(9.4 to ${NEWEST_SUPPORTED[target]}); check the DMS source page before migrating`,
    );
  const mismatch = versionMismatch(task, major);
  if (mismatch) add(mismatch.code, mismatch.severity, mismatch.message);

  if (!f.sharedPreloadLibraries && !f.pglogicalRunning)
    add(
      'PGLOGICAL_PRELOAD_UNKNOWN',
      'warning',
      `user ${f.user} may not read shared_preload_libraries and no pglogical worker runs: check that it lists ` +
        `pglogical (or GRANT pg_read_all_settings TO ${f.user} so dbmig can)`,
    );
  else if (f.sharedPreloadLibraries && !f.sharedPreloadLibraries.includes('pglogical'))
    add(
      'PGLOGICAL_NOT_PRELOADED',
      'error',
      `shared_preload_libraries is "${f.sharedPreloadLibraries.join(',')}": install the pglogical package, add ` +
        'pglogical to shared_preload_libraries and restart the source',
    );
  const missing = f.databasesWithoutPglogical.filter((d) => !d.why).map((d) => d.database);
  if (missing.length)
    add(
      'PGLOGICAL_MISSING',
      'error',
      `pglogical is not installed in ${list(missing)}: DMS migrates every database of the instance, so run ` +
        `CREATE EXTENSION IF NOT EXISTS pglogical in each` +
        (f.versionNum < 90500 ? ' (and pglogical_origin, on 9.4)' : ''),
    );
  for (const d of f.databasesWithoutPglogical.filter((x) => x.why))
    add(
      'PGLOGICAL_UNCHECKED',
      'warning',
      `could not check pglogical in database ${d.database} (${d.why}): DMS migrates it too, and needs pglogical ` +
        "there and the user's access to it",
    );
  if (f.pglogicalUsageForPublic === false)
    add(
      'PGLOGICAL_GRANTS',
      'error',
      'PUBLIC lacks USAGE on schema pglogical: GRANT USAGE ON SCHEMA pglogical TO PUBLIC',
    );
  if (!f.databases.includes('postgres'))
    add('NO_POSTGRES_DATABASE', 'error', 'the source instance has no postgres database, which DMS needs: create it');

  if (f.walLevel !== 'logical')
    add('WAL_LEVEL', 'error', `wal_level is ${f.walLevel}; set wal_level = logical and restart the source`);

  // One replication slot, WAL sender and worker per migrated database (pglogical's provider needs,
  // https://github.com/2ndQuadrant/pglogical#quick-setup), on top of what the instance already uses.
  const need = f.databases.length;
  const freeSlots = f.maxReplicationSlots - f.slotsUsed;
  if (freeSlots < need)
    add(
      'NO_FREE_SLOT',
      'error',
      `max_replication_slots is ${f.maxReplicationSlots} with ${f.slotsUsed} in use: DMS needs one per database of ` +
        `the instance (${need}); set it to at least ${f.slotsUsed + need} and restart the source`,
    );
  const freeSenders = f.maxWalSenders - f.sendersUsed;
  if (freeSenders < need || f.maxWalSenders < f.maxReplicationSlots)
    add(
      'NO_FREE_WAL_SENDER',
      'error',
      `max_wal_senders is ${f.maxWalSenders} with ${f.sendersUsed} in use: set it to at least max_replication_slots ` +
        `plus the senders already used (${Math.max(f.maxReplicationSlots, f.slotsUsed + need) + f.sendersUsed}) ` +
        'and restart the source',
    );
  if (f.maxWorkerProcesses - f.workersUsed < need + 1)
    add(
      'MAX_WORKER_PROCESSES',
      'error',
      `max_worker_processes is ${f.maxWorkerProcesses} with ${f.workersUsed} background workers running: pglogical ` +
        `needs one per database (${need}) plus its supervisor; set it to at least ${f.workersUsed + need + 1} and ` +
        'restart the source',
    );

  if (!f.superuser && !f.replication)
    add(
      'MISSING_PRIVILEGES',
      'error',
      `user ${f.user} has no REPLICATION attribute: ALTER USER ${f.user} WITH REPLICATION ` +
        '(on Amazon RDS: GRANT rds_replication TO the user)',
    );
  if (f.schemasWithoutUsage.length)
    add(
      'MISSING_PRIVILEGES',
      'error',
      `user ${f.user} lacks USAGE on schema ${list(f.schemasWithoutUsage)}: ` +
        `GRANT USAGE ON SCHEMA <schema> TO ${f.user}`,
    );
  if (f.tablesWithoutSelect.length)
    add(
      'MISSING_PRIVILEGES',
      'error',
      `user ${f.user} cannot read ${list(f.tablesWithoutSelect)}: GRANT SELECT ON ALL TABLES IN SCHEMA <schema> TO ` +
        f.user,
    );
  if (f.sequencesWithoutSelect.length)
    add(
      'MISSING_PRIVILEGES',
      'error',
      `user ${f.user} cannot read sequences ${list(f.sequencesWithoutSelect)}: GRANT SELECT ON ALL SEQUENCES IN ` +
        `SCHEMA <schema> TO ${f.user}`,
    );

  // The plan's noPrimaryKey says whether such tables stop the migration; REPLICA IDENTITY FULL does
  // not help here, because DMS migrates only their snapshot and INSERTs whatever their identity.
  for (const t of f.tables.filter((x) => !x.hasPrimaryKey))
    add(
      'NO_PRIMARY_KEY',
      task.settings.noPrimaryKey === 'fail' ? 'error' : 'warning',
      `${t.name} has no primary key: DMS migrates its initial snapshot and INSERTs only, so UPDATE and DELETE on ` +
        'it would be lost; add a primary key' +
        (task.settings.noPrimaryKey === 'fail'
          ? ' (or set the plan option noPrimaryKey to accept that and carry them by hand)'
          : ', or carry its UPDATEs and DELETEs by hand (a replica identity does not change this under DMS)'),
      t.name,
    );
  for (const t of f.unloggedTables)
    add(
      'UNLOGGED_TABLE',
      'warning',
      `${t} is unlogged: DMS does not replicate UNLOGGED tables (the table arrives empty)`,
      t,
    );
  if (f.largeObjects > 0)
    add(
      'LARGE_OBJECTS',
      'error',
      `${f.largeObjects} large objects: DMS does not migrate large objects (pg_largeobject); move them to bytea ` +
        'columns or carry them by hand',
    );
  if (f.populatedMatviews > 0)
    add(
      'MATERIALIZED_VIEWS',
      'info',
      `${f.populatedMatviews} populated materialized views: DMS migrates their definition only; REFRESH ` +
        'MATERIALIZED VIEW on the target after the cutover',
    );
  findings.push(...extensionFindings(f.extensions, target));
  if (f.databases.length > 1)
    add(
      'INSTANCE_DATABASES',
      'info',
      `the source instance has ${f.databases.length} databases (${list(f.databases)}); the DMS job names ` +
        `${task.database.source.database} alone (objectsConfig), so the others stay on the source`,
    );
  return findings;
}
