// A rehearsal's copy of one source database into an embedded cluster. Everything is read in one
// REPEATABLE READ, READ ONLY transaction on the source, whose exported snapshot pg_dump reads the
// schema in: schema, rows and sequence values are one consistent moment. Nothing is written on the
// source: no slot, publication, role or setting; the transaction holds only ACCESS SHARE locks
// while it copies. With a sample, each table gives that share of its rows (TABLESAMPLE BERNOULLI),
// and foreign keys are made NOT VALID on the copy: a sampled child need not find its parent.
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { listTables } from '../activities/engines/postgres/assess';
import { connect, withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { applySchema, dumpSchema, settingNames, toSql } from '../activities/engines/postgres/schema';

export interface CopyStats {
  tables: number;
  rows: number;
  /** COPY text bytes moved. */
  bytes: number;
  ms: number;
  /** The share of rows copied, in percent (100: all). */
  samplePct: number;
  /** pg_database_size of the real source, for extrapolation. */
  sourceBytes: number;
  /** The copy's pg_database_size once loaded. */
  copyBytes: number;
}

/** Each foreign key of a post-data script as NOT VALID: sampled rows need not have their parents. */
export function foreignKeysNotValid(sql: string): string {
  return sql.replace(/(ADD CONSTRAINT [^;]*? FOREIGN KEY [^;]*?);/g, (_m, stmt: string) => `${stmt} NOT VALID;`);
}

/** Columns COPY may write (generated ones are computed on the copy), quoted, in order. */
async function copyColumns(c: pg.Client, table: string): Promise<string[]> {
  const { rows } = await c.query<{ col: string }>(
    `select format('%I', attname) as col from pg_attribute
      where attrelid = $1::regclass and attnum > 0 and not attisdropped and attgenerated = '' order by attnum`,
    [table],
  );
  return rows.map((r) => r.col);
}

/**
 * Copies `src` into `dest` (a database that exists and is empty). `samplePct` in (0, 100]. The
 * source session is read-only for its whole life, so a mistake here cannot write to production.
 */
export async function copySource(src: ConnectionParams, dest: ConnectionParams, samplePct = 100): Promise<CopyStats> {
  const started = Date.now();
  const s = await connect(src);
  try {
    await s.query('begin isolation level repeatable read read only');
    const { rows } = await s.query<{ snapshot: string; size: string }>(
      'select pg_export_snapshot() as snapshot, pg_database_size(current_database()) as size',
    );
    const { snapshot } = rows[0];
    const known = await withClient(dest, settingNames);
    const pre = toSql(await dumpSchema(src, { section: 'pre-data', snapshot }), known);
    let post = toSql(await dumpSchema(src, { section: 'post-data', snapshot }), known);
    if (samplePct < 100) post = foreignKeysNotValid(post);
    const d = await connect(dest);
    let rowsCopied = 0;
    let bytes = 0;
    const tables = await listTables(s);
    try {
      await applySchema(d, pre);
      const sample = samplePct < 100 ? ` tablesample bernoulli (${samplePct}) repeatable (42)` : '';
      for (const t of tables) {
        const cols = (await copyColumns(s, t.name)).join(', ');
        const counter = new Transform({
          transform(chunk: Buffer, _enc, done) {
            bytes += chunk.length;
            done(null, chunk);
          },
        });
        const into = d.query(copyFrom(`copy ${t.name} (${cols}) from stdin`));
        await pipeline(s.query(copyTo(`copy (select ${cols} from ${t.name}${sample}) to stdout`)), counter, into);
        rowsCopied += into.rowCount;
      }
      await carrySequences(s, d);
      await applySchema(d, post);
      await d.query('analyze');
    } finally {
      await d.end().catch(() => undefined);
    }
    await s.query('commit');
    const copyBytes = await withClient(dest, async (c) =>
      Number((await c.query<{ n: string }>('select pg_database_size(current_database()) as n')).rows[0].n),
    );
    return {
      tables: tables.length,
      rows: rowsCopied,
      bytes,
      ms: Date.now() - started,
      samplePct,
      sourceBytes: Number(rows[0].size),
      copyBytes,
    };
  } finally {
    await s.end().catch(() => undefined);
  }
}

/** Sequence values as of the snapshot (pg_dump's data section would carry them; the copy has its own). */
async function carrySequences(s: pg.Client, d: pg.Client): Promise<void> {
  const { rows } = await s.query<{ name: string; last: string | null; called: boolean }>(
    `select format('%I.%I', schemaname, sequencename) as name, last_value::text as last,
            last_value is not null as called
       from pg_sequences where schemaname not in ('pg_catalog', 'information_schema', 'dbmig')`,
  );
  for (const r of rows) if (r.called) await d.query('select setval($1::regclass, $2::bigint, true)', [r.name, r.last]);
}

/** Creates `database` on the copy cluster, dropping a copy left by an earlier rehearsal. */
export async function freshDatabase(admin: ConnectionParams, database: string): Promise<void> {
  await withClient(admin, async (c) => {
    // DROP DATABASE ... WITH (FORCE) is 13+, and a copy may run 12.
    await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [database]);
    await c.query(`drop database if exists ${pg.escapeIdentifier(database)}`);
    await c.query(`create database ${pg.escapeIdentifier(database)} template template0`);
  });
}
