// Assessment runs before any side effect and names every trap of native logical replication.
import type pg from 'pg';
import type { AssessmentResult, Finding } from '../../steps';
import { serverVersion } from './server-version';

export interface SourceTable {
  name: string; // schema-qualified, quoted
  hasKey: boolean;
  partitioned: boolean;
}

/**
 * User tables that a publication should list: plain tables and partition roots, not partitions.
 * dbmig's own schema is not the application's: the job adds its tables itself (owned.ts).
 */
export async function listTables(c: pg.Client): Promise<SourceTable[]> {
  const { rows } = await c.query<{ name: string; has_key: boolean; partitioned: boolean }>(`
    select format('%I.%I', n.nspname, c.relname) as name,
           (c.relreplident = 'f' or exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary)
            or (c.relreplident = 'i'
                and exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisreplident))) as has_key,
           c.relkind = 'p' as partitioned
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p') and not c.relispartition and c.relpersistence = 'p'
       and n.nspname not in ('pg_catalog', 'information_schema', 'dbmig') and n.nspname not like 'pg_toast%'
     order by 1`);
  return rows.map((r) => ({ name: r.name, hasKey: r.has_key, partitioned: r.partitioned }));
}

export async function assess(c: pg.Client, noPrimaryKey: 'fail' | 'replica-identity-full'): Promise<AssessmentResult> {
  const findings: Finding[] = [];
  const version = (await c.query<{ server_version: string }>('show server_version')).rows[0].server_version;
  if (parseInt(version, 10) < 10)
    findings.push({
      code: 'UNSUPPORTED_VERSION',
      severity: 'error',
      message: `PostgreSQL ${version} has no native logical replication (10 or later needed)`,
    });

  const walLevel = (await c.query<{ wal_level: string }>('show wal_level')).rows[0].wal_level;
  if (walLevel !== 'logical')
    findings.push({
      code: 'WAL_LEVEL',
      severity: 'error',
      message: `wal_level is ${walLevel}; set wal_level = logical and restart the source`,
    });

  const slots = (
    await c.query<{ free: number }>(
      `select current_setting('max_replication_slots')::int - (select count(*) from pg_replication_slots)::int as free`,
    )
  ).rows[0].free;
  if (slots < 1)
    findings.push({
      code: 'NO_FREE_SLOT',
      severity: 'error',
      message: 'no free replication slot: raise max_replication_slots or drop an unused slot',
    });
  const senders = (
    await c.query<{ free: number }>(
      `select current_setting('max_wal_senders')::int - (select count(*) from pg_stat_replication)::int as free`,
    )
  ).rows[0].free;
  if (senders < 1)
    findings.push({
      code: 'NO_FREE_WAL_SENDER',
      severity: 'error',
      message: 'no free WAL sender: raise max_wal_senders',
    });

  const tables = await listTables(c);
  for (const t of tables.filter((x) => !x.hasKey)) {
    findings.push(
      noPrimaryKey === 'fail'
        ? {
            code: 'NO_PRIMARY_KEY',
            severity: 'error',
            table: t.name,
            message:
              `${t.name} has no primary key or replica identity: UPDATE and DELETE would fail once published ` +
              '(plan option noPrimaryKey: replica-identity-full handles it)',
          }
        : {
            code: 'NO_PRIMARY_KEY',
            severity: 'warning',
            table: t.name,
            message: `${t.name} has no primary key: it will be published with REPLICA IDENTITY FULL`,
          },
    );
  }
  const { num } = await serverVersion(c);
  for (const t of tables.filter((x) => x.partitioned)) {
    findings.push(
      num >= 130000
        ? {
            code: 'PARTITIONED_TABLE',
            severity: 'info',
            table: t.name,
            message: `${t.name} is partitioned: published through its root (publish_via_partition_root)`,
          }
        : {
            code: 'PARTITIONED_TABLE',
            severity: 'error',
            table: t.name,
            message:
              `${t.name} is partitioned, and PostgreSQL ${version} cannot publish a partitioned table ` +
              '(publish_via_partition_root is 13+): upgrade the source to 13 or later first',
          },
    );
  }

  const lobs = Number((await c.query<{ n: string }>('select count(*) as n from pg_largeobject_metadata')).rows[0].n);
  if (lobs > 0)
    findings.push({
      code: 'LARGE_OBJECTS',
      severity: 'error',
      message: `${lobs} large objects: logical replication does not carry them`,
    });

  const unlogged = await c.query<{ name: string }>(`
    select format('%I.%I', n.nspname, c.relname) as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind = 'r' and c.relpersistence = 'u' and n.nspname not in ('pg_catalog', 'information_schema')`);
  for (const r of unlogged.rows)
    findings.push({
      code: 'UNLOGGED_TABLE',
      severity: 'warning',
      table: r.name,
      message: `${r.name} is unlogged: its rows are not replicated (the table is created empty)`,
    });

  const seqs = Number(
    (
      await c.query<{ n: string }>(
        `select count(*) as n from pg_sequences where schemaname not in ('pg_catalog', 'information_schema')`,
      )
    ).rows[0].n,
  );
  if (seqs > 0)
    findings.push({
      code: 'SEQUENCES',
      severity: 'info',
      message: `${seqs} sequences: not replicated, their values are copied at cutover`,
    });

  const matviews = Number(
    (await c.query<{ n: string }>(`select count(*) as n from pg_matviews where ispopulated`)).rows[0].n,
  );
  if (matviews > 0)
    findings.push({
      code: 'MATERIALIZED_VIEWS',
      severity: 'info',
      message: `${matviews} populated materialized views: not replicated, refreshed on the target at cutover`,
    });

  const est = Number(
    (
      await c.query<{ n: string }>(
        `select coalesce(sum(n_live_tup), 0) as n from pg_stat_user_tables where schemaname <> 'dbmig'`,
      )
    ).rows[0].n,
  );
  return {
    serverVersion: version,
    tables: tables.map((t) => t.name),
    estimatedRows: est,
    findings,
    blocked: findings.some((f) => f.severity === 'error'),
  };
}
