// The SQL side of the gcp cutover, where the worker reaches the source (source.access 'direct'):
// the fence table DMS carries, the tables the block locks, fence sessions a dead worker left, and
// closing the source outside a fence (the retry past the point of no return).
//
// DMS for PostgreSQL replicates every table of the migrated database outside information_schema
// and pg_* (https://cloud.google.com/database-migration/docs/postgres/migration-fidelity), through
// pglogical, which does not replicate DDL: a table created after the job started is never carried
// (https://cloud.google.com/database-migration/docs/postgres/known-limitations). So dbmig.fence is
// created, with its row, before the job starts; its primary key lets DMS carry UPDATEs (without one
// only INSERTs are, same page). The table is the local platform's own (owned.ts), so the local
// fence helpers (writeFence, closeSource) work on it unchanged.
//
// MySQL (cutover/mysql.ts): the fence is a table dbmig_fence (job primary key, token, at) in the
// migrated database itself, also created before the job starts, so that DMS's initial dump carries
// it and its row is on the target before the cutover, whatever DMS does with later DDL. Its primary
// key makes the token's UPDATE a keyed row event on the replica.
import { withMysql } from '../../../engines/mysql/sessions';
import { ensureMysqlFence, removeMysqlFence } from '../../../engines/mysql/fence';
import type pg from 'pg';
import { sourcePassword } from '../../../secrets';
import { closeSource, readSourceAccess } from '../../../engines/postgres/close-source';
import { withClient, type ConnectionParams } from '../../../engines/postgres/sessions';
import { ensureOwnedObjects, OWNED_SCHEMA, removeOwnedObjects } from '../../../engines/postgres/owned';
import { MigrationError } from '../../../../common/failures';
import { type DatabaseTask } from '../../../steps';
import { gcpNames } from '../names';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Fence.open names its session so (engines/postgres/fence.ts): how a retry finds the sessions a dead worker left. */
const FENCE_APPLICATION = 'dbmig fence';

/** The key of this database's row in dbmig.fence: the DMS job id, one per (migration, database). */
export function fenceJob(task: DatabaseTask): string {
  return gcpNames(task).migrationJob;
}

/** Whether the worker fences this source over SQL: a PostgreSQL or MySQL source it reaches. */
export function fencesOverSql(task: DatabaseTask): boolean {
  // SQL Server's fence is its tail-log backup (cutover/sqlserver.ts), not a table over SQL.
  return task.database.source.access !== 'dms-only' && task.database.engine !== 'sqlserver';
}

/** The source's connection, its password resolved (and its host checked) on this worker. */
export async function sourceParams(task: DatabaseTask): Promise<ConnectionParams> {
  const s = task.database.source;
  return {
    host: s.host,
    port: s.port,
    user: s.user,
    database: s.database,
    password: await sourcePassword(s, { project: task.gcp?.project }),
  };
}

/**
 * Creates dbmig.fence (and dbmig.heartbeat) with this job's rows on the source: get-or-create,
 * so running it twice is running it once. Must run before the DMS job starts (see the header);
 * a no-op where the worker does not fence over SQL.
 */
export async function prepareSourceFence(task: DatabaseTask, source?: ConnectionParams): Promise<void> {
  if (!fencesOverSql(task)) return;
  const params = source ?? (await sourceParams(task));
  if (task.database.engine === 'mysql') return withMysql(params, (c) => ensureMysqlFence(c, fenceJob(task)));
  await withClient(params, (c) => ensureOwnedObjects(c, fenceJob(task)));
}

/**
 * Removes this job's rows and, once no job uses them, the tables and the schema (owned.ts). For
 * the end of a migration (after the cutover or when the job is deleted); never during one.
 */
export async function dropSourceFence(task: DatabaseTask, source?: ConnectionParams): Promise<void> {
  if (!fencesOverSql(task)) return;
  const params = source ?? (await sourceParams(task));
  if (task.database.engine === 'mysql') return withMysql(params, (c) => removeMysqlFence(c, fenceJob(task)));
  await withClient(params, (c) => removeOwnedObjects(c, fenceJob(task)));
}

/**
 * The tables the block locks: every permanent table DMS carries (DMS's own pglogical schema and
 * dbmig's excepted: the fence must stay writable). A partition is locked through its parent
 * (LOCK recurses to descendants). Unlogged and temporary tables are not carried by DMS and so are
 * not blocked either.
 */
export async function carriedTables(h: pg.Client): Promise<string[]> {
  const { rows } = await h.query<{ name: string }>(
    `select format('%I.%I', n.nspname, c.relname) as name
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and c.relpersistence = 'p' and not c.relispartition
        and n.nspname not in ('information_schema', 'pglogical', $1) and n.nspname not like 'pg\\_%'
      order by 1`,
    [OWNED_SCHEMA],
  );
  return rows.map((r) => r.name);
}

/**
 * Ends the fence sessions an earlier attempt left behind (a hung or partitioned worker): their
 * locks and uncommitted close roll back, so a retry never adds a block to one still held.
 */
export async function endStaleFences(h: pg.Client): Promise<number> {
  const { rows } = await h.query<{ pid: number }>(
    `select pid, pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and application_name = $1 and pid <> pg_backend_pid()`,
    [FENCE_APPLICATION],
  );
  const pids = rows.map((r) => r.pid);
  for (let until = Date.now() + 10_000; pids.length && Date.now() < until; await sleep(10)) {
    const left = await h.query('select 1 from pg_stat_activity where pid = any($1::int[])', [pids]);
    if (!left.rowCount) break;
  }
  return pids.length;
}

/** True when the source is closed as closeSource leaves it: nobody else may connect, read-only by default. */
export async function sourceClosed(h: pg.Client): Promise<boolean> {
  const access = await readSourceAccess(h);
  return !access.connectGrants.length && access.readOnly === 'on';
}

/**
 * Closes the source in a transaction of its own (closeSource, as the cutover does inside its
 * fence): for the retry past the point of no return. Closing a closed source changes nothing.
 */
export async function closeSourceNow(h: pg.Client, database: string): Promise<void> {
  await h.query('begin');
  try {
    await closeSource(h, database, await readSourceAccess(h));
    await h.query('commit');
  } catch (err) {
    await h.query('rollback').catch(() => undefined);
    throw err;
  }
}

/** The token the target shows for this job, or undefined; throws when the target has no fence table. */
export async function targetToken(t: pg.Client, job: string): Promise<string | null | undefined> {
  const { rows } = await t.query<{ token: string | null }>('select token from dbmig.fence where job = $1', [job]);
  return rows[0]?.token;
}

/** Refuses (before anything is blocked) a target DMS never gave the fence table to. */
export async function requireTargetFence(t: pg.Client, job: string): Promise<void> {
  const { rows } = await t.query<{ ok: boolean }>(`select to_regclass('dbmig.fence') is not null as ok`);
  const carried = rows[0].ok && (await t.query('select 1 from dbmig.fence where job = $1', [job])).rowCount;
  if (!carried)
    throw new MigrationError(
      'JobVerificationFailed',
      `not cutting over: the target has no dbmig.fence row for ${job}, so DMS does not carry the fence ` +
        '(the table must exist on the source before the job starts: DMS does not replicate DDL); nothing was ' +
        'blocked. Re-create the migration job, or set source.access: dms-only and stop the writes by hand',
    );
}
