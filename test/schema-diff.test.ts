// What the catalog comparison of schema-diff.ts carries and what it refuses, on catalogs written out
// by hand (ddl-during-cdc.test.ts runs the same on real clusters).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffSchema, type Catalog, type Column } from '../activities/engines/postgres/schema-diff';

const col = (tbl: string, num: number, name: string, type = 'text', extra: Partial<Column> = {}): Column => ({
  tbl,
  num,
  name,
  type,
  notnull: false,
  def: null,
  identity: '',
  generated: '',
  ...extra,
});

function catalog(tables: Record<string, Column[]>, hasKey = true): Catalog {
  const c: Catalog = { tables: new Map(), columns: new Map(), indexes: new Map(), sequences: new Map() };
  for (const [t, cols] of Object.entries(tables)) {
    c.tables.set(t, { partitioned: false, hasKey });
    c.columns.set(t, cols);
  }
  return c;
}

const items = (...more: Column[]) => [col('public.items', 1, 'id', 'bigint'), col('public.items', 2, 'sku'), ...more];
const both = new Set(['public.items']);

test('added columns are carried in order, with their default and NOT NULL', () => {
  const src = catalog({
    'public.items': items(
      col('public.items', 3, 'note'),
      col('public.items', 4, 'status', 'text', { notnull: true, def: "'new'::text" }),
    ),
  });
  const d = diffSchema(src, catalog({ 'public.items': items() }), both, both);
  assert.deepEqual(
    d.statements.map((x) => x.sql),
    [
      'alter table public.items add column if not exists "note" text',
      `alter table public.items add column if not exists "status" text default 'new'::text not null`,
    ],
  );
  assert.deepEqual(d.refused, []);
});

test('a rename is refused, and the column it looks like an add of is not carried', () => {
  const src = catalog({ 'public.items': [col('public.items', 1, 'id', 'bigint'), col('public.items', 2, 'code')] });
  const d = diffSchema(src, catalog({ 'public.items': items() }), both, both);
  assert.deepEqual(
    d.statements.map((x) => x.sql),
    [],
  );
  assert.equal(d.refused.length, 1);
  assert.match(d.refused[0].message, /ALTER TABLE public\.items DROP COLUMN "sku" or RENAME COLUMN "sku" TO/);
  assert.equal(d.refused[0].table, 'public.items');
});

test('a type change, a dropped table and a nextval default are refused by name', () => {
  const src = catalog({
    'public.items': [
      col('public.items', 1, 'id', 'integer'),
      col('public.items', 2, 'sku'),
      col('public.items', 3, 'n', 'bigint', { def: "nextval('s'::regclass)" }),
    ],
  });
  const tgt = catalog({ 'public.items': items(), 'public.audit': [col('public.audit', 1, 'id', 'integer')] });
  const subscribed = new Set(['public.items', 'public.audit']);
  const d = diffSchema(src, tgt, both, subscribed);
  const messages = d.refused.map((f) => f.message).join('\n');
  assert.match(messages, /ALTER COLUMN "id" TYPE integer \(the target has bigint\)/);
  assert.match(messages, /DROP TABLE public\.audit or ALTER TABLE public\.audit RENAME TO/);
  assert.match(messages, /ADD COLUMN "n" bigint DEFAULT nextval/);
  assert.deepEqual(
    d.statements.map((x) => x.sql),
    [],
  );
});

test('a new table is carried; a renamed one (published, missing on the target) is refused', () => {
  const src = catalog({ 'public.items': items(), 'public.late': [col('public.late', 1, 'id', 'bigint')] });
  src.sequences.set('public.order_no', null);
  const d = diffSchema(src, catalog({ 'public.items': items() }), both, both);
  assert.deepEqual(d.newTables, ['public.late']);
  assert.deepEqual(d.newSequences, ['public.order_no']);
  const renamed = diffSchema(src, catalog({ 'public.items': items() }), new Set([...both, 'public.late']), both);
  assert.deepEqual(renamed.newTables, []);
  assert.match(renamed.refused[0].message, /RENAME TO public\.late \(published, missing on the target\)/);
});

test('a key-less new table is left alone unless the plan publishes such with FULL identity', () => {
  const src = catalog({ 'public.items': items() });
  src.tables.set('public.log', { partitioned: false, hasKey: false });
  src.columns.set('public.log', [col('public.log', 1, 'line')]);
  const tgt = catalog({ 'public.items': items() });
  assert.deepEqual(diffSchema(src, tgt, both, both, false).newTables, []);
  const full = diffSchema(src, tgt, both, both, true);
  assert.deepEqual([full.newTables, full.keyless], [['public.log'], ['public.log']]);
});
