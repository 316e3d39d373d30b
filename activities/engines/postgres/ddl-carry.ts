// Carries additive schema changes the source got during CDC to the target (schema-diff.ts says what
// they are): every status read, the live validation and the cutover's gate call it, so a deploy
// reaches the target without a human. What is carried, in this order:
//   1. new tables and sequences: created on the target from pg_dump -t of the source (with their
//      indexes, constraints and owned sequences), in one transaction;
//   2. new columns, indexes and constraints of tables both sides have: in one transaction;
//   3. new tables join the publication on the source (the migration user owns it), key-less ones
//      with REPLICA IDENTITY FULL when the plan says so;
//   4. the subscription is refreshed with copy_data = true: PostgreSQL's table sync copies each new
//      table's rows from a snapshot and hands it to the apply worker at that point, so the rows
//      written before it was published and those written after are each applied once.
// The apply worker skips a table until its sync is done, so nothing of a new table is applied out
// of order. A column is the exception that cannot be helped without an event trigger (which only a
// superuser may create): a row carrying it may reach the target before the next status read adds
// it there; apply then fails once and PostgreSQL retries it (wal_retrieve_retry_interval) after the
// column is there. Nothing is lost: the row is applied by the retry.
import pg from 'pg';
import type { Finding } from '../../steps';
import { warn } from '../../log';
import type { JobNames } from './replication';
import { applySchema, dumpSchema, settingNames, toSql } from './schema';
import { diffSchema, readCatalog, SCHEMA_NOT_CARRIED, type SchemaDiff } from './schema-diff';
import type { ConnectionParams } from './sessions';

export interface CarryJob {
  src: pg.Client;
  target: pg.Client;
  /** The source's connection, for pg_dump. */
  source: ConnectionParams;
  names: Pick<JobNames, 'job' | 'publication' | 'subscription'>;
  noPrimaryKey: 'fail' | 'replica-identity-full';
}

export interface Carried {
  /** What was done, one line each (logged; a status read shows none of it). */
  carried: string[];
  /** What could not be done now; also named by the gate (migrated-set.ts). */
  refused: Finding[];
}

/** The application tables a publication lists, and those a subscription has on the target. */
export async function replicatedSets(
  src: pg.Client,
  target: pg.Client,
  names: Pick<JobNames, 'publication' | 'subscription'>,
): Promise<{ published: Set<string>; subscribed: Set<string> }> {
  const pub = await src.query<{ name: string }>(
    `select format('%I.%I', n.nspname, c.relname) as name
       from pg_publication p join pg_publication_rel pr on pr.prpubid = p.oid
       join pg_class c on c.oid = pr.prrelid join pg_namespace n on n.oid = c.relnamespace
      where p.pubname = $1 and n.nspname <> 'dbmig'`,
    [names.publication],
  );
  const sub = await target.query<{ name: string }>(
    `select format('%I.%I', n.nspname, c.relname) as name
       from pg_subscription s join pg_subscription_rel r on r.srsubid = s.oid
       join pg_class c on c.oid = r.srrelid join pg_namespace n on n.oid = c.relnamespace
      where s.subname = $1 and n.nspname <> 'dbmig'
        and s.subdbid = (select oid from pg_database where datname = current_database())`,
    [names.subscription],
  );
  return { published: new Set(pub.rows.map((r) => r.name)), subscribed: new Set(sub.rows.map((r) => r.name)) };
}

/** Application tables of the subscription still in their copy (a table carried during CDC, or the initial copy). */
export async function tablesCopying(target: pg.Client, subscription: string): Promise<string[]> {
  const { rows } = await target.query<{ name: string }>(
    `select format('%I.%I', n.nspname, c.relname) as name
       from pg_subscription s join pg_subscription_rel r on r.srsubid = s.oid
       join pg_class c on c.oid = r.srrelid join pg_namespace n on n.oid = c.relnamespace
      where s.subname = $1 and r.srsubstate <> 'r' and n.nspname <> 'dbmig'
        and s.subdbid = (select oid from pg_database where datname = current_database())
      order by 1`,
    [subscription],
  );
  return rows.map((r) => r.name);
}

