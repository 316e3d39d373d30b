// Schema changes made on the source during CDC, found by comparing the two catalogs (native logical
// replication carries rows, never DDL). Event triggers would see each statement as it happens, but
// only a superuser may create one, and the migration user is usually not one (migration-user.ts):
// reading the catalog works for every user that may run the job, and it is what every status read,
// the live validation and the cutover's gate do (ddl-carry.ts). Reads only.
//
// What is additive is carried: a table (with its indexes, constraints and owned sequences) the
// publication does not list yet, a column the target lacks on a table with no other difference, an
// index or constraint, a sequence. What would need a guess is refused by name: a table or column on
// the target the source no longer has (dropped, or renamed: the catalog cannot tell which), a
// column whose type changed, a published table the target lacks (a table renamed on the source).
import type pg from 'pg';
import type { Finding } from '../../steps';

export const SCHEMA_NOT_CARRIED = 'SCHEMA_CHANGE_NOT_CARRIED';

export interface Column {
  tbl: string;
  num: number;
  name: string;
  type: string;
  notnull: boolean;
  def: string | null;
  identity: string;
  generated: string;
}

export interface Index {
  name: string;
  tbl: string;
  def: string;
  con: string | null;
  condef: string | null;
}

export interface Catalog {
  tables: Map<string, { partitioned: boolean; hasKey: boolean }>;
  columns: Map<string, Column[]>;
  indexes: Map<string, Index>;
  sequences: Map<string, string | null>;
}

/** The application's tables as listTables (assess.ts) sees them: no partitions, no dbmig. */
const APP_TABLE = `c.relkind in ('r', 'p') and not c.relispartition and c.relpersistence = 'p'
  and n.nspname not in ('pg_catalog', 'information_schema', 'dbmig') and n.nspname not like 'pg_toast%'`;

export async function readCatalog(c: pg.Client): Promise<Catalog> {
  const cols = await c.query<Column & { partitioned: boolean; has_key: boolean }>(
    `select format('%I.%I', n.nspname, c.relname) as tbl, a.attnum as num, a.attname as name,
            format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as notnull,
            pg_get_expr(d.adbin, d.adrelid) as def, a.attidentity as identity, a.attgenerated as generated,
            c.relkind = 'p' as partitioned,
            (c.relreplident = 'f' or exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary)
             or (c.relreplident = 'i' and exists (select 1 from pg_index i
                                                   where i.indrelid = c.oid and i.indisreplident))) as has_key
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
       left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
      where ${APP_TABLE} order by 1, 2`,
  );
  const idx = await c.query<Index>(
    `select format('%I.%I', n.nspname, i.relname) as name, format('%I.%I', n.nspname, c.relname) as tbl,
            pg_get_indexdef(i.oid) as def, con.conname as con, pg_get_constraintdef(con.oid) as condef
       from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class c on c.oid = x.indrelid
       join pg_namespace n on n.oid = c.relnamespace
       left join pg_constraint con on con.conindid = i.oid and con.conrelid = c.oid
      where ${APP_TABLE} and x.indisvalid and x.indisready order by 1`,
  );
  const seqs = await c.query<{ name: string; owner: string | null }>(
    `select format('%I.%I', n.nspname, s.relname) as name,
            (select format('%I.%I', tn.nspname, t.relname) from pg_depend d
               join pg_class t on t.oid = d.refobjid join pg_namespace tn on tn.oid = t.relnamespace
              where d.classid = 'pg_class'::regclass and d.objid = s.oid and d.refclassid = 'pg_class'::regclass
                and d.deptype in ('a', 'i') limit 1) as owner
       from pg_class s join pg_namespace n on n.oid = s.relnamespace
      where s.relkind = 'S' and s.relpersistence = 'p'
        and n.nspname not in ('pg_catalog', 'information_schema', 'dbmig') and n.nspname not like 'pg_toast%'`,
  );
  const out: Catalog = { tables: new Map(), columns: new Map(), indexes: new Map(), sequences: new Map() };
  for (const r of cols.rows) {
    out.tables.set(r.tbl, { partitioned: r.partitioned, hasKey: r.has_key });
    if (!out.columns.has(r.tbl)) out.columns.set(r.tbl, []);
    if (r.name !== null) out.columns.get(r.tbl)!.push({ ...r, num: Number(r.num) });
  }
  for (const r of idx.rows) out.indexes.set(r.name, r);
  for (const r of seqs.rows) out.sequences.set(r.name, r.owner);
  return out;
}

/** What the target lacks that can be carried, and what cannot be. */
export interface SchemaDiff {
  /** Tables the publication does not list yet and the target lacks: created there from a dump. */
  newTables: string[];
  /** Sequences the target lacks, not owned by a table that is not new: dumped with the new tables. */
  newSequences: string[];
  /** Tables on both sides the publication does not list yet (a new table whose carrying was cut short). */
  toPublish: string[];
  /** Key-less tables among those to publish: REPLICA IDENTITY FULL first (none unless the plan allows it). */
  keyless: string[];
  /** ALTER TABLE ... ADD COLUMN, CREATE INDEX, ADD CONSTRAINT on the target, in order, each with its table. */
  statements: { table: string; sql: string }[];
  /** What is not carried, each named with its statement and what to do. */
  refused: Finding[];
}

const refusal = (table: string, statement: string, todo: string): Finding => ({
  code: SCHEMA_NOT_CARRIED,
  severity: 'error',
  table,
  message: `${statement} (schema change on the source during CDC, not carried): ${todo}`,
});

