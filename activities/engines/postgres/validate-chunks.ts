// Chunks of a table by primary-key range, and what the live validation reads of each: a digest
// (row count and an order-independent checksum: the sum of a hash of each row's text, RowHash),
// the boundary of the next chunk, and, for a chunk that differs, a few of its keys. Every read is
// one aggregate or one bounded list (at most a chunk's keys), run inside the round's imported
// snapshot: memory stays flat however large the table grows.
//
// A range is (lo, hi]: keys greater than lo (none: from the start) and at most hi (none: to the
// end), compared as a row of the key's columns, the order of its btree index, so every chunk is
// an index range scan. Boundaries travel as text and are cast back to the column's type on each
// side, which round-trips every type a primary key is made of (integers, text, uuid, numeric,
// timestamps with their offset). A table without a primary key is one chunk, compared whole.
import type pg from 'pg';

export interface KeyColumn {
  /** Quoted identifier. */
  name: string;
  /** format_type of the column, for the casts of boundaries. */
  type: string;
}

export interface Chunk {
  table: string;
  /** Absent: compared whole (no primary key). */
  key?: KeyColumn[];
  lo: string[] | null;
  hi: string[] | null;
}

export interface ChunkDigest {
  rows: number;
  /** The sum of the rows' 60-bit slices, as decimal text (exact: BigInt). */
  sum: string;
}

/** The columns of `table`'s primary key in index order, or undefined when it has none. */
export async function primaryKey(c: pg.Client, table: string): Promise<KeyColumn[] | undefined> {
  const { rows } = await c.query<KeyColumn>(
    `select quote_ident(a.attname) as name, format_type(a.atttypid, a.atttypmod) as type
       from pg_index i cross join lateral unnest(i.indkey) with ordinality k(attnum, ord)
       join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
      where i.indrelid = $1::regclass and i.indisprimary order by k.ord`,
    [table],
  );
  return rows.length ? rows : undefined;
}

const cols = (key: KeyColumn[]) => key.map((k) => k.name).join(', ');
/** The key's columns as text, named k0, k1, ... */
const asText = (key: KeyColumn[]) => key.map((k, i) => `${k.name}::text as k${i}`).join(', ');

/** The row of `values` cast to the key's types, numbered from `$first`. */
const row = (key: KeyColumn[], first: number) => key.map((k, i) => `$${first + i}::${k.type}`).join(', ');

/** The WHERE clause of a chunk's range and its parameters. */
export function rangeOf(chunk: Chunk): { where: string; params: string[] } {
  if (!chunk.key) return { where: 'true', params: [] };
  const parts: string[] = [];
  const params: string[] = [];
  if (chunk.lo) {
    parts.push(`(${cols(chunk.key)}) > (${row(chunk.key, params.length + 1)})`);
    params.push(...chunk.lo);
  }
  if (chunk.hi) {
    parts.push(`(${cols(chunk.key)}) <= (${row(chunk.key, params.length + 1)})`);
    params.push(...chunk.hi);
  }
  return { where: parts.join(' and ') || 'true', params };
}

/**
 * How a row is summed: 'fast' is hashtextextended (64 bits, half md5's cost per row here; its
 * value depends on the server's byte order, so it is used only when both servers hash a probe
 * alike: sameHash), 'md5' the portable sum of 60-bit md5 slices validate.ts uses.
 */
export type RowHash = 'fast' | 'md5';

const SUMS: Record<RowHash, string> = {
  fast: 'sum(hashtextextended(t::text, 0))',
  md5: `sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint::numeric)`,
};

/** 'fast' when both servers hash alike (same byte order), else 'md5'. */
export async function rowHashFor(src: pg.Client, target: pg.Client): Promise<RowHash> {
  const probe = `select hashtextextended('dbmig validation probe', 0)::text as h`;
  const [a, b] = await Promise.all([src.query<{ h: string }>(probe), target.query<{ h: string }>(probe)]);
  return a.rows[0].h === b.rows[0].h ? 'fast' : 'md5';
}

export async function digestChunk(c: pg.Client, chunk: Chunk, hash: RowHash): Promise<ChunkDigest> {
  const { where, params } = rangeOf(chunk);
  const { rows } = await c.query<{ n: string; sum: string }>(
    `select count(*) as n, coalesce(${SUMS[hash]}, 0)::text as sum from ${chunk.table} t where ${where}`,
    params,
  );
  return { rows: Number(rows[0].n), sum: rows[0].sum };
}

/**
 * The upper boundary of the chunk of `size` rows after `lo`: the key of its last row, or null
 * when fewer rows are left (the chunk runs to the end). An index-only walk of `size` entries.
 */
export async function nextBoundary(
  c: pg.Client,
  table: string,
  key: KeyColumn[],
  lo: string[] | null,
  size: number,
): Promise<string[] | null> {
  const { where, params } = rangeOf({ table, key, lo, hi: null });
  const { rows } = await c.query<Record<string, string>>(
    `select ${asText(key)} from ${table} where ${where} order by ${cols(key)} offset ${size - 1} limit 1`,
    params,
  );
  return rows.length ? key.map((_, i) => rows[0][`k${i}`]) : null;
}

/** A key as an operator reads it: 1042, or (7, eu) for a key of several columns. */
const keyText = (k: string[]) => (k.length === 1 ? k[0] : `(${k.join(', ')})`);

/** The chunk's range in words: "id in (1000, 2000]", "id > 9000", "(a, b) <= ((7, eu))". */
export function describeRange(chunk: Chunk): string {
  if (!chunk.key) return 'the whole table (no primary key)';
  const name = chunk.key.length === 1 ? chunk.key[0].name : `(${cols(chunk.key)})`;
  const { lo, hi } = chunk;
  if (lo && hi) return `${name} in (${keyText(lo)}, ${keyText(hi)}]`;
  if (lo) return `${name} > ${keyText(lo)}`;
  if (hi) return `${name} <= ${keyText(hi)}`;
  return `${name}: every row`;
}

/**
 * Up to `max` keys of the chunk whose rows differ between the two sides (missing on one, or with
 * other contents), lowest first. Keys only, never values. Bounded by the chunk's size.
 */
export async function differingKeys(src: pg.Client, target: pg.Client, chunk: Chunk, max: number): Promise<string[]> {
  if (!chunk.key) return [];
  const { where, params } = rangeOf(chunk);
  const read = async (c: pg.Client) => {
    const key = chunk.key!;
    const { rows } = await c.query<Record<string, string>>(
      `select ${asText(key)}, md5(t::text) as h from ${chunk.table} t where ${where} order by ${cols(key)}`,
      params,
    );
    return new Map(rows.map((r) => [keyText(key.map((_, i) => r[`k${i}`])), r.h]));
  };
  const s = await read(src);
  const t = await read(target);
  const out: string[] = [];
  for (const [k, h] of s) if (t.get(k) !== h) out.push(k);
  for (const k of t.keys()) if (!s.has(k)) out.push(k);
  return out.slice(0, max);
}
