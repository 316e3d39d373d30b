// Closing the source for good at the point of no return: application roles may no longer
// connect (CONNECT revoked from PUBLIC and from every role that had it, the migration user
// excepted) and new sessions default to read-only. Both run inside the fence transaction
// (fence.ts), so they commit together with the release of the lock: a worker that dies before
// that commit leaves nothing behind, since PostgreSQL rolls the transaction back.
//
// A rollback after the cutover closes the target the same way (rollback.ts), and reopens the
// source with reopenSource from what the close recorded.
//
// What PostgreSQL does not let this close: superusers skip privilege checks, CONNECT included
// (GRANT, "Privileges"), and any session may SET default_transaction_read_only = off. The lock
// and ending every other session are what keep those out during the cutover (cutover.ts).
import pg from 'pg';
import { MigrationError } from '../../../common/failures';

export interface ConnectGrant {
  /** As regrole prints it (quoted where needed). */
  grantor: string;
  /** A role as regrole prints it, or PUBLIC. */
  grantee: string;
  grantable: boolean;
}

/** The source's access as it was before the close, recorded in the job record. */
export interface SourceAccess {
  /** pg_database.datacl as text; null is the default ACL (PUBLIC may connect). */
  acl: string | null;
  /** The CONNECT grants the close revokes. */
  connectGrants: ConnectGrant[];
  /** The database's own default_transaction_read_only, or null when it sets none. */
  readOnly: string | null;
}

const CONNECT_GRANTS = `
  select a.grantor::regrole::text as grantor,
         case when a.grantee = 0 then 'PUBLIC' else a.grantee::regrole::text end as grantee,
         a.is_grantable as grantable
    from pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
   where d.datname = current_database() and a.privilege_type = 'CONNECT'
     and a.grantee <> (select oid from pg_roles where rolname = current_user)
   order by 1, 2`;

export async function readSourceAccess(c: pg.Client): Promise<SourceAccess> {
  const { rows } = await c.query<{ acl: string | null; read_only: string | null }>(
    `select d.datacl::text as acl,
            (select split_part(x, '=', 2) from pg_db_role_setting s, unnest(s.setconfig) x
              where s.setdatabase = d.oid and s.setrole = 0 and x like 'default_transaction_read_only=%') as read_only
       from pg_database d where d.datname = current_database()`,
  );
  const grants = await c.query<ConnectGrant>(CONNECT_GRANTS);
  return { acl: rows[0].acl, connectGrants: grants.rows, readOnly: rows[0].read_only };
}

/**
 * Closes the source inside the fence transaction `f`. A grant is revoked as its grantor (a
 * REVOKE only removes the grants its issuer made; a superuser counts as the owner), and the
 * result is checked, since a REVOKE that removes nothing only warns.
 */
export async function closeSource(f: pg.Client, database: string, access: SourceAccess): Promise<void> {
  const db = pg.escapeIdentifier(database);
  await refuseSessionsItCannotEnd(f, database);
  const me = (await f.query<{ me: string }>('select current_user::regrole::text as me')).rows[0].me;
  for (const g of access.connectGrants) {
    if (g.grantor !== me) await f.query(`set local role ${g.grantor}`);
    await f.query(`revoke connect on database ${db} from ${g.grantee} cascade`);
    if (g.grantor !== me) await f.query('reset role');
  }
  const left = await f.query<ConnectGrant>(CONNECT_GRANTS);
  if (left.rowCount)
    throw new MigrationError(
      'PermissionDenied',
      `cannot revoke CONNECT on ${database} from ` +
        left.rows.map((g) => `${g.grantee} (granted by ${g.grantor})`).join(', '),
    );
  const canConnect = await f.query<{ ok: boolean }>(
    `select has_database_privilege(current_database(), 'CONNECT') as ok`,
  );
  if (!canConnect.rows[0].ok)
    throw new MigrationError(
      'PermissionDenied',
      `closing ${database} would lock the migration user out (it connects through PUBLIC): grant it CONNECT itself`,
    );
  await f.query(`alter database ${db} set default_transaction_read_only = on`);
}

/**
 * A migration user that is not a superuser ends other roles' sessions with pg_signal_backend, which
 * reaches neither a superuser's session nor one it cannot see: without pg_read_all_stats,
 * pg_stat_activity hides other roles' backend_type ("The Cumulative Statistics System"), so their
 * sessions would not be found, and would live on past the close. Refused by name, before the
 * commit (nothing is closed).
 */
