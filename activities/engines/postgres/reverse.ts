// Reverse replication: from the switch of a cutover until the operator finalizes or rolls back,
// the target's writes flow back to the source: a publication and a logical slot on the target, a
// subscription on the source (no initial copy: the source already has everything up to the final
// fence). The same tables as the forward job, dbmig's heartbeat and fence included, so a rollback
// (rollback.ts) drains to a fence as the cutover does.
//
// Ordering keeps changes from looping (PostgreSQL 15 has no `origin = none`): it is set up only
// once the forward subscription is stopped and its worker has exited, so what the source applies
// from the target is never sent back to it; a rollback stops it before the source takes writes.
//
// The source is closed when this is set up (close-source.ts). The apply worker connects as the
// subscription's owner, the migration user, which keeps CONNECT, and takes the database's
// default_transaction_read_only = on like any session: a plain apply writes anyway (it does not go
// through the executor's read-only check), but a trigger enabled ALWAYS or REPLICA that writes
// fails with "cannot execute INSERT in a read-only transaction" (seen on PostgreSQL 15), and the
// rollback's gate then refuses on the apply errors. Giving the migration user its own
// default_transaction_read_only = off in the source database would let such triggers run, but it
// would also reopen the source to every other session of that role, and an application that uses
// it (a superuser, in many small setups) would write to a closed source: split brain. So it is not
// done. (Older job records may hold applyRoleReadOnly from when it was; finalize and rollback
// still restore it.)
import pg from 'pg';
import { MigrationError } from '../../../common/failures';
import { type ReverseReplication } from '../../steps';
import { listTables } from './assess';
import type { ConnectionParams } from './sessions';
import type { JobRecord, ReverseRecord } from './job-record';
import type { Direction } from './migrated-set';
import {
  conninfo,
  dropSourceObjects,
  ensurePublication,
  ensureReplicaIdentity,
  ensureSlot,
  hasSubscription,
  setSubscriptionEnabled,
  stopSubscription,
  takesRequireAuth,
  type JobNames,
} from './replication';
import { createSubscriptionSecretly } from './subscription-secret';

/** Within 63 bytes: the forward names are at most 49 (common/naming.ts). */
export function reverseNames(names: JobNames): ReverseReplication {
  return {
    publication: `${names.publication}_rev`,
    slot: `${names.slot}_rev`,
    subscription: `${names.subscription}_rev`,
  };
}

const ROLE_READ_ONLY = `
  select split_part(x, '=', 2) as value from pg_db_role_setting s, unnest(s.setconfig) x
   where s.setdatabase = (select oid from pg_database where datname = current_database())
     and s.setrole = (select oid from pg_roles where rolname = current_user)
     and x like 'default_transaction_read_only=%'`;

/**
 * Before the block, while nothing is blocked: the reverse publication and slot on the target.
 * Creating a logical slot waits until every transaction holding an xid on the whole target
 * instance has ended (another database's initial copy there, say); done here, that wait costs
 * time but no outage, and at the switch the slot is only moved past what the forward apply wrote
 * (setUpReverse). Bounded by cutover.timeout: past it, CutoverNotReady, and nothing was blocked.
 * A cutover that stops before its point of no return drops them again (dropPreparedReverse).
 */
export async function prepareReverse(
  src: pg.Client,
  target: pg.Client,
  names: JobNames,
  targetDatabase: string,
  timeoutMs: number,
): Promise<void> {
  const reverse = reverseNames(names);
  // Each step may wait: for table locks (replica identity, the publication, normally made with the
  // job already) or for transactions on the instance (the slot). All of it within cutover.timeout.
  await target.query(`set statement_timeout = ${Math.max(1, timeoutMs)}`);
  try {
    await ensureReversePublication(src, target, names);
    await ensureSlot(target, reverse.slot, targetDatabase);
  } catch (err) {
    if ((err as { code?: string }).code !== '57014') throw err;
    throw new MigrationError(
      'CutoverNotReady',
      `preparing reverse replication (${reverse.publication}, ${reverse.slot}) on the target waited over ` +
        `${timeoutMs} ms for locks or for transactions running on the target instance (another database ` +
        'copying there?); nothing was blocked',
    );
  } finally {
    await target.query('reset statement_timeout').catch(() => undefined);
  }
}

