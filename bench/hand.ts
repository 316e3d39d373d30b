// The same migration done by hand with PostgreSQL's own tools, the baseline the benchmarks put
// dbmig next to: pg_dump --schema-only | psql into a fresh database, CREATE PUBLICATION on the
// source, CREATE SUBSCRIPTION (defaults: creates its slot, copies, starts at once) on the target.
import { spawn } from 'node:child_process';
import { Transform } from 'node:stream';
import pg from 'pg';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { serverVersion } from '../activities/engines/postgres/server-version';
import { clientTools, pgDumpFor } from '../activities/engines/postgres/client-tools';

/**
 * A client tool's connection: host, port, user and database in its arguments, the password in its
 * environment (arguments are readable by any user of the machine, and end up in logs).
 */
const conn = (p: ConnectionParams) => ({
  args: ['-h', p.host, '-p', String(p.port), '-U', p.user, '-d', p.database],
  env: { ...process.env, PGPASSWORD: p.password, PGREQUIREAUTH: 'scram-sha-256' },
});

/** A fresh database on the target's cluster, as dbmig's provisionTarget makes it (from template0). */
export async function createDatabase(admin: ConnectionParams, database: string): Promise<void> {
  await withClient({ ...admin, database: 'postgres' }, (c) =>
    c.query(`create database ${pg.escapeIdentifier(database)} template template0`),
  );
}

/** `pg_dump --schema-only | psql --single-transaction`: the schema, indexes included, before any row. */
export async function copySchema(src: ConnectionParams, target: ConnectionParams): Promise<void> {
  // A pg_dump as new as the source (it refuses a newer server), and the newest psql.
  const major = await withClient(src, async (c) => (await serverVersion(c)).major);
  const [pgDump, [psqlTool]] = await Promise.all([pgDumpFor(major), clientTools('psql')]);
  const [s, t] = [conn(src), conn(target)];
  const dump = spawn(pgDump.path, ['--schema-only', '--no-owner', '--no-privileges', ...s.args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: s.env,
  });
  const psqlArgs = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', ...t.args];
  const psql = spawn(psqlTool?.path ?? 'psql', psqlArgs, { stdio: ['pipe', 'ignore', 'pipe'], env: t.env });
  // A newer pg_dump than the target sets what the target lacks (transaction_timeout is 17+): dropped,
  // as an operator would (and as dbmig's schema copy does).
  let rest = '';
  const dropNewSets = new Transform({
    transform(chunk: Buffer, _enc, next) {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop()!;
      next(null, lines.filter((l) => !/^SET transaction_timeout\b/.test(l)).join('\n') + (lines.length ? '\n' : ''));
    },
    flush(next) {
      next(null, rest);
    },
  });
  dump.stdout.pipe(dropNewSets).pipe(psql.stdin);
  const done = (p: ReturnType<typeof spawn>, what: string) =>
    new Promise<void>((ok, fail) => {
      let err = '';
      p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      p.on('error', fail);
      p.on('close', (code) => (code === 0 ? ok() : fail(new Error(`${what} exited ${code}: ${err.trim()}`))));
    });
  await Promise.all([done(dump, 'pg_dump'), done(psql, 'psql')]);
}

/** CREATE PUBLICATION on the source and CREATE SUBSCRIPTION on the target, with every default. */
export async function publishAndSubscribe(
  src: ConnectionParams,
  target: ConnectionParams,
  tables: string[],
  name: string,
): Promise<void> {
  await withClient(src, (c) => c.query(`create publication ${name} for table ${tables.join(', ')}`));
  const conninfo = `host=${src.host} port=${src.port} dbname=${src.database} user=${src.user} password=${src.password}`;
  await withClient(target, (c) =>
    c.query(`create subscription ${name} connection ${pg.escapeLiteral(conninfo)} publication ${name}`),
  );
}

/** How far the subscription is: tables in pg_subscription_rel, and how many are 'r' (ready). */
export async function subscriptionTables(t: pg.Client, sub: string): Promise<{ total: number; ready: number }> {
  const { rows } = await t.query<{ total: string; ready: string }>(
    `select count(*) as total, count(*) filter (where r.srsubstate = 'r') as ready
       from pg_subscription s join pg_subscription_rel r on r.srsubid = s.oid where s.subname = $1`,
    [sub],
  );
  return { total: Number(rows[0].total), ready: Number(rows[0].ready) };
}

/**
 * The subscription's lag in bytes, as an operator reads it on the source: WAL written since the
 * position the subscriber confirmed for its slot (CREATE SUBSCRIPTION names the slot after itself).
 */
export async function slotLagBytes(s: pg.Client, slot: string): Promise<number | undefined> {
  const { rows } = await s.query<{ bytes: string | null }>(
    `select pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text as bytes
       from pg_replication_slots where slot_name = $1`,
    [slot],
  );
  return rows.length && rows[0].bytes !== null ? Number(rows[0].bytes) : undefined;
}
