// Cutover: block writes on the source, let the target apply everything up to the source's final
// LSN, carry the sequences over, then remove the replication objects. The write-block window
// is measured from the moment the source turned read-only.
import pg from 'pg';
import type { JobNames } from './replication';
import { dropSourceObjects, dropSubscription } from './replication';

export async function blockWrites(src: pg.Client, database: string): Promise<void> {
  await src.query(`alter database ${pg.escapeIdentifier(database)} set default_transaction_read_only = on`);
  // Sessions opened before the ALTER keep their old default; end them so they reconnect read-only.
  await src.query(
    `select pg_terminate_backend(pid) from pg_stat_activity
      where datname = $1 and pid <> pg_backend_pid() and backend_type = 'client backend'`,
    [database],
  );
}

export async function unblockWrites(src: pg.Client, database: string): Promise<void> {
  await src.query(`alter database ${pg.escapeIdentifier(database)} reset default_transaction_read_only`);
}

export async function currentLsn(src: pg.Client): Promise<string> {
  return (await src.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0].lsn;
}

/** True once the subscriber has confirmed everything up to `lsn` (or the slot is already gone). */
export async function appliedUpTo(src: pg.Client, slot: string, lsn: string): Promise<boolean> {
  const { rows } = await src.query<{ done: boolean }>(
    `select confirmed_flush_lsn >= $2::pg_lsn as done from pg_replication_slots where slot_name = $1`,
    [slot, lsn],
  );
  return rows.length === 0 || rows[0].done;
}

export async function copySequences(src: pg.Client, target: pg.Client): Promise<number> {
  const { rows } = await src.query<{ name: string; last_value: string | null }>(
    `select format('%I.%I', schemaname, sequencename) as name, last_value::text from pg_sequences
      where schemaname not in ('pg_catalog', 'information_schema')`,
  );
  for (const s of rows) {
    if (s.last_value === null) continue; // never used: the target's fresh sequence is already right
    await target.query('select setval($1::regclass, $2::bigint, true)', [s.name, s.last_value]);
  }
  return rows.length;
}

export async function removeReplication(src: pg.Client, target: pg.Client, names: JobNames): Promise<void> {
  await dropSubscription(target, names.subscription);
  await dropSourceObjects(src, names);
}
