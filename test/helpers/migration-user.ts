// A source set up the way an operator sets up a real one (docs/local-platform.md, "The migration
// user"): a non-superuser migration user with REPLICATION, member of the role that owns the
// application's database and tables, with pg_signal_backend, pg_read_all_stats and, from
// PostgreSQL 16, pg_create_subscription; application roles that are not superusers either, with
// PUBLIC's CONNECT revoked and CONNECT granted to them by the database's owner. Superusers skip
// privilege checks (CONNECT included), so only this shows what the close does to a real source.
//
// Passwords never travel in a statement's text: a role's password is sent as a SCRAM verifier
// computed here (as psql's \password does), so neither the server's log nor its statistics see it,
// and the migration user's password reaches the worker through an environment variable.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';
import { withClient, type ConnectionParams } from '../../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../../activities/platforms/local/clusters';

export interface Role {
  user: string;
  password: string;
}

export interface MigrationUser extends Role {
  /** The environment variable holding the password: the plan's passwordRef is `env:<it>`. */
  env: string;
}

/** The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, 7677; "Password Authentication"). */
export function scramVerifier(password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  const [s, stored, server] = [salt, storedKey, serverKey].map((b) => b.toString('base64'));
  return `SCRAM-SHA-256$${iterations}:${s}$${stored}:${server}`;
}

const admin = (cluster: ClusterInfo, database = 'postgres'): ConnectionParams => ({ ...cluster, database });
const ident = pg.escapeIdentifier;

/** A login role that is not a superuser, its password set as a verifier. Idempotent. */
export async function createRole(
  cluster: ClusterInfo,
  user: string,
  attributes = '',
  password = randomBytes(18).toString('base64url'),
): Promise<Role> {
  await withClient(admin(cluster), async (c) => {
    const exists = (await c.query('select 1 from pg_roles where rolname = $1', [user])).rowCount;
    await c.query(
      `${exists ? 'alter' : 'create'} role ${ident(user)} login nosuperuser ${attributes} ` +
        `password ${pg.escapeLiteral(scramVerifier(password))}`,
    );
  });
  return { user, password };
}

/**
 * The migration user on `cluster`: LOGIN REPLICATION, not a superuser; ends other roles' sessions
 * (pg_signal_backend), sees them (pg_read_all_stats), and from 16 may create the reverse
 * subscription (pg_create_subscription). Its password is put in process.env[env].
 */
export async function createMigrationUser(cluster: ClusterInfo, user: string, env: string): Promise<MigrationUser> {
  const role = await createRole(cluster, user, 'replication');
  await withClient(admin(cluster), async (c) => {
    const roles = ['pg_signal_backend', 'pg_read_all_stats'];
    if (cluster.version >= 16) roles.push('pg_create_subscription');
    await c.query(`grant ${roles.join(', ')} to ${ident(user)}`);
  });
  process.env[env] = role.password;
  return { ...role, env };
}

/**
 * Hands database `db` (made by the cluster's superuser) to `owner`, a NOLOGIN role made here if
 * missing: the database, its schemas' tables and sequences. PUBLIC's CONNECT is revoked; the owner
 * grants CONNECT to every application role and to the migration user, and DML on the tables to the
 * applications. The migration user is made a member of the owner: a publication needs the tables'
 * owner, the close runs REVOKE as the grantor, the reverse subscription applies as the tables' owner.
 */
export async function handOver(
  cluster: ClusterInfo,
  db: string,
  opts: { owner: string; apps: string[]; migrator: string },
): Promise<void> {
  const owner = ident(opts.owner);
  await withClient(admin(cluster), async (c) => {
    if (!(await c.query('select 1 from pg_roles where rolname = $1', [opts.owner])).rowCount)
      await c.query(`create role ${owner} nologin`);
    await c.query(`grant ${owner} to ${ident(opts.migrator)}`).catch((err: { code?: string }) => {
      if (err.code !== '42710') throw err; // already a member
    });
    await c.query(`alter database ${ident(db)} owner to ${owner}`);
  });
  await withClient(admin(cluster, db), async (c) => {
    const { rows } = await c.query<{ name: string; kind: string }>(
      `select format('%I.%I', n.nspname, c.relname) as name, c.relkind as kind
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p', 'S', 'v', 'm') and n.nspname not in ('pg_catalog', 'information_schema')
          and n.nspname not like 'pg_toast%' and n.nspname <> 'dbmig'
          and not (c.relkind = 'S'
                   and exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype in ('a', 'i')))`,
    );
    for (const r of rows) {
      const what =
        r.kind === 'S' ? 'sequence' : r.kind === 'v' ? 'view' : r.kind === 'm' ? 'materialized view' : 'table';
      await c.query(`alter ${what} ${r.name} owner to ${owner}`);
    }
    // As the owner, so the owner is the grantor: the close revokes as it, not as the migration user.
    await c.query(`set role ${owner}`);
    await c.query(`revoke connect on database ${ident(db)} from public`);
    for (const u of [...opts.apps, opts.migrator])
      await c.query(`grant connect on database ${ident(db)} to ${ident(u)}`);
    for (const u of opts.apps)
      await c.query(
        `grant select, insert, update, delete on all tables in schema public to ${ident(u)};
         grant usage, select on all sequences in schema public to ${ident(u)}`,
      );
    await c.query('reset role');
  });
}

/** Connection parameters of `p` as `role`. */
export const as = (p: ConnectionParams, role: Role): ConnectionParams => ({
  ...p,
  user: role.user,
  password: role.password,
});
