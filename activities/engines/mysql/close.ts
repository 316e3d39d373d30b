// The MySQL source's close for the promote, and its record: the MySQL counterpart of
// source-close-record.ts. The source is made read-only under the fence's lock BEFORE the promote
// is asked for, so a promote that outlasts the block's deadline (the server drops the fence
// session) still finds no write on a source DMS no longer reads; it is reopened only once DMS's
// answer is known to be a refusal (promote-outcome.ts).
//
// The record is a row of dbmig_fence, `<job>#close`: `at` is when the close began, `token` what
// read_only and super_read_only were before it (what a reopen gives back). It is written before
// read_only is set: read_only refuses writes from sessions without SUPER, super_read_only even
// from those. A resumed attempt that finds it, with the job not promoting, asks DMS how the earlier
// attempt's promote ended before anything reopens.
import type mysql from 'mysql2/promise';
import { MYSQL_FENCE_TABLE } from './fence';

type Rows = mysql.RowDataPacket[];

export interface MysqlCloseRecord {
  /** When the close began (ms since the epoch). */
  at: number;
  /** @@GLOBAL.read_only before the close. */
  readOnly: boolean;
  /** @@GLOBAL.super_read_only before it; null where the server has none (MariaDB). */
  superReadOnly: boolean | null;
}

export const mysqlCloseKey = (job: string): string => `${job}#close`;

/** What the source's global read-only settings are now. */
export async function readMysqlAccess(h: mysql.Connection): Promise<Omit<MysqlCloseRecord, 'at'>> {
  const [[r]] = await h.query<Rows>('SELECT @@GLOBAL.read_only AS ro');
  const superReadOnly = await h
    .query<Rows>('SELECT @@GLOBAL.super_read_only AS sro')
    .then(([[s]]) => Number(s.sro) === 1)
    .catch((err: { errno?: number }) => {
      if (err.errno === 1193) return null; // ER_UNKNOWN_SYSTEM_VARIABLE: MariaDB has no super_read_only
      throw err;
    });
  return { readOnly: Number(r.ro) === 1, superReadOnly };
}

export async function writeMysqlCloseRecord(h: mysql.Connection, job: string, rec: MysqlCloseRecord): Promise<void> {
  const token = `ro=${Number(rec.readOnly)};sro=${rec.superReadOnly === null ? '-' : Number(rec.superReadOnly)}`;
  await h.query(
    `INSERT INTO ${MYSQL_FENCE_TABLE} (job, token, at) VALUES (?, ?, FROM_UNIXTIME(? / 1000))
       ON DUPLICATE KEY UPDATE token = VALUES(token), at = VALUES(at)`,
    [mysqlCloseKey(job), token, rec.at],
  );
}

export async function readMysqlCloseRecord(h: mysql.Connection, job: string): Promise<MysqlCloseRecord | undefined> {
  const [rows] = await h.query<Rows>(
    `SELECT token, UNIX_TIMESTAMP(at) * 1000 AS at FROM ${MYSQL_FENCE_TABLE} WHERE job = ?`,
    [mysqlCloseKey(job)],
  );
  if (!rows.length) return undefined;
  const m = /^ro=([01]);sro=([01-])$/.exec(String(rows[0].token));
  if (!m) return undefined;
  return { at: Number(rows[0].at), readOnly: m[1] === '1', superReadOnly: m[2] === '-' ? null : m[2] === '1' };
}

/**
 * Gives the source back what the close took (super_read_only first: read_only cannot be turned off
 * under it), then removes the record. Running it again changes nothing.
 */
export async function reopenMysqlSource(h: mysql.Connection, job: string, rec: MysqlCloseRecord): Promise<void> {
  if (rec.superReadOnly === false) await h.query('SET GLOBAL super_read_only = OFF');
  if (!rec.readOnly) await h.query('SET GLOBAL read_only = OFF');
  await h.query(`DELETE FROM ${MYSQL_FENCE_TABLE} WHERE job = ?`, [mysqlCloseKey(job)]);
}
