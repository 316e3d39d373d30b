// What an existing server (kind postgres) must offer before anything is created on it, checked by
// the assessment over the same connection the migration will use. The reverse replication that
// keeps a rollback possible after the cutover runs from this server back to the source, so it needs
// what a source needs: wal_level = logical and a free slot. The user creates the database and the
// subscription and, for the way back, the slot.
import type pg from 'pg';
import type { Finding } from '../platform';
import { provisionRefusal, readMark, type TargetOwner } from './target-mark';

export async function existingServerFindings(
  c: pg.Client,
  where: string,
  database: string,
  owner: TargetOwner,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const err = (code: string, message: string) => findings.push({ code, severity: 'error', message });
  const { rows } = await c.query<{
    wal_level: string;
    free_slots: number;
    super: boolean;
    createdb: boolean;
    replication: boolean;
    subscribe: boolean;
  }>(
    `select current_setting('wal_level') as wal_level,
            current_setting('max_replication_slots')::int - (select count(*) from pg_replication_slots)::int
              as free_slots,
            r.rolsuper as super, r.rolcreatedb as createdb, r.rolreplication as replication,
            r.rolsuper or (current_setting('server_version_num')::int >= 160000
                           and pg_has_role(r.oid, 'pg_create_subscription', 'member')) as subscribe
       from pg_roles r where r.rolname = current_user`,
  );
  const s = rows[0];
  if (s.wal_level !== 'logical')
    err(
      'TARGET_WAL_LEVEL',
      `${where} has wal_level = ${s.wal_level}: the reverse replication that keeps a rollback possible after ` +
        'the cutover needs logical there; set it and restart that server',
    );
  if (s.free_slots < 1) err('TARGET_NO_FREE_SLOT', `${where} has no free replication slot for the reverse replication`);
  if (!s.super && !s.createdb) err('TARGET_PRIVILEGES', `${where}: the user may not create the target database`);
  if (!s.super && !s.replication)
    err('TARGET_PRIVILEGES', `${where}: the user lacks REPLICATION, which the reverse replication's slot needs`);
  if (!s.subscribe)
    err(
      'TARGET_PRIVILEGES',
      `${where}: the user may not create subscriptions (superuser, or pg_create_subscription on 16+)`,
    );
  const refusal = provisionRefusal(await readMark(c, database), owner, `database ${database} on ${where}`);
  if (refusal) err('TARGET_EXISTS', refusal);
  return findings;
}