/** Waits up to `ms` for the subscription's copies to end; returns the tables still copying then. */
export async function awaitCopies(target: pg.Client, subscription: string, ms: number): Promise<string[]> {
  const until = Date.now() + ms;
  for (;;) {
    const copying = await tablesCopying(target, subscription);
    if (!copying.length || Date.now() >= until) return copying;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The schema differences between the job's two sides right now. Reads only. */
export async function schemaDiff(
  src: pg.Client,
  target: pg.Client,
  names: Pick<JobNames, 'publication' | 'subscription'>,
  publishKeyless = true,
): Promise<SchemaDiff> {
  const { published, subscribed } = await replicatedSets(src, target, names);
  return diffSchema(await readCatalog(src), await readCatalog(target), published, subscribed, publishKeyless);
}

/**
 * Carries what can be carried once the subscription runs (a disabled one cannot be refreshed). While
 * tables copy (a table carried during CDC, or the initial copy), the new columns, indexes and
 * constraints of the other tables are still carried: their rows keep coming, and a deploy's new
 * column must not wait for another table's copy while apply fails on it. New tables wait for the
 * copies to end. Two callers at once (the watcher's read and the gate) are kept apart by a lock on
 * the target: the second skips.
 */
export async function carrySchemaChanges(job: CarryJob): Promise<Carried> {
  const { src, target, names } = job;
  const out: Carried = { carried: [], refused: [] };
  const sub = await target.query<{ enabled: boolean; copying: string }>(
    `select s.subenabled as enabled,
            (select count(*) from pg_subscription_rel r where r.srsubid = s.oid and r.srsubstate <> 'r') as copying
       from pg_subscription s where s.subname = $1`,
    [names.subscription],
  );
  if (!sub.rowCount || !sub.rows[0].enabled) return out;
  const lock = `hashtext('dbmig ddl carry ' || $1::text)`;
  const got = await target.query<{ ok: boolean }>(`select pg_try_advisory_lock(${lock}) as ok`, [names.job]);
  if (!got.rows[0].ok) return out;
  try {
    const copying = new Set(await tablesCopying(target, names.subscription));
    const diff = await schemaDiff(src, target, names, job.noPrimaryKey === 'replica-identity-full');
    out.refused.push(...diff.refused);
    if (Number(sub.rows[0].copying)) {
      await alterTables(
        job,
        diff.statements.filter((st) => !copying.has(st.table)),
        out,
      );
    } else {
      await createObjects(job, diff, out);
      await alterTables(job, diff.statements, out);
      await publish(job, diff, out);
      await refresh(job, out);
    }
  } catch (err) {
    const message = `schema changes on the source could not be carried now: ${(err as Error).message}`;
    out.refused.push({ code: SCHEMA_NOT_CARRIED, severity: 'error', message });
  } finally {
    await target.query(`select pg_advisory_unlock(${lock})`, [names.job]);
  }
  for (const line of out.carried) warn(`${names.job}: carried to the target: ${line}`);
  return out;
}

async function createObjects(job: CarryJob, diff: SchemaDiff, out: Carried): Promise<void> {
  const { target } = job;
  const only = [...diff.newSequences, ...diff.newTables];
  if (only.length) {
    // The dump's settings (search_path among them) are made local to its transaction: the session
    // goes on serving the status read or the gate.
    const sql = toSql(await dumpSchema(job.source, { only }), await settingNames(target))
      .replace(/^SET (?!LOCAL )/gm, 'SET LOCAL ')
      .replace(/set_config\('search_path', '', false\)/g, "set_config('search_path', '', true)");
    await applySchema(target, sql);
    out.carried.push(...diff.newSequences.map((s) => `CREATE SEQUENCE ${s}`));
    out.carried.push(...diff.newTables.map((t) => `CREATE TABLE ${t}`));
  }
}

/** New columns, indexes and constraints of tables both sides have, in one transaction. */
async function alterTables(job: CarryJob, statements: SchemaDiff['statements'], out: Carried): Promise<void> {
  if (!statements.length) return;
  await applySchema(job.target, statements.map((st) => st.sql).join(';\n'));
  out.carried.push(...statements.map((st) => st.sql));
}

/** New tables join the publication; a key-less one (only when the plan allows such) with FULL identity. */
async function publish(job: CarryJob, diff: SchemaDiff, out: Carried): Promise<void> {
  const { src, names } = job;
  const tables = [...diff.newTables, ...diff.toPublish];
  if (!tables.length) return;
  for (const t of diff.keyless) await src.query(`alter table ${t} replica identity full`);
  await src.query(`alter publication ${pg.escapeIdentifier(names.publication)} add table ${tables.join(', ')}`);
  out.carried.push(`ALTER PUBLICATION ${names.publication} ADD TABLE ${tables.join(', ')}`);
}

/** Copies tables published and not yet subscribed, once the target has every one of them. */
async function refresh(job: CarryJob, out: Carried): Promise<void> {
  const { src, target, names } = job;
  const { published, subscribed } = await replicatedSets(src, target, names);
  const missing = [...published].filter((t) => !subscribed.has(t));
  if (!missing.length) return;
  const there = await target.query<{ n: string }>(
    'select count(*) as n from unnest($1::text[]) t where to_regclass(t) is not null',
    [missing],
  );
  // A published table the target lacks (renamed on the source) would fail the refresh: refused instead.
  if (Number(there.rows[0].n) !== missing.length) return;
  await target.query(
    `alter subscription ${pg.escapeIdentifier(names.subscription)} refresh publication with (copy_data = true)`,
  );
  out.carried.push(`ALTER SUBSCRIPTION ${names.subscription} REFRESH PUBLICATION (copies ${missing.join(', ')})`);
}

/** How long after a carry of columns errors are still the column's: a failed worker's count may show late. */
const HEAL_MS = 10_000;

/**
 * Apply errors a carried column explains, kept apart from the count the waits and the watcher judge
 * replication by: a row carrying a new column that reached the target before the column did fails
 * apply until the column is there, and PostgreSQL's retry then applies it; three such errors would
 * otherwise fail a wait as "replication keeps failing". Errors counted since the read before a carry
 * of columns, and until HEAL_MS after it, are the column's; any other error counts as before (one
 * that persists shows again after that). Held by the worker: after a restart the count starts again
 * from the target's.
 */
export class HealedErrors {
  private readonly jobs = new Map<string, { last: number; healed: number; carriedAt?: number }>();
  /** Tables this worker carried, per job: their copy is not the initial copy (replication.ts). */
  readonly tables = new Map<string, Set<string>>();

  /** Notes what a read carried. */
  carried(job: string, c: Carried): void {
    const made = c.carried.flatMap((l) => (l.startsWith('CREATE TABLE ') ? [l.slice('CREATE TABLE '.length)] : []));
    if (!made.length) return;
    const set = this.tables.get(job) ?? new Set<string>();
    for (const t of made) set.add(t);
    this.tables.set(job, set);
  }

  /** The error count to report for `job`, given the target's raw count and whether this read added columns. */
  count(job: string, raw: number, addedColumns: boolean, now = Date.now()): number {
    const j = this.jobs.get(job) ?? { last: raw, healed: 0 };
    if (addedColumns) j.carriedAt = now;
    if (j.carriedAt !== undefined && now - j.carriedAt <= HEAL_MS) j.healed += Math.max(0, raw - j.last);
    j.last = raw;
    this.jobs.set(job, j);
    return Math.max(0, raw - j.healed);
  }

  healed(job: string): number {
    return this.jobs.get(job)?.healed ?? 0;
  }
}
