// What the cutover checks before it blocks anything (the gate), and what it can tell an operator
// about a drain that did not finish. Reads only, but for the schema changes the gate carries before
// it checks (ddl-carry.ts), as every status read does.
import type pg from 'pg';
import { MigrationError } from '../../../common/failures';
import {
  listSequences,
  missingOnTarget,
  populatedMaterializedViews,
  refuseUnreadable,
  type SourceSequence,
} from './carry';
import type { CutoverEnv } from './cutover-env';
import { preparedTransactions } from './fence';
import { serverVersion } from './server-version';
import { heartbeatAge, heartbeatLag } from './lag';
import { refuseChangedSet, type Direction } from './migrated-set';
import { carrySchemaChanges } from './ddl-carry';

export interface CutoverLimits {
  maxLagSeconds: number;
  timeoutMs: number;
}

export interface Gate {
  tables: string[];
  sequences: SourceSequence[];
}

export interface Mark {
  token: string;
  lsn: string;
}

/** Everything that must hold before anything is blocked; else CutoverNotReady and nothing changed. */
export async function checkGate(env: CutoverEnv, h: pg.Client, t: pg.Client, limits: CutoverLimits): Promise<Gate> {
  const notReady = (why: string) =>
    new MigrationError('CutoverNotReady', `not cutting over: ${why}; nothing was blocked`);
  const sub = await t.query<{ oid: number; enabled: boolean; copying: string }>(
    `select s.oid, s.subenabled as enabled,
            (select count(*) from pg_subscription_rel r where r.srsubid = s.oid and r.srsubstate <> 'r') as copying
       from pg_subscription s where s.subname = $1`,
    [env.names.subscription],
  );
  if (!sub.rowCount) throw notReady(`subscription ${env.names.subscription} does not exist on the target`);
  if (!sub.rows[0].enabled)
    throw notReady(`replication is stopped (subscription ${env.names.subscription} is disabled)`);
  if (Number(sub.rows[0].copying)) throw notReady(`${sub.rows[0].copying} tables are still in their initial copy`);
  // A deploy's additive DDL since the last status read is carried first (ddl-carry.ts); a new table
  // is then copied, and the next attempt finds it ready.
  const { noPrimaryKey } = env.task.settings;
  const { carried } = await carrySchemaChanges({
    src: h,
    target: t,
    source: env.source,
    names: env.names,
    noPrimaryKey,
  });
  if (carried.some((c) => c.startsWith('ALTER SUBSCRIPTION')))
    throw notReady(`tables created on the source during CDC are being copied (${carried.join('; ')})`);
  // A table or large object the source has now and replication does not carry: MigratedSetChanged.
  await refuseChangedSet(forward(env, h, t), 'cutting over');

  const sequences = await listSequences(h);
  refuseUnreadable(sequences, env.source.user);
  const missing = await missingOnTarget(t, await populatedMaterializedViews(h));
  if (missing.length) throw notReady(`materialized views missing on the target: ${missing.join(', ')}`);
  const prepared = await preparedTransactions(h);
  if (prepared.length) throw preparedError(prepared);
  if (!(await maySubscribe(h)))
    throw new MigrationError(
      'PermissionDenied',
      `not cutting over: the migration user ${env.source.user} may not create the subscription that carries the ` +
        "target's writes back to the source (reverse.ts), which the cutover sets up after the source is closed: " +
        'it needs superuser on PostgreSQL 15, pg_create_subscription and CREATE on the database from 16; ' +
        'nothing was blocked',
    );

  const errorsBefore = await applyErrorCount(t, sub.rows[0].oid);
  const { maxLagSeconds } = limits;
  const lag = await heartbeatLag(h, t, env.names.job, maxLagSeconds * 1000);
  const newErrors = (await applyErrorCount(t, sub.rows[0].oid)) - errorsBefore;
  if (newErrors > 0) {
    const log = await env.applyErrors();
    throw notReady(
      `the target failed to apply ${newErrors} time(s) just now${log.length ? `: ${log.join(' | ')}` : ''}`,
    );
  }
  if (!lag.arrived)
    throw notReady(
      `lag is over cutover.maxLagSeconds (${maxLagSeconds} s): a heartbeat written on the source did not ` +
        'reach the target within it (the newest applied is ' +
        `${lag.lagSeconds === null ? 'none' : `${lag.lagSeconds.toFixed(1)} s old`})`,
    );
  return { tables: await publishedAppTables(h, env.names.publication), sequences };
}

