// What an existing server (kind postgres) must offer before anything is created on it, checked by
// the assessment over the same connection the migration will use. The reverse replication that
// keeps a rollback possible after the cutover runs from this server back to the source, so it needs
// what a source needs: wal_level = logical and a free slot. The user must be a superuser: it
// creates the database, the subscription (superuser-only before PostgreSQL 16) and the reverse
// slot; a server someone else runs is no place for anything less certain.
//
// Both servers are asked whether they would record a subscription's password (the forward
// subscription is made on the target, the reverse one on the source): subscription-secret.ts keeps
// it out of every statement, but some settings record even nested statements, and where the
// migration user cannot switch them off for its own transaction the migration is refused here,
// before any statement, naming the setting (passwordRecordingFindings).
import type pg from 'pg';
import type { Finding } from '../../steps';
import { passwordRecordingRefusals } from '../../engines/postgres/subscription-secret';
import { provisionRefusal, readMark, type TargetOwner } from '../../engines/postgres/target-mark';

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
        'and CREATE SUBSCRIPTION is superuser-only before PostgreSQL 16. Use a superuser for the move',
    );
  findings.push(...(await passwordRecordingFindings(c, where, 'TARGET_RECORDS_PASSWORD', 'source')));
  const refusal = provisionRefusal(await readMark(c, database), owner, `database ${database} on ${where}`);
  if (refusal) err('TARGET_EXISTS', refusal);
  return findings;
}

/**
 * A finding for each way `where` would record the password of a subscription made on it (whose
 * connection string holds `whose` password), for the user `c` is connected as; none when it would not.
 */
export async function passwordRecordingFindings(
  c: pg.Client,
  where: string,
  code: string,
  whose: 'source' | 'target',
): Promise<Finding[]> {
  return (await passwordRecordingRefusals(c)).map((why) => ({
    code,
    severity: 'error' as const,
    message:
      `${where} would record the ${whose}'s password, which the ${whose === 'source' ? 'forward' : 'reverse'} ` +
      `subscription made there holds: ${why}. Nothing was created; switch it off on that server or grant the ` +
      'user SET on it (GRANT SET ON PARAMETER, PostgreSQL 15+)',
  }));
}
