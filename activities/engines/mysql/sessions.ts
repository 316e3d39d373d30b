// MySQL sessions as the engine opens them (mysql2): ended after use, and a session killed by its
// server surfaces through its next query rather than as an unhandled error.
import mysql from 'mysql2/promise';
import type { ServerAddress } from '../server-address';

/** A mysql2 session on `p`, ended (or destroyed) after fn. */
export async function withMysql<T>(p: ServerAddress, fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const c = await mysqlConnect(p);
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => c.destroy());
  }
}

export async function mysqlConnect(p: ServerAddress): Promise<mysql.Connection> {
  const c = await mysql.createConnection({
    host: p.host,
    port: p.port,
    user: p.user,
    password: p.password,
    database: p.database,
    connectTimeout: 10_000,
  });
  c.on('error', () => undefined); // a killed session surfaces through its next query
  return c;
}

/** KILL CONNECTION; a session that is gone already is no error. */
export async function killMysqlSession(c: mysql.Connection, id: number): Promise<void> {
  await c.query(`KILL CONNECTION ${Number(id)}`).catch((err: { errno?: number }) => {
    if (err.errno !== 1094) throw err; // ER_NO_SUCH_THREAD
  });
}
