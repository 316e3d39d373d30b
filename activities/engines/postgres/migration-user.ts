// What the source's migration user needs when it is not a superuser, checked by the assessment
// before any side effect (docs/local-platform.md, "The migration user"). A superuser skips every
// privilege check; a role an operator made for the move must have been given each of these:
//   REPLICATION                 the slot, and the walsender the target's subscription connects to
//   CREATE on the database      dbmig's schema and the publication
//   owner of the tables         a publication lists only tables its creator owns (directly or as a
//                               member of the owning role), and replica identity FULL alters them
//   pg_signal_backend           the close ends the applications' sessions
//   pg_read_all_stats           without it other roles' sessions show no backend_type: the close
//                               could not find them
//   pg_create_subscription (16) the reverse subscription a rollback needs is created on the source
//                               after the close; PostgreSQL 15 and older let only a superuser do it
// The grantor of every CONNECT grant must be a role it may SET ROLE to (the close revokes as the
// grantor), which the database owner is when the user is a member of it; closeSource checks that at
// the close, since grants change.
import type pg from 'pg';
import type { Finding } from '../../steps';

export async function migrationUserFindings(c: pg.Client): Promise<Finding[]> {
  const { rows } = await c.query<{
    user: string;
    super: boolean;
    replication: boolean;
    create: boolean;
    version: number;
    roles: string[];
    not_owned: string[];
  }>(
    `select r.rolname as user, r.rolsuper as super, r.rolreplication as replication,
            has_database_privilege(current_database(), 'CREATE') as create,
            current_setting('server_version_num')::int as version,
            array(select g.rolname from pg_roles g
                   where g.rolname in ('pg_signal_backend', 'pg_read_all_stats', 'pg_create_subscription')
                     and pg_has_role(r.oid, g.oid, 'USAGE')) as roles,
            array(select format('%I.%I', n.nspname, t.relname)
                    from pg_class t join pg_namespace n on n.oid = t.relnamespace
                   where t.relkind in ('r', 'p') and not t.relispartition and t.relpersistence = 'p'
                     and n.nspname not in ('pg_catalog', 'information_schema', 'dbmig')
                     and n.nspname not like 'pg_toast%'
                     and not pg_has_role(r.oid, t.relowner, 'USAGE') order by 1 limit 5) as not_owned
       from pg_roles r where r.rolname = current_user`,
  );
  const u = rows[0];
  if (u.super) return [];
  const missing: string[] = [];
  if (!u.replication) missing.push('the REPLICATION attribute (ALTER ROLE ... REPLICATION)');
  if (!u.create) missing.push('CREATE on the database');
  if (u.not_owned.length)
    missing.push(`ownership of the tables (a member of their owner): not of ${u.not_owned.join(', ')}`);
  for (const [role, why] of [
    ['pg_signal_backend', "to end the applications' sessions at the close"],
    ['pg_read_all_stats', "to see other roles' sessions at the close"],
  ])
    if (!u.roles.includes(role)) missing.push(`membership in ${role} (${why})`);
  if (u.version < 160000)
    missing.push(
      `superuser: on PostgreSQL ${Math.floor(u.version / 10000)} only a superuser may create the reverse ` +
        'subscription that keeps a rollback possible after the cutover (pg_create_subscription is 16+)',
    );
  else if (!u.roles.includes('pg_create_subscription'))
    missing.push('membership in pg_create_subscription (for the reverse subscription a rollback needs)');
  if (!missing.length) return [];
  return [
    {
      code: 'SOURCE_PRIVILEGES',
      severity: 'error',
      message: `the migration user ${u.user} is not a superuser and lacks ${missing.join('; ')}`,
    },
  ];
}
