// The MySQL fence: a row per job in dbmig_fence, in the migrated database so whatever replicates the
// database carries it with the rest. The cutover writes a token on the source and waits until the
// target shows it; the user-level lock a fence session holds names the session a dead worker left.
import { createHash } from 'node:crypto';
import type mysql from 'mysql2/promise';
import { MigrationError } from '../../../common/failures';
import { killMysqlSession } from './sessions';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The fence table of a MySQL source: in the migrated database, so DMS carries it with the rest. */
export const MYSQL_FENCE_TABLE = 'dbmig_fence';

/** Creates dbmig_fence and this job's row: get-or-create. */
export async function ensureMysqlFence(c: mysql.Connection, job: string): Promise<void> {
  await c.query(
    `CREATE TABLE IF NOT EXISTS ${MYSQL_FENCE_TABLE} (
       job VARCHAR(190) NOT NULL PRIMARY KEY, token VARCHAR(64) NULL, at DATETIME(6) NULL) ENGINE=InnoDB`,
  );
  await c.query(`INSERT IGNORE INTO ${MYSQL_FENCE_TABLE} (job) VALUES (?)`, [job]);
}

/** Removes this job's row and, once no job uses it, the table. */
export async function removeMysqlFence(c: mysql.Connection, job: string): Promise<void> {
  const [t] = await c.query<mysql.RowDataPacket[]>(
    `SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`,
    [MYSQL_FENCE_TABLE],
  );
  if (!t.length) return;
  // The close's record (engines/mysql/close.ts) reached the target too, written before the promote.
  await c.query(`DELETE FROM ${MYSQL_FENCE_TABLE} WHERE job IN (?, ?)`, [job, `${job}#close`]);
  const [left] = await c.query<mysql.RowDataPacket[]>(`SELECT 1 FROM ${MYSQL_FENCE_TABLE} LIMIT 1`);
  if (!left.length) await c.query(`DROP TABLE IF EXISTS ${MYSQL_FENCE_TABLE}`);
}

/**
 * The user-level lock (GET_LOCK) a MySQL fence session holds while it blocks: IS_USED_LOCK names
 * its connection, which is how a retry finds the session a hung worker left. At most 64 characters.
 */
export function mysqlFenceLockName(job: string): string {
  const name = `dbmig_fence:${job}`;
  return name.length <= 64 ? name : `dbmig_fence:${createHash('sha256').update(job).digest('hex').slice(0, 40)}`;
}

/** Ends the fence session an earlier attempt left (its locks go with it); returns how many were ended. */
export async function endStaleMysqlFences(c: mysql.Connection, job: string): Promise<number> {
  const name = mysqlFenceLockName(job);
  const holder = async () => {
    const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT IS_USED_LOCK(?) AS id', [name]);
    return rows[0].id === null ? undefined : Number(rows[0].id);
  };
  const id = await holder();
  if (id === undefined) return 0;
  await killMysqlSession(c, id);
  for (const until = Date.now() + 10_000; Date.now() < until && (await holder()) === id;) await sleep(10);
  return 1;
}

/** The token the target shows for this job, or undefined (no row); throws when there is no fence table. */
export async function mysqlTargetToken(t: mysql.Connection, job: string): Promise<string | null | undefined> {
  const [rows] = await t.query<mysql.RowDataPacket[]>(`SELECT token FROM ${MYSQL_FENCE_TABLE} WHERE job = ?`, [job]);
  return rows[0]?.token as string | null | undefined;
}

/** Refuses (before anything is blocked) a MySQL target DMS never gave the fence table to. */
export async function requireMysqlTargetFence(t: mysql.Connection, job: string): Promise<void> {
  const [rows] = await t.query<mysql.RowDataPacket[]>(
    `SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`,
    [MYSQL_FENCE_TABLE],
  );
  if (!rows.length || (await mysqlTargetToken(t, job)) === undefined)
    throw new MigrationError(
      'JobVerificationFailed',
      `not cutting over: the target has no ${MYSQL_FENCE_TABLE} row for ${job}, so DMS does not carry the fence ` +
        '(the table must exist on the source before the job starts); nothing was blocked. Re-create the ' +
        'migration job, or set source.access: dms-only and stop the writes by hand',
    );
}
