// Closing the source for good at the point of no return: application roles may no longer
// connect (CONNECT revoked from PUBLIC and from every role that had it, the migration user
// excepted) and new sessions default to read-only. Both run inside the fence transaction
// (fence.ts), so they commit together with the release of the lock: a worker that dies before
// that commit leaves nothing behind, since PostgreSQL rolls the transaction back.
//
// What PostgreSQL does not let this close: superusers skip privilege checks, CONNECT included
// (GRANT, "Privileges"), and any session may SET default_transaction_read_only = off. The lock
// and ending every other session are what keep those out during the cutover (cutover.ts).
import pg from 'pg';
import { MigrationError } from '../platform';

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
