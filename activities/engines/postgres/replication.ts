// The "migration job" of native logical replication: a publication and a logical slot on the source, a subscription on
// the target. Every function is get-or-create or delete-if-present, so a retry is harmless.
import pg from 'pg';
import type { ConnectionParams } from './sessions';
import { serverVersion } from './server-version';
import { MigrationError } from '../../../common/failures';
import { notCreatedStatus, type ReplicationStatus } from '../../steps';
import type { SourceTable } from './assess';
import { heartbeatAge, heartbeatLag } from './lag';
import { OWNED_TABLES } from './owned';
import { createSubscriptionSecretly } from './subscription-secret';

export interface JobNames {
  /** dbmig's key for this job in its own tables (heartbeat, fence). */
  job: string;
  publication: string;
  slot: string;
  subscription: string;
}

/** A status read in CDC waits this long for its own heartbeat before it reports an older one's age. */
const HEARTBEAT_WAIT_MS = 250;

/** What the publication carries: the application's tables and dbmig's heartbeat and fence. */
function publishedTables(tables: SourceTable[]): string[] {
  return [...tables.map((t) => t.name), ...OWNED_TABLES].sort();
}

export async function ensureReplicaIdentity(src: pg.Client, tables: SourceTable[]): Promise<void> {
  for (const t of tables.filter((x) => !x.hasKey)) await src.query(`alter table ${t.name} replica identity full`);
}

/** Whether our publication exists; refuses one that publishes other tables. */
async function hasPublication(src: pg.Client, name: string, tables: SourceTable[]): Promise<boolean> {
  const existing = await src.query<{ tables: string[] | null }>(
    `select array(select format('%I.%I', n.nspname, c.relname) from pg_publication_rel pr
                   join pg_class c on c.oid = pr.prrelid join pg_namespace n on n.oid = c.relnamespace
                  where pr.prpubid = p.oid order by 1) as tables
       from pg_publication p where p.pubname = $1`,
    [name],
  );
  const wanted = publishedTables(tables);
  if (existing.rowCount) {
    const have = [...(existing.rows[0].tables ?? [])].sort();
    if (have.join(',') !== wanted.join(',')) {
      throw new MigrationError(
        'AlreadyExistsMismatch',
        `publication ${name} exists with tables [${have.join(', ')}], expected [${wanted.join(', ')}]`,
      );
    }
    return true;
  }
  return false;
}

export async function ensurePublication(src: pg.Client, name: string, tables: SourceTable[]): Promise<void> {
  if (await hasPublication(src, name, tables)) return;
  // publish_via_partition_root is 13+; a 12 source has no partitioned table to publish (assess.ts).
  const { num } = await serverVersion(src);
  await src.query(
    `create publication ${pg.escapeIdentifier(name)} for table ${publishedTables(tables).join(', ')}
     ${num >= 130000 ? 'with (publish_via_partition_root = true)' : ''}`,
  );
}

/** Whether our slot exists; refuses one of another database or plugin. */
async function hasSlot(src: pg.Client, slot: string, database: string): Promise<boolean> {
  const { rows } = await src.query<{ plugin: string; database: string }>(
    'select plugin, database from pg_replication_slots where slot_name = $1',
    [slot],
  );
  if (rows.length) {
    if (rows[0].plugin !== 'pgoutput' || rows[0].database !== database) {
      throw new MigrationError(
        'AlreadyExistsMismatch',
        `replication slot ${slot} exists for ${rows[0].database}/${rows[0].plugin}, expected ${database}/pgoutput`,
      );
    }
    return true;
  }
  return false;
}

export async function ensureSlot(src: pg.Client, slot: string, database: string): Promise<void> {
  if (await hasSlot(src, slot, database)) return;
  await src.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
}

/**
 * The subscription's connection string; it holds the password, so it is never logged or put in an
 * error. `requireScram`: the server's libpq (16+) refuses to send the password other than through
 * SCRAM-SHA-256; before 16 there is no such option, and the node-postgres session the same step
 * opened first to the same host, user and database (which sends it only so: clusters.ts) stands for it.
 */
