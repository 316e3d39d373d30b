// PostgreSQL sessions as the engine opens them: a client that sends a password only through
// SCRAM-SHA-256, and sessions that end their statement when the step's activity is cancelled.
import net from 'node:net';
import pg from 'pg';
import { activityCancellation, throwIfCancelled } from '../../cancellation';
import { MigrationError } from '../../../common/failures';
import type { ServerAddress } from '../server-address';

export interface ConnectionParams extends ServerAddress {
  /** What the sessions show as application_name (default 'dbmig'): a lease's sessions carry its epoch (lease.ts). */
  applicationName?: string;
  /** Runs on every new session before its first statement: a lease checks it still holds (lease.ts). */
  admit?: (client: pg.Client) => Promise<void>;
  /** A walsender session, for replication commands (the snapshot keeper's CREATE_REPLICATION_SLOT). */
  replication?: 'database';
}

interface AuthHandlers {
  _handleAuthSASL(msg: { mechanisms: string[] }): void;
}

/**
 * A client that sends a password only through SCRAM-SHA-256: node-postgres would otherwise answer a
 * server's request for the password in clear text (pg_hba `password`) or as an MD5 hash (`md5`, as
 * good as the password to whoever records it), and a plan names the host it connects to.
 */
class ScramOnlyClient extends pg.Client {
  _handleAuthCleartextPassword(): void {
    this.refuse('the password in clear text (pg_hba method "password")');
  }

  _handleAuthMD5Password(): void {
    this.refuse('an MD5 hash of the password (pg_hba method "md5")');
  }

  _handleAuthSASL(msg: { mechanisms: string[] }): void {
    if (!msg.mechanisms.some((m) => m.startsWith('SCRAM-SHA-256'))) {
      this.refuse(`SASL mechanisms ${msg.mechanisms.join(', ')}`);
      return;
    }
    (pg.Client.prototype as unknown as AuthHandlers)._handleAuthSASL.call(this, msg);
  }

  private refuse(what: string): void {
    const con = (this as unknown as { connection: { emit(e: string, err: Error): void; stream: net.Socket } })
      .connection;
    con.emit(
      'error',
      new MigrationError(
        'SecretUnavailable',
        `${this.host}:${this.port} asked user ${this.user} for ${what}; dbmig sends a password only through ` +
          'SCRAM-SHA-256, so none was sent: use scram-sha-256 in its pg_hba.conf (with password_encryption = ' +
          "scram-sha-256, and the user's password set again)",
      ),
    );
    con.stream.destroy();
  }
}

/**
 * Stops whatever `client` is running on the server (a statement waiting on a lock would otherwise
 * go on, and commit, after the step was cancelled): the protocol's CancelRequest, which needs no
 * password, then the session's end. Should the session outlive that (a cancel lost on the way),
 * its backend is terminated from a new session.
 */
async function interrupt(client: pg.Client, params: ConnectionParams): Promise<void> {
  const { processID: pid, secretKey } = client as unknown as { processID: number | null; secretKey: number | null };
  if (pid === null || secretKey === null) {
    // Not a session yet (still opening): nothing of the step runs on the server, and a polite end
    // would wait for a server that may never answer. The socket is cut; its backend then exits.
    (client as unknown as { connection: { stream: net.Socket } }).connection.stream.destroy();
    return;
  }
  await new Promise<void>((done) => {
    const sock = net.connect(params.port, params.host, () => {
      const msg = Buffer.alloc(16);
      msg.writeInt32BE(16, 0);
      msg.writeInt32BE(80877102, 4);
      msg.writeInt32BE(pid, 8);
      msg.writeInt32BE(secretKey, 12);
      sock.end(msg);
    });
    sock.setTimeout(5_000, () => sock.destroy());
    sock.on('close', () => done());
    sock.on('error', () => undefined);
  });
  let timer: NodeJS.Timeout | undefined;
  const ended = client.end().then(
    () => true,
    () => true,
  );
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5_000)));
  const inTime = await Promise.race([ended, late]);
  clearTimeout(timer);
  if (inTime) return;
  const helper = await openClient(params).catch(() => undefined);
  if (!helper) return;
  await helper.query('select pg_terminate_backend($1)', [pid]).catch(() => undefined);
  await helper.end().catch(() => undefined);
}

function newClient(params: ConnectionParams): pg.Client {
  // The orchestrator's own sessions must keep working on a source that cutover made read-only.
  const client = new ScramOnlyClient({
    ...params,
    connectionTimeoutMillis: 10_000,
    application_name: params.applicationName ?? 'dbmig',
    options: '-c default_transaction_read_only=off',
  });
  // A terminated backend emits 'error' on the client; without a listener Node would crash.
  client.on('error', () => undefined);
  return client;
}

function openClient(params: ConnectionParams): Promise<pg.Client> {
  const client = newClient(params);
  return client.connect().then(() => client);
}

/**
 * A session for the current step: when the step's activity is cancelled, the statement it runs is
 * cancelled on the server and the session ends (see activities/cancellation.ts).
 */
export async function connect(
  params: ConnectionParams,
  signal: AbortSignal | undefined = activityCancellation(),
): Promise<pg.Client> {
  throwIfCancelled(signal);
  const client = newClient(params);
  if (!signal) return client.connect().then(() => admitted(client, params));
  // node-postgres never settles connect() when end() is called before the session is ready (its
  // 'end' handler reports nothing once end() was asked for): a step cancelled while it connects
  // would wait forever, and with it a worker's shutdown. The cancellation ends the wait instead.
  let stopWaiting: (reason: unknown) => void = () => undefined;
  const cancelled = new Promise<never>((_, reject) => (stopWaiting = reject));
  const onAbort = () => {
    stopWaiting(signal.reason);
    void interrupt(client, params);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  client.once('end', () => signal.removeEventListener('abort', onAbort));
  const connecting = client.connect();
  connecting.catch(() => undefined); // settled or not, only the race below is awaited
  try {
    await Promise.race([connecting, cancelled]);
  } catch (err) {
    signal.removeEventListener('abort', onAbort);
    throwIfCancelled(signal);
    throw err;
  }
  return admitted(client, params);
}

/** A session `params.admit` refuses is ended before it runs anything. */
async function admitted(client: pg.Client, params: ConnectionParams): Promise<pg.Client> {
  if (!params.admit) return client;
  try {
    await params.admit(client);
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
}

/** Runs `fn` on a session of its own; a cancelled step rejects with its cancellation once `fn` has stopped. */
export async function withClient<T>(params: ConnectionParams, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const signal = activityCancellation();
  const client = await connect(params, signal);
  try {
    return await fn(client);
  } catch (err) {
    throwIfCancelled(signal);
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}
