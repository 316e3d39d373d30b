// How the snapshot copy splits the work: every published table is one range, and a large one is
// split into ranges of heap blocks (WHERE ctid >= '(first,0)' AND ctid < '(end,0)'), which any table
// has, keyed or not, and which PostgreSQL 14+ reads with a TID range scan (only those blocks). A
// tuple the snapshot sees was written before it, so its block existed then: the blocks counted
// inside the snapshot cover every visible row, and the last range is open-ended anyway.
import type pg from 'pg';
import type { SourceTable } from './assess';
import type { CopyRange } from './copy-state';

/** The first version whose planner reads a ctid range without scanning the whole table (TidRangeScan). */
const TID_RANGE_SCAN = 140000;

/**
 * The ranges of `tables` as seen in the snapshot `src` is in, each at most `rangeBlocks` heap
 * blocks (a table of up to 1.5 ranges stays whole: a small tail is not worth a stream).
 */
export async function planRanges(
  src: pg.Client,
  tables: SourceTable[],
  rangeBlocks: number,
  versionNum: number,
): Promise<CopyRange[]> {
  const ranges: CopyRange[] = [];
  for (const t of tables) {
    const { rows } = await src.query<{ blocks: string }>(
      `select (pg_relation_size($1::regclass) / current_setting('block_size')::int)::bigint as blocks`,
      [t.name],
    );
    const blocks = Number(rows[0].blocks);
    const whole = (pages: number): CopyRange => ({
      table: t.name,
      firstBlock: null,
      endBlock: null,
      pages,
      rows: null,
      bytes: null,
      done: false,
    });
    // A partitioned root has no heap of its own: it is copied whole, through the root.
    if (t.partitioned) {
      ranges.push(whole(await partitionPages(src, t.name)));
      continue;
    }
    if (versionNum < TID_RANGE_SCAN || blocks <= rangeBlocks * 1.5) {
      ranges.push(whole(blocks));
      continue;
    }
    for (let first = 0; first < blocks; first += rangeBlocks) {
      const last = first + rangeBlocks >= blocks;
      ranges.push({
        table: t.name,
        firstBlock: first,
        endBlock: last ? null : first + rangeBlocks,
        pages: Math.min(rangeBlocks, blocks - first),
        rows: null,
        bytes: null,
        done: false,
      });
    }
  }
  return ranges;
}

async function partitionPages(src: pg.Client, root: string): Promise<number> {
  const { rows } = await src.query<{ blocks: string }>(
    `select coalesce(sum(pg_relation_size(relid) / current_setting('block_size')::int), 0)::bigint as blocks
       from pg_partition_tree($1::regclass) where isleaf`,
    [root],
  );
  return Number(rows[0].blocks);
}

/** The SELECT a range copies: the table's stored columns (generated ones are the target's to compute). */
export function rangeQuery(r: CopyRange, columns: string[]): string {
  const cols = columns.join(', ');
  if (r.firstBlock === null) return `select ${cols} from ${r.table}`;
  const from = `ctid >= '(${r.firstBlock},0)'::tid`;
  const to = r.endBlock === null ? '' : ` and ctid < '(${r.endBlock},0)'::tid`;
  return `select ${cols} from ${r.table} where ${from}${to}`;
}

/** The columns COPY moves, in order: stored and not dropped. */
export async function copyColumns(c: pg.Client, table: string): Promise<string[]> {
  const { rows } = await c.query<{ col: string }>(
    `select quote_ident(attname) as col from pg_attribute
      where attrelid = $1::regclass and attnum > 0 and not attisdropped and attgenerated = '' order by attnum`,
    [table],
  );
  return rows.map((r) => r.col);
}