/** The forward direction of the job: the source publishes, the target subscribes (migrated-set.ts). */
export function forward(env: Pick<CutoverEnv, 'names'>, h: pg.Client, t: pg.Client): Direction {
  const { publication, subscription } = env.names;
  return { pub: h, sub: t, publication, subscription, way: 'forward' };
}

/**
 * What is known about a drain that did not finish, for the operator. `h` publishes and `t`
 * subscribes: a rollback (rollback.ts) passes the target and the source, with the reverse names.
 */
export async function drainReport(
  env: CutoverEnv,
  h: pg.Client,
  t: pg.Client,
  mark: Mark,
  subscriber = 'the target',
): Promise<string> {
  const parts: string[] = [];
  const sub = await t.query<{ enabled: boolean; workers: string }>(
    `select s.subenabled as enabled,
            (select count(*) from pg_stat_subscription w
              where w.subid = s.oid and w.relid is null and w.pid is not null) as workers
       from pg_subscription s where s.subname = $1`,
    [env.names.subscription],
  );
  parts.push(
    !sub.rowCount
      ? 'the subscription is gone'
      : !sub.rows[0].enabled
        ? 'the subscription is disabled'
        : Number(sub.rows[0].workers)
          ? 'its apply worker runs'
          : 'no apply worker runs',
  );
  const slot = await h.query<{ active: boolean; confirmed: string | null; behind: string | null }>(
    `select active, confirmed_flush_lsn::text as confirmed,
            pg_wal_lsn_diff($2::pg_lsn, confirmed_flush_lsn)::bigint::text as behind
       from pg_replication_slots where slot_name = $1`,
    [env.names.slot, mark.lsn],
  );
  if (slot.rowCount) {
    const s = slot.rows[0];
    parts.push(
      `slot ${s.active ? 'in use' : 'not in use'}, confirmed up to ${s.confirmed}, ` +
        `${s.behind} bytes short of the fence at ${mark.lsn}`,
    );
  }
  const age = await heartbeatAge(h, t, env.names.job);
  parts.push(
    age === null
      ? `no heartbeat on ${subscriber}`
      : `the newest heartbeat on ${subscriber} was written ${age.toFixed(1)} s ago`,
  );
  const errors = await env.applyErrors();
  if (errors.length) parts.push(`${subscriber.replace(/^the /, '')} log: ${errors.join(' | ')}`);
  return parts.join('; ');
}

/** The published application tables: what the fence locks (dbmig's own stay writable for the drain). */
export async function publishedAppTables(h: pg.Client, publication: string): Promise<string[]> {
  const { rows } = await h.query<{ name: string }>(
    `select format('%I.%I', n.nspname, c.relname) as name
       from pg_publication p join pg_publication_rel pr on pr.prpubid = p.oid
       join pg_class c on c.oid = pr.prrelid join pg_namespace n on n.oid = c.relnamespace
      where p.pubname = $1 and n.nspname <> 'dbmig' order by 1`,
    [publication],
  );
  return rows.map((r) => r.name);
}

/** Whether the current user may create a subscription in this database (CREATE SUBSCRIPTION's own checks). */
async function maySubscribe(h: pg.Client): Promise<boolean> {
  const { rows } = await h.query<{ ok: boolean }>(
    `select r.rolsuper or (current_setting('server_version_num')::int >= 160000
              and has_database_privilege(current_database(), 'CREATE')
              and exists (select 1 from pg_roles g
                           where g.rolname = 'pg_create_subscription' and pg_has_role(g.oid, 'member'))) as ok
       from pg_roles r where r.rolname = current_user`,
  );
  return rows[0].ok;
}

/**
 * The subscription's apply and table-sync errors so far. pg_stat_subscription_stats is 15+: a
 * 12-14 server (a source, as the subscriber of the reverse replication a rollback uses) counts
 * none, and the gate relies on the fresh heartbeat alone there.
 */
export async function applyErrorCount(t: pg.Client, subid: number): Promise<number> {
  if ((await serverVersion(t)).num < 150000) return 0;
  const { rows } = await t.query<{ n: string }>(
    'select apply_error_count + sync_error_count as n from pg_stat_subscription_stats where subid = $1',
    [subid],
  );
  return rows.length ? Number(rows[0].n) : 0;
}

export function preparedError(prepared: string[]): MigrationError {
  return new MigrationError(
    'PreparedTransactions',
    `not cutting over while ${prepared.length} prepared transaction(s) exist on the source: ${prepared.join(', ')}; ` +
      'COMMIT PREPARED or ROLLBACK PREPARED them (a COMMIT PREPARED would write after the fence)',
  );
}
