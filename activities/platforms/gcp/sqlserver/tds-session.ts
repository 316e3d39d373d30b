// One TDS session to a SQL Server source (the `mssql` client over tedious), as the rest of this
// folder uses it: `query` sends one batch with named parameters and answers its last result set.
// Rule 8: the password is read from its reference here, handed to the driver only, and taken out
// of any error the driver raises before the error leaves this module (a driver may quote what it
// was given); errors keep only the driver's code and number.
import sql from 'mssql';
import { activityCancellation, throwIfCancelled } from '../../../cancellation';
import { sourcePassword } from '../../../secrets';
import type { DatabaseTask } from '../../../steps';

export type Param = string | number;

export interface TdsSession {
  /** Runs one batch; answers the rows of its last result set. */
  query<T>(text: string, params?: Record<string, Param>): Promise<T[]>;
  close(): Promise<void>;
}

export class TdsError extends Error {
  constructor(
    message: string,
    readonly code?: string,
    /** SQL Server's error number (3101: exclusive access could not be obtained, ...). */
    readonly number?: number,
  ) {
    super(message);
    this.name = 'TdsError';
  }
}

export interface TdsOptions {
  connectTimeoutMs?: number;
  /** A batch that runs longer than this is cancelled (the tail-log backup sets its own). */
  requestTimeoutMs?: number;
}

/** The driver's error without anything secret: message scrubbed, code and number kept. */
export function scrubbed(err: unknown, secrets: string[]): TdsError {
  const e = err as { message?: unknown; code?: unknown; number?: unknown; originalError?: { message?: unknown } };
  let message = String(e?.message ?? err);
  for (const s of secrets) if (s) message = message.split(s).join('***');
  return new TdsError(
    message,
    typeof e?.code === 'string' ? e.code : undefined,
    typeof e?.number === 'number' ? e.number : undefined,
  );
}

/** Opens a session to the task's source database, as the plan's source user. */
export async function openTds(task: DatabaseTask, opts: TdsOptions = {}): Promise<TdsSession> {
  const source = task.database.source;
  const password = await sourcePassword(source, { project: task.gcp?.project });
  const signal = activityCancellation();
  throwIfCancelled(signal);
  const pool = new sql.ConnectionPool({
    server: source.host,
    port: source.port,
    user: source.user,
    password,
    database: 'master',
    connectionTimeout: opts.connectTimeoutMs ?? 10_000,
    requestTimeout: opts.requestTimeoutMs ?? 30_000,
    pool: { min: 0, max: 1 },
    // TLS as the driver defaults it: encrypted, and the server's certificate verified.
    options: { encrypt: true, trustServerCertificate: false, appName: 'dbmig' },
  });
  try {
    await pool.connect();
  } catch (err) {
    await pool.close().catch(() => undefined);
    throw scrubbed(err, [password]);
  }
  const onAbort = () => void pool.close().catch(() => undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  return {
    async query<T>(text: string, params: Record<string, Param> = {}) {
      const req = pool.request();
      for (const [k, v] of Object.entries(params))
        req.input(k, typeof v === 'number' ? sql.BigInt : sql.NVarChar(sql.MAX), v);
      try {
        const res = await req.query(text);
        const sets = (res.recordsets ?? []) as unknown as T[][];
        return sets.length ? sets[sets.length - 1] : [];
      } catch (err) {
        throw scrubbed(err, [password]);
      }
    },
    async close() {
      signal?.removeEventListener('abort', onAbort);
      await pool.close().catch(() => undefined);
    },
  };
}
