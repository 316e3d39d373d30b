// What an existing server (kind postgres) must offer before anything is created on it, checked by
// the assessment over the same connection the migration will use. The reverse replication that
// keeps a rollback possible after the cutover runs from this server back to the source, so it needs
// what a source needs: wal_level = logical and a free slot. The user must be a superuser: CREATE
// SUBSCRIPTION's text holds the source's password, and only a superuser may switch off, for its own
// session, the logging that would write that text to the server's log (replication.ts,
// withUnloggedStatement); a server someone else runs is no place for it.
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
  const { rows } = await c.query<{ wal_level: string; free_slots: number; super: boolean }>(
    `select current_setting('wal_level') as wal_level,
            current_setting('max_replication_slots')::int - (select count(*) from pg_replication_slots)::int
              as free_slots,
            r.rolsuper as super
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
  if (!s.super)
    err(
      'TARGET_PRIVILEGES',
      `${where}: the user is not a superuser. It creates the database, the subscription and the reverse slot, ` +
        "and CREATE SUBSCRIPTION's text holds the source's password: only a superuser can keep it out of that " +
        "server's log (log_statement, log_min_error_statement) for its own session. Use a superuser for the move",
    );
  const refusal = provisionRefusal(await readMark(c, database), owner, `database ${database} on ${where}`);
  if (refusal) err('TARGET_EXISTS', refusal);
  return findings;
}