export function conninfo(src: ConnectionParams, requireScram = false): string {
  const q = (v: string | number) => `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const where = `host=${q(src.host)} port=${q(src.port)} dbname=${q(src.database)}`;
  return `${where} user=${q(src.user)} password=${q(src.password)}${requireScram ? ' require_auth=scram-sha-256' : ''}`;
}

/** Whether the server `c` is connected to takes require_auth in a connection string (its libpq is 16+). */
export async function takesRequireAuth(c: pg.Client): Promise<boolean> {
  const { rows } = await c.query<{ v: number }>(`select current_setting('server_version_num')::int as v`);
  return rows[0].v >= 160000;
}

/** Whether our subscription exists; refuses one of another publication or slot. */
export async function hasSubscription(
  target: pg.Client,
  names: Pick<JobNames, 'publication' | 'slot' | 'subscription'>,
): Promise<boolean> {
  const { rows } = await target.query<{ pubs: string[]; slot: string | null }>(
    `select subpublications as pubs, subslotname as slot from pg_subscription
      where subname = $1 and subdbid = (select oid from pg_database where datname = current_database())`,
    [names.subscription],
  );
  if (rows.length) {
    const pubs = rows[0].pubs;
    if (pubs.length !== 1 || pubs[0] !== names.publication || rows[0].slot !== names.slot) {
      throw new MigrationError(
        'AlreadyExistsMismatch',
        `subscription ${names.subscription} exists with publications [${pubs.join(', ')}] and slot ` +
          `${rows[0].slot}, expected [${names.publication}] and ${names.slot}`,
      );
    }
    return true;
  }
  return false;
}

/** Options of CREATE SUBSCRIPTION beyond what every version takes (subscription-options.ts). */
export interface SubscriptionOptions {
  binary: boolean;
  streaming: 'default' | 'parallel';
  /** False when dbmig copies the rows itself (snapshot-copy.ts): the subscription then only applies changes. */
  copyData?: boolean;
}

export async function ensureSubscription(
  target: pg.Client,
  names: JobNames,
  src: ConnectionParams,
  opts: SubscriptionOptions = { binary: false, streaming: 'default' },
): Promise<void> {
  if (await hasSubscription(target, names)) return;
  const connection = conninfo(src, await takesRequireAuth(target));
  const extra = [opts.binary ? ', binary = true' : '', opts.streaming === 'parallel' ? ', streaming = parallel' : ''];
  const slot = pg.escapeLiteral(names.slot);
  const copyData = opts.copyData === false ? 'false' : 'true';
  // The source's password: never in a statement the target records (subscription-secret.ts).
  await createSubscriptionSecretly(
    target,
    'the target',
    pg.escapeIdentifier(names.subscription),
    connection,
    `publication ${pg.escapeIdentifier(names.publication)}
     with (create_slot = false, slot_name = ${slot}, enabled = false, copy_data = ${copyData}${extra.join('')})`,
  );
}

/**
 * Refuses a job whose publication, slot or subscription exists with another configuration,
 * before any of them is created: a refused job must not leave a slot behind to pin the
 * source's WAL, nor a publication nobody will use.
 */
export async function refuseConflictingJob(
  src: pg.Client,
  target: pg.Client,
  names: JobNames,
  database: string,
  tables: SourceTable[],
): Promise<void> {
  await hasPublication(src, names.publication, tables);
  await hasSlot(src, names.slot, database);
  await hasSubscription(target, names);
}

export async function setSubscriptionEnabled(target: pg.Client, sub: string, enabled: boolean): Promise<boolean> {
  const { rowCount } = await target.query('select 1 from pg_subscription where subname = $1', [sub]);
  if (!rowCount) return false;
  await target.query(`alter subscription ${pg.escapeIdentifier(sub)} ${enabled ? 'enable' : 'disable'}`);
  return true;
}

/**
 * Disables `sub` and waits until its workers have exited: from then on nothing it receives is
 * applied. A disabled subscription's apply worker exits by itself only when it next looks at the
 * catalog (up to a second idle), so it is ended here; the launcher starts none for a disabled one.
 */
export async function stopSubscription(c: pg.Client, sub: string, deadline: number): Promise<void> {
  if (!(await setSubscriptionEnabled(c, sub, false))) return;
  for (;;) {
    const { rows } = await c.query<{ pid: number }>(
      `select w.pid from pg_stat_subscription w join pg_subscription s on s.oid = w.subid
        where s.subname = $1 and w.pid is not null`,
      [sub],
    );
    if (!rows.length) return;
    if (Date.now() >= deadline)
      throw new MigrationError(
        'CutoverTimedOut',
        `the workers of subscription ${sub} (pids ${rows.map((r) => r.pid).join(', ')}) did not exit in time`,
      );
    await c.query('select pg_terminate_backend(pid) from unnest($1::int[]) pid', [rows.map((r) => r.pid)]);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Drops the subscription and, through it, the main and table-sync slots on the source. */
export async function dropSubscription(target: pg.Client, sub: string): Promise<void> {
  const { rowCount } = await target.query('select 1 from pg_subscription where subname = $1', [sub]);
  if (!rowCount) return;
  const id = pg.escapeIdentifier(sub);
  await target.query(`alter subscription ${id} disable`);
  // The apply worker exits asynchronously; DROP fails while the source still sees the slot active.
  for (let attempt = 0; ; attempt++) {
    try {
      await target.query(`drop subscription ${id}`);
      return;
    } catch (err) {
      const message = (err as Error).message;
      if (/could not connect to publisher/i.test(message)) {
        // The source refuses the subscription's connection (the migration user lost REPLICATION, or
        // the source is gone): PostgreSQL's documented way out is to detach the slot and drop the
        // subscription alone; the slot, if the source has it, is dropSourceObjects' to remove.
        await target.query(`alter subscription ${id} set (slot_name = none)`);
        await target.query(`drop subscription ${id}`);
        return;
      }
      if (attempt >= 50 || !/is active|being used/i.test(message)) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Source-side leftovers: our slot (if the subscription never took it over) and the publication. */
export async function dropSourceObjects(src: pg.Client, names: JobNames): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const { rows } = await src.query<{ active_pid: number | null }>(
      'select active_pid from pg_replication_slots where slot_name = $1',
      [names.slot],
    );
    if (!rows.length) break;
    if (rows[0].active_pid) await src.query('select pg_terminate_backend($1)', [rows[0].active_pid]);
    try {
      await src.query('select pg_drop_replication_slot($1)', [names.slot]);
      break;
    } catch (err) {
      if (attempt >= 50 || !/is active|does not exist/i.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await src.query(`drop publication if exists ${pg.escapeIdentifier(names.publication)}`);
}

/**
 * `carried`: tables carried during CDC (ddl-carry.ts); their copy is not the job's initial copy, and
 * while only they copy the phase stays CDC, with lag measured, and says so in its detail.
 */
export async function replicationStatus(
  src: pg.Client,
  target: pg.Client,
  names: JobNames,
  carried: ReadonlySet<string> = new Set(),
): Promise<ReplicationStatus> {
  const sub = await target.query<{ oid: number; enabled: boolean }>(
    'select oid, subenabled as enabled from pg_subscription where subname = $1',
    [names.subscription],
  );
  const status = notCreatedStatus();
  const rows = await target.query<{ n: string }>(
    `select coalesce(sum(n_live_tup), 0) as n from pg_stat_user_tables where schemaname <> 'dbmig'`,
  );
  status.rowsOnTarget = Number(rows.rows[0].n);
  if (!sub.rowCount) return status;
  const { oid, enabled } = sub.rows[0];
  const rel = await target.query<{ total: string; ready: string }>(
    `select count(*) as total, count(*) filter (where srsubstate = 'r') as ready
       from pg_subscription_rel where srsubid = $1`,
    [oid],
  );
  status.tablesTotal = Number(rel.rows[0].total);
  status.tablesReady = Number(rel.rows[0].ready);
  const errs = await target.query<{ apply: string; sync: string }>(
    'select apply_error_count as apply, sync_error_count as sync from pg_stat_subscription_stats where subid = $1',
    [oid],
  );
  if (errs.rowCount) status.errorCount = Number(errs.rows[0].apply) + Number(errs.rows[0].sync);
  if (!enabled) {
    status.phase = status.tablesReady > 0 ? 'STOPPED' : 'CREATED';
    // Stopped replication is lag that grows: the newest applied heartbeat only gets older.
    if (status.phase === 'STOPPED') {
      status.lagSeconds = await heartbeatAge(src, target, names.job);
      status.sampleAgeSeconds = 0;
    }
    return status;
  }
  status.phase = status.tablesReady < status.tablesTotal ? 'FULL_DUMP' : 'CDC';
  if (status.phase === 'FULL_DUMP' && carried.size) {
    const copying = await target.query<{ name: string }>(
      `select format('%I.%I', n.nspname, c.relname) as name from pg_subscription_rel r
         join pg_class c on c.oid = r.srrelid join pg_namespace n on n.oid = c.relnamespace
        where r.srsubid = $1 and r.srsubstate <> 'r'`,
      [oid],
    );
    const names = copying.rows.map((r) => r.name);
    if (names.every((n) => carried.has(n))) {
      status.phase = 'CDC';
      status.detail = `copying ${names.join(', ')} (created on the source during CDC)`;
    }
  }
  // During the initial copy lag has no meaning yet (changes queue behind the copy), and the reads
  // come every 250 ms: no heartbeat is written then, so the copy competes with as little as possible.
  if (status.phase === 'FULL_DUMP') return status;
  const hb = await heartbeatLag(src, target, names.job, HEARTBEAT_WAIT_MS);
  status.lagSeconds = hb.lagSeconds;
  status.sampleAgeSeconds = hb.sampleAgeSeconds;
  // confirmed_flush_lsn is what the subscription confirmed it applied: its advance over time is the
  // apply rate the watcher judges (apply-slow), read in the same query as the lag in bytes.
  const bytes = await src.query<{ bytes: string | null; applied: string | null }>(
    `select pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text as bytes,
            pg_wal_lsn_diff(confirmed_flush_lsn, '0/0')::bigint::text as applied
       from pg_replication_slots where slot_name = $1`,
    [names.slot],
  );
  if (bytes.rowCount && bytes.rows[0].bytes !== null) status.lagBytes = Math.max(0, Number(bytes.rows[0].bytes));
  if (bytes.rowCount && bytes.rows[0].applied !== null) status.appliedBytes = Number(bytes.rows[0].applied);
  return status;
}