async function refuseSessionsItCannotEnd(f: pg.Client, database: string): Promise<void> {
  const { rows } = await f.query<{ hidden: string[]; superusers: string[] }>(
    `select array(select a.pid::text from pg_stat_activity a
                   where a.datname = current_database() and a.backend_type is null) as hidden,
            array(select format('pid %s (%s)', a.pid, r.rolname)
                    from pg_stat_activity a join pg_roles r on r.oid = a.usesysid
                   where a.datname = current_database() and a.backend_type = 'client backend' and r.rolsuper
                     and a.pid <> pg_backend_pid()) as superusers
       from pg_roles me where me.rolname = current_user and not me.rolsuper`,
  );
  if (!rows.length) return; // a superuser sees and may end every session
  const [{ hidden, superusers }] = rows;
  if (hidden.length)
    throw new MigrationError(
      'PermissionDenied',
      `not closing ${database}: the migration user cannot see sessions ${hidden.join(', ')} (another role's), so ` +
        'it could not end them: GRANT pg_read_all_stats TO the migration user',
    );
  if (superusers.length)
    throw new MigrationError(
      'PermissionDenied',
      `not closing ${database}: superuser sessions are connected (${superusers.join(', ')}), which only a ` +
        'superuser may end and which CONNECT and the read-only default do not stop: end them, or migrate as a ' +
        'superuser',
    );
}

/** Every privilege on the database, as comparable text: the ACL itself, or the built-in default it stands for. */
const EFFECTIVE_ACL = `
  select array(select format('%s>%s:%s%s', a.grantor::regrole, case when a.grantee = 0 then 'PUBLIC'
                             else a.grantee::regrole::text end, a.privilege_type, case when a.is_grantable then '*' end)
                 from aclexplode(coalesce($1::aclitem[], acldefault('d', d.datdba))) a order by 1)::text as acl
    from pg_database d where d.datname = current_database()`;

/**
 * Gives a database closed by closeSource back what the close took, in one transaction: each
 * CONNECT grant (as its grantor, with its grant option) and the database's own
 * default_transaction_read_only, or none. Running it again changes nothing. The result is checked
 * against `before`, privilege by privilege: a NULL ACL (the built-in default) comes back spelled
 * out, since no command sets an ACL back to NULL, but it grants exactly the same.
 */
export async function reopenSource(c: pg.Client, database: string, before: SourceAccess): Promise<void> {
  const db = pg.escapeIdentifier(database);
  await c.query('begin');
  try {
    const me = (await c.query<{ me: string }>('select current_user::regrole::text as me')).rows[0].me;
    // A grant with grant option comes before the grants made under it: rounds until none is missing.
    for (let round = 0; round <= before.connectGrants.length; round++) {
      const have = (await c.query<ConnectGrant>(CONNECT_GRANTS)).rows;
      const missing = before.connectGrants.filter(
        (g) => !have.some((h) => h.grantor === g.grantor && h.grantee === g.grantee && h.grantable === g.grantable),
      );
      if (!missing.length) break;
      for (const g of missing) {
        if (g.grantor !== me) await c.query(`set local role ${g.grantor}`);
        await c.query(`grant connect on database ${db} to ${g.grantee}${g.grantable ? ' with grant option' : ''}`);
        if (g.grantor !== me) await c.query('reset role');
      }
    }
    if (before.readOnly === null) await c.query(`alter database ${db} reset default_transaction_read_only`);
    else await c.query(`alter database ${db} set default_transaction_read_only = ${pg.escapeLiteral(before.readOnly)}`);
    const now = await readSourceAccess(c);
    const [was, is] = await Promise.all(
      [before.acl, now.acl].map(async (acl) => (await c.query<{ acl: string }>(EFFECTIVE_ACL, [acl])).rows[0].acl),
    );
    if (was !== is || now.readOnly !== before.readOnly)
      throw new MigrationError(
        'PermissionDenied',
        `cannot give ${database} back its access: privileges ${is} (were ${was}), ` +
          `default_transaction_read_only ${now.readOnly ?? 'unset'} (was ${before.readOnly ?? 'unset'})`,
      );
    await c.query('commit');
  } catch (err) {
    await c.query('rollback').catch(() => undefined);
    throw err;
  }
}