function addColumn(c: Column): string {
  const def = c.def !== null ? ` default ${c.def}` : '';
  const notNull = c.notnull ? ' not null' : '';
  return `alter table ${c.tbl} add column if not exists ${ident(c.name)} ${c.type}${def}${notNull}`;
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

/**
 * `published`: the application tables the publication lists; `subscribed`: those the subscription
 * has on the target. Both as format('%I.%I').
 */
export function diffSchema(
  src: Catalog,
  tgt: Catalog,
  published: Set<string>,
  subscribed: Set<string>,
  publishKeyless = true,
): SchemaDiff {
  const d: SchemaDiff = { newTables: [], newSequences: [], toPublish: [], keyless: [], statements: [], refused: [] };
  for (const [tbl, info] of src.tables) {
    if (tgt.tables.has(tbl)) {
      if (!published.has(tbl)) d.toPublish.push(tbl);
      continue;
    }
    if (published.has(tbl)) {
      d.refused.push(
        refusal(
          tbl,
          `ALTER TABLE ... RENAME TO ${tbl} (published, missing on the target)`,
          `a table renamed on the source is not carried: rename it back on the source, or rename it on the ` +
            `target too (ALTER TABLE ... RENAME TO) and retry`,
        ),
      );
    } else if (info.partitioned) {
      d.refused.push(
        refusal(
          tbl,
          `CREATE TABLE ${tbl} PARTITION BY ...`,
          `a partitioned table is not carried: create it and its partitions on the target ` +
            `(pg_dump --schema-only --table-and-children), then the next status read publishes and copies it`,
        ),
      );
    } else if (!info.hasKey && !publishKeyless) {
      // Published without a key, its UPDATEs and DELETEs would fail on the source: left alone, and
      // named by the gate as a table not published (migrated-set.ts).
      continue;
    } else d.newTables.push(tbl);
  }
  for (const tbl of tgt.tables.keys())
    if (subscribed.has(tbl) && !src.tables.has(tbl))
      d.refused.push(
        refusal(
          tbl,
          `DROP TABLE ${tbl} or ALTER TABLE ${tbl} RENAME TO ...`,
          `the target still has ${tbl} and replication no longer carries it: drop or rename it on the target ` +
            `the same way (only if the source's change is meant to stay), or restore it on the source`,
        ),
      );
  const fresh = new Set(d.newTables);
  for (const [name, owner] of src.sequences)
    if (!tgt.sequences.has(name) && (owner === null || fresh.has(owner))) d.newSequences.push(name);
  for (const [tbl, srcCols] of src.columns) {
    const tgtCols = tgt.columns.get(tbl);
    if (!tgtCols) continue;
    const there = new Map(tgtCols.map((c) => [c.name, c]));
    const here = new Set(srcCols.map((c) => c.name));
    const gone = tgtCols.filter((c) => !here.has(c.name));
    for (const c of gone)
      d.refused.push(
        refusal(
          tbl,
          `ALTER TABLE ${tbl} DROP COLUMN ${ident(c.name)} or RENAME COLUMN ${ident(c.name)} TO ...`,
          `the target's column is not on the source: drop or rename it on the target the same way (only if the ` +
            `change is meant to stay), or restore it on the source`,
        ),
      );
    for (const c of srcCols) {
      const t = there.get(c.name);
      if (t && t.type !== c.type)
        d.refused.push(
          refusal(
            tbl,
            `ALTER TABLE ${tbl} ALTER COLUMN ${ident(c.name)} TYPE ${c.type} (the target has ${t.type})`,
            `a type change rewrites the table and may change values: make the same change on the target ` +
              `(ALTER TABLE ... ALTER COLUMN ... TYPE) and retry, or undo it on the source`,
          ),
        );
    }
    // A column the target lacks is carried only when nothing of the table was dropped or renamed: a
    // rename looks like a drop and an add, and carrying its add would hide it.
    if (gone.length) continue;
    for (const c of srcCols.filter((x) => !there.has(x.name))) {
      if (c.identity || c.generated || /\bnextval\(/i.test(c.def ?? ''))
        d.refused.push(
          refusal(
            tbl,
            `ALTER TABLE ${tbl} ADD COLUMN ${ident(c.name)} ${c.type} ` +
              (c.identity ? 'GENERATED AS IDENTITY' : c.generated ? 'GENERATED ALWAYS AS (...)' : `DEFAULT ${c.def}`),
            `the existing rows' values of such a column are made by each server on its own and would differ: add ` +
              `it on the target by hand and carry the values (or add it without that default)`,
          ),
        );
      else d.statements.push({ table: tbl, sql: addColumn(c) });
    }
  }
  for (const [name, i] of src.indexes) {
    if (tgt.indexes.has(name) || fresh.has(i.tbl) || !tgt.tables.has(i.tbl)) continue;
    const sql = i.con ? `alter table ${i.tbl} add constraint ${ident(i.con)} ${i.condef}` : i.def;
    d.statements.push({ table: i.tbl, sql });
  }
  for (const [name, i] of tgt.indexes)
    if (!src.indexes.has(name) && src.tables.has(i.tbl) && !i.con)
      d.refused.push(
        refusal(
          i.tbl,
          `DROP INDEX ${name}`,
          `an index dropped on the source is not dropped on the target by dbmig: drop it there too ` +
            `(DROP INDEX ${name}) if it is meant to go, or create it again on the source`,
        ),
      );
  const pending = [...d.newTables, ...d.toPublish];
  d.keyless = pending.filter((tbl) => !src.tables.get(tbl)!.hasKey);
  if (!publishKeyless) d.toPublish = d.toPublish.filter((tbl) => !d.keyless.includes(tbl));
  return d;
}