/**
 * The reverse publication on the target, made with the migration job: it takes a lock on each
 * table, which is free then, and costs nothing until a slot reads it.
 */
export async function ensureReversePublication(src: pg.Client, target: pg.Client, names: JobNames): Promise<void> {
  // The forward publication's tables, as they exist on the target (where keys are checked: the
  // schema was copied before the forward job gave key-less tables REPLICA IDENTITY FULL).
  const forward = await publishedTables(src, names.publication);
  const tables = (await listTables(target)).filter((t) => forward.includes(t.name));
  await ensureReplicaIdentity(target, tables);
  const publication = reverseNames(names).publication;
  const exists = await target.query('select 1 from pg_publication where pubname = $1', [publication]);
  if (!exists.rowCount) return ensurePublication(target, publication, tables);
  // A table added to the forward publication after the job was made (how an operator carries a
  // table a deploy created: migrated-set.ts) is added here, before the block, so the way back
  // covers every table the way there did.
  const listed = await publishedTables(target, publication);
  const missing = tables.filter((t) => !listed.includes(t.name)).map((t) => t.name);
  if (missing.length)
    await target.query(`alter publication ${pg.escapeIdentifier(publication)} add table ${missing.join(', ')}`);
}

/**
 * The reverse direction after the cutover: the target publishes, the source subscribes. A rollback's
 * gate refuses by name while the target has a table or large object this does not carry
 * (migrated-set.ts): a rollback that reported success would leave its rows behind.
 */
export function reverseDirection(tg: pg.Client, src: pg.Client, reverse: ReverseReplication): Direction {
  return { pub: tg, sub: src, publication: reverse.publication, subscription: reverse.subscription, way: 'reverse' };
}

/** Removes what prepareReverse made, for a cutover that stopped before its point of no return. */
export async function dropPreparedReverse(target: pg.Client, names: JobNames): Promise<void> {
  const { publication, slot, subscription } = reverseNames(names);
  await dropSourceObjects(target, { job: '', publication, slot, subscription });
}

/**
 * At the switch, on a closed source and a target that takes no writes yet (the forward apply has
 * exited): get-or-create, step by step; each step finds what a previous attempt made, and the
 * record says what to remove later. The slot prepared before the block is moved to where the
 * target's WAL was when the forward apply exited (`from`), so what that apply wrote never flows back
 * to the source and what an application wrote since (the target is open from the switch) does.
 */
export async function setUpReverse(
  src: pg.Client,
  target: pg.Client,
  names: JobNames,
  targetParams: ConnectionParams,
  rec: JobRecord,
  save: (patch: Partial<JobRecord>) => Promise<void>,
  deadline: number,
  from?: string,
): Promise<ReverseRecord> {
  // The first attempt's position stays: a retry's would be later, past writes an application made.
  const reverse: ReverseRecord = rec.reverse ?? { ...reverseNames(names), ...(from ? { from } : {}) };
  await save({ reverse });
  // Normally a no-op: prepared before the block (a retry after a lost record may need it).
  await prepareReverse(src, target, names, targetParams.database, Math.max(1, deadline - Date.now()));
  // Where the forward apply's last write is not known (a record of an older version), the WAL's
  // current position: exact while nobody else writes to the target yet.
  if (!(await hasSubscription(src, reverse)))
    await target.query(
      `select pg_replication_slot_advance($1, p.lsn)
         from pg_replication_slots, (select coalesce($2::pg_lsn, pg_current_wal_lsn()) as lsn) p
        where slot_name = $1 and confirmed_flush_lsn < p.lsn`,
      [reverse.slot, reverse.from ?? null],
    );
  await ensureReverseSubscription(src, reverse, targetParams);
  return reverse;
}

