// The MySQL fence's session and the source's close (platforms/gcp/cutover/mysql.ts tells why they are shaped so):
// the one session that holds LOCK TABLES ... READ until the server drops it at the deadline, and
// SET GLOBAL read_only with every other client session ended.
import type mysql from 'mysql2/promise';
import type { ServerAddress } from '../server-address';
import { MigrationError } from '../../../common/failures';
import { killMysqlSession, mysqlConnect } from './sessions';
import { MYSQL_FENCE_TABLE } from './fence';

type Rows = mysql.RowDataPacket[];

/** How long the LOCK may wait for a transaction holding a table (gh-ost's cut-over lock timeout is a few seconds). */
const LOCK_WAIT_SECONDS = 3;
/** Server threads that are not client sessions: never ended. */
const SERVER_COMMANDS = ['Daemon', 'Binlog Dump', 'Binlog Dump GTID', 'Slave_IO', 'Slave_SQL', 'Slave_worker'];

const qid = (name: string) => `\`${name.replace(/`/g, '``')}\``;

/** The session that holds the block: LOCK TABLES ... READ, dropped by the server at the deadline. */
export class FenceSession {
  open = true;
  /** False once the session ended before end() was called (the server's deadline, a kill). */
  heldToEnd = true;

  private constructor(
    private readonly c: mysql.Connection,
    readonly id: number,
    readonly startedAt: number,
    readonly deadline: number,
  ) {
    c.on('end', () => this.lost());
    c.on('error', () => this.lost());
  }

  private lost(): void {
    if (this.open) this.heldToEnd = false;
    this.open = false;
  }

  static async open(p: ServerAddress, lockName: string, tables: string[], timeoutMs: number): Promise<FenceSession> {
    const c = await mysqlConnect(p);
    try {
      const [[{ id }]] = await c.query<Rows>('SELECT CONNECTION_ID() AS id');
      const idle = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
      const untilLocked = idle(timeoutMs) + LOCK_WAIT_SECONDS;
      // Until the LOCK returns, the session may wait lock_wait_timeout at most; the idle timeout covers a
      // worker that hangs meanwhile.
      await c.query(
        `SET SESSION lock_wait_timeout = ${LOCK_WAIT_SECONDS}, SESSION wait_timeout = ${untilLocked}, ` +
          `SESSION interactive_timeout = ${untilLocked}`,
      );
      const [[got]] = await c.query<Rows>('SELECT GET_LOCK(?, 0) AS ok', [lockName]);
      if (Number(got.ok) !== 1)
        throw new MigrationError('CutoverInterrupted', `another fence session holds ${lockName}; nothing was blocked`);
      if (tables.length) await c.query(`LOCK TABLES ${tables.map((t) => `${qid(t)} READ`).join(', ')}`);
      const startedAt = Date.now();
      // From here the session stays idle until the switch: wait_timeout is the block's deadline, enforced
      // by the server whatever happens to this worker.
      await c.query(`SET SESSION wait_timeout = ${idle(timeoutMs)}, SESSION interactive_timeout = ${idle(timeoutMs)}`);
      return new FenceSession(c, Number(id), startedAt, startedAt + timeoutMs);
    } catch (err) {
      c.destroy();
      const e = err as { errno?: number; message?: string };
      if (e.errno === 1205)
        throw new MigrationError(
          'CutoverNotReady',
          `not cutting over: LOCK TABLES waited ${LOCK_WAIT_SECONDS} s (lock_wait_timeout) for a transaction ` +
            `holding a table (${e.message}); nothing was blocked`,
        );
      throw err;
    }
  }

  /** Whether the session still holds the block, asked of the server (not only of the socket). */
  async alive(h: mysql.Connection): Promise<boolean> {
    if (!this.open) return false;
    const [rows] = await h.query<Rows>('SELECT 1 FROM information_schema.processlist WHERE id = ?', [this.id]);
    if (!rows.length) this.lost();
    return this.open;
  }

  /** UNLOCK TABLES and end the session; a session the server dropped already has released everything. */
  async end(): Promise<void> {
    if (this.open) {
      this.open = false;
      try {
        await this.c.query('UNLOCK TABLES');
        await this.c.end();
      } catch {
        this.c.destroy(); // closing the connection ends the session, and the locks with it
      }
    } else this.c.destroy();
  }
}

export function lostFence(fence: FenceSession): MigrationError {
  return new MigrationError(
    'CutoverInterrupted',
    `the fence session (connection ${fence.id}) ended before the promote, and the lock with it`,
  );
}

/** Every base table of the connection's database but dbmig_fence, schema-qualified. */
export async function baseTables(h: mysql.Connection): Promise<string[]> {
  const [rows] = await h.query<Rows>(
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' AND table_name <> ? ORDER BY 1`,
    [MYSQL_FENCE_TABLE],
  );
  return rows.map((r) => String(r.name));
}

/** True when the source takes no writes from ordinary sessions. */
export async function mysqlSourceReadOnly(h: mysql.Connection): Promise<boolean> {
  const [[r]] = await h.query<Rows>('SELECT @@GLOBAL.read_only AS ro');
  return Number(r.ro) === 1;
}

/** Client sessions other than this one and `keep`: what the close ends. */
async function otherSessions(h: mysql.Connection, keep: number[]): Promise<number[]> {
  const [rows] = await h.query<Rows>(
    `SELECT id FROM information_schema.processlist
      WHERE id <> CONNECTION_ID() AND command NOT IN (?) AND user NOT IN ('system user', 'event_scheduler')`,
    [SERVER_COMMANDS],
  );
  return rows.map((r) => Number(r.id)).filter((id) => !keep.includes(id));
}

/**
 * SET GLOBAL read_only = ON (super_read_only too where the server has it) and end every other
 * client session. read_only waits for sessions holding write locks, writers queued behind the
 * fence among them: those are ended first and the SET retried with a short lock wait until
 * `until`. Idempotent: a closed source is closed again at no cost. Returns how many sessions ended.
 */
export async function closeMysqlSource(h: mysql.Connection, keep: number[], until: number): Promise<number> {
  const ended = new Set<number>();
  await h.query('SET SESSION lock_wait_timeout = 1');
  for (;;) {
    for (const id of await otherSessions(h, keep)) {
      await killMysqlSession(h, id);
      ended.add(id);
    }
    try {
      await h.query('SET GLOBAL read_only = ON');
      break;
    } catch (err) {
      if ((err as { errno?: number }).errno !== 1205 || Date.now() >= until) throw err;
    }
  }
  await h.query('SET GLOBAL super_read_only = ON').catch((err: { errno?: number }) => {
    if (err.errno !== 1193) throw err; // ER_UNKNOWN_SYSTEM_VARIABLE: MariaDB has no super_read_only
  });
  // Sessions that connected while read_only was being set: read-only now, ended so clients reconnect elsewhere.
  for (const id of await otherSessions(h, keep)) {
    await killMysqlSession(h, id);
    ended.add(id);
  }
  return ended.size;
}
