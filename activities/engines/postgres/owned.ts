// dbmig's own objects in the migrated database: a schema `dbmig` with one row per job in
//   dbmig.heartbeat(job, at)        written on the source by every status read: lag in seconds is
//                                   the age of the newest heartbeat the target has applied;
//   dbmig.fence(job, token, at)     written on the source by the cutover: the drain waits until
//                                   the target has applied exactly that token.
// Both tables are in the job's publication, so they travel through the same apply worker, in
// commit order, as the application's rows. Several jobs may share one source database, so the
// schema is get-or-create and dropped only when no job uses it any more.
import type pg from 'pg';

export const OWNED_SCHEMA = 'dbmig';
/** As the publication lists them (format('%I.%I'), sorted). */
export const OWNED_TABLES = ['dbmig.fence', 'dbmig.heartbeat'];

/** Serialises create/drop of the schema between jobs that share the database. */
const SCHEMA_LOCK = `select pg_advisory_xact_lock(hashtext('dbmig owned schema'))`;

async function inTransaction<T>(c: pg.Client, fn: () => Promise<T>): Promise<T> {
  await c.query('begin');
  try {
    const out = await fn();
    await c.query('commit');
    return out;
  } catch (err) {
    await c.query('rollback').catch(() => undefined);
    throw err;
  }
}

/**
 * Creates the schema and tables (get-or-create). On the source, `job` is given and its rows are
 * created too, before the subscription's initial copy, so the copy carries them; on the target
 * the rows must come from that copy (an inserted row would collide with it).
 */
export async function ensureOwnedObjects(c: pg.Client, job?: string): Promise<void> {
  await inTransaction(c, async () => {
    await c.query(SCHEMA_LOCK);
    await c.query(`create schema if not exists ${OWNED_SCHEMA}`);
    await c.query(`create table if not exists dbmig.heartbeat (job text primary key, at timestamptz not null)`);
    await c.query(`create table if not exists dbmig.fence (job text primary key, token text, at timestamptz)`);
    if (job === undefined) return;
    await c.query(`insert into dbmig.heartbeat (job, at) values ($1, clock_timestamp()) on conflict do nothing`, [job]);
    await c.query(`insert into dbmig.fence (job) values ($1) on conflict do nothing`, [job]);
  });
}

export async function hasOwnedTables(c: pg.Client): Promise<boolean> {
  const { rows } = await c.query<{ ok: boolean }>(
    `select to_regclass('dbmig.heartbeat') is not null and to_regclass('dbmig.fence') is not null as ok`,
  );
  return rows[0].ok;
}

/**
 * Removes this job's rows; drops the tables and the schema once no job's row and no publication
 * uses them. The schema itself is dropped without CASCADE: anything else someone put in it stays.
 */
export async function removeOwnedObjects(c: pg.Client, job: string): Promise<void> {
  const { rows } = await c.query<{ s: string | null }>(`select to_regnamespace($1)::text as s`, [OWNED_SCHEMA]);
  if (!rows[0].s) return;
  await inTransaction(c, async () => {
    await c.query(SCHEMA_LOCK);
    const published = await c.query('select 1 from pg_publication_tables where schemaname = $1 limit 1', [
      OWNED_SCHEMA,
    ]);
    let used = !!published.rowCount;
    if (await hasOwnedTables(c)) {
      await c.query('delete from dbmig.heartbeat where job = $1', [job]);
      await c.query('delete from dbmig.fence where job = $1', [job]);
      const left = await c.query<{ any: boolean }>(
        'select exists (select 1 from dbmig.heartbeat) or exists (select 1 from dbmig.fence) as any',
      );
      used ||= left.rows[0].any;
      if (!used) await c.query('drop table dbmig.heartbeat, dbmig.fence');
    }
    if (used) return;
    await c.query('savepoint drop_schema');
    await c.query(`drop schema ${OWNED_SCHEMA}`).then(
      () => c.query('release savepoint drop_schema'),
      () => c.query('rollback to savepoint drop_schema'),
    );
  });
}