async function currentDatabase(c: pg.Client): Promise<string> {
  return (await c.query<{ db: string }>('select current_database() as db')).rows[0].db;
}

/** The tables of `publication`, as format('%I.%I') names. */
async function publishedTables(c: pg.Client, publication: string): Promise<string[]> {
  const { rows } = await c.query<{ name: string }>(
    `select format('%I.%I', schemaname, tablename) as name from pg_publication_tables where pubname = $1`,
    [publication],
  );
  return rows.map((r) => r.name);
}

/** Creates the subscription, enabled, copying nothing; an existing one of ours is enabled if it was not. */
async function ensureReverseSubscription(
  src: pg.Client,
  reverse: ReverseReplication,
  target: ConnectionParams,
): Promise<void> {
  if (await hasSubscription(src, reverse)) {
    await setSubscriptionEnabled(src, reverse.subscription, true);
    return;
  }
  // The target's password, in the source's catalog, never in a statement the source records.
  const connection = conninfo(target, await takesRequireAuth(src));
  await createSubscriptionSecretly(
    src,
    'the source',
    pg.escapeIdentifier(reverse.subscription),
    connection,
    `publication ${pg.escapeIdentifier(reverse.publication)}
     with (create_slot = false, slot_name = ${pg.escapeLiteral(reverse.slot)}, copy_data = false, enabled = true)`,
  );
}

/**
 * Removes reverse replication: the subscription on the source first (so nothing more is applied
 * there), without asking the target to drop the slot (it may be closed), then the migration
 * user's setting as it was, then the slot and the publication on the target. Each step is
 * delete-if-present.
 */
export async function dropReverse(src: pg.Client, target: pg.Client, reverse: ReverseRecord): Promise<void> {
  const sub = pg.escapeIdentifier(reverse.subscription);
  if (await hasSubscription(src, reverse)) {
    await stopSubscription(src, reverse.subscription, Date.now() + 30_000);
    await src.query(`alter subscription ${sub} set (slot_name = none)`);
    await src.query(`drop subscription ${sub}`);
  }
  await restoreApplyRole(src, reverse);
  const { publication, slot, subscription } = reverse;
  await dropSourceObjects(target, { job: '', publication, slot, subscription });
}

/** The migration user's default_transaction_read_only in the source database, back to what it was. */
async function restoreApplyRole(src: pg.Client, reverse: ReverseRecord): Promise<void> {
  const saved = reverse.applyRoleReadOnly;
  if (!saved) return;
  const role = pg.escapeIdentifier(saved.role);
  const db = pg.escapeIdentifier(await currentDatabase(src));
  const now = (await src.query<{ value: string }>(ROLE_READ_ONLY)).rows[0]?.value ?? null;
  if (now === saved.before) return;
  if (saved.before === null)
    await src.query(`alter role ${role} in database ${db} reset default_transaction_read_only`);
  else
    await src.query(
      `alter role ${role} in database ${db} set default_transaction_read_only = ${pg.escapeLiteral(saved.before)}`,
    );
}

/** Why a rollback after the cutover cannot run, or undefined when it can (or already did). */
export function rollbackRefusal(rec: JobRecord, what: string): MigrationError | undefined {
  const unavailable = (why: string) => new MigrationError('RollbackUnavailable', `cannot roll back ${what}: ${why}`);
  if (!rec.result) {
    return unavailable(
      rec.phase
        ? 'its cutover has not finished; retry the cutover (before its point of no return, rollbackCutover ' +
            'gives the source its writes back)'
        : 'it was never cut over; there is nothing to roll back',
    );
  }
  const reverse = rec.reverse;
  if (!reverse)
    return unavailable('its cutover set up no reverse replication, so the source never received the target writes');
  if (reverse.rollback?.result) return undefined;
  if (reverse.finalized)
    return unavailable(
      `the cutover was finalized at ${new Date(reverse.finalized.at).toISOString()}: reverse replication ` +
        `(${reverse.subscription} on the source) was dropped then and the source has not received the ` +
        "target's writes since; the target is the only database of record",
    );
  return undefined;
}
