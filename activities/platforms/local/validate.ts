// Per-table row count and an order-independent checksum (sum of 60-bit slices of each row's md5).
// "live" runs while the source still takes writes, so a table that changed during the
// comparison is reported as drift; "final" runs with the source read-only and must match exactly.
import type pg from 'pg';
import type { TableCheck, ValidationResult } from '../platform';

interface Digest {
  rows: number;
  checksum: string;
}

async function digest(c: pg.Client, table: string): Promise<Digest> {
  const { rows } = await c.query<{ n: string; sum: string }>(
    `select count(*) as n,
            coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint::numeric), 0)::text as sum
       from ${table} t`,
  );
  return { rows: Number(rows[0].n), checksum: rows[0].sum };
}

const same = (a: Digest, b: Digest) => a.rows === b.rows && a.checksum === b.checksum;

export async function compareTables(
  src: pg.Client,
  target: pg.Client,
  tables: string[],
  mode: 'live' | 'final',
): Promise<ValidationResult> {
  const checks: TableCheck[] = [];
  for (const table of tables) {
    let check: TableCheck | undefined;
    // A lagging target may need a moment to apply the last transactions; a few rounds settle it.
    for (let round = 0; round < 5; round++) {
      const before = await digest(src, table);
      const tgt = await digest(target, table);
      const after = mode === 'live' ? await digest(src, table) : before;
      const matched = same(before, tgt) || same(after, tgt);
      const changing = !same(before, after);
      check = {
        table,
        sourceRows: after.rows,
        targetRows: tgt.rows,
        sourceChecksum: after.checksum,
        targetChecksum: tgt.checksum,
        verdict: matched ? 'match' : changing ? 'drift' : 'mismatch',
      };
      if (check.verdict !== 'mismatch') break;
      await new Promise((r) => setTimeout(r, 500 * (round + 1)));
    }
    checks.push(check!);
  }
  const bad = checks.filter((c) => c.verdict === 'mismatch');
  const drift = checks.filter((c) => c.verdict === 'drift');
  const summary = bad.length
    ? `mismatch in ${bad.map((c) => `${c.table} (source ${c.sourceRows} rows, target ${c.targetRows})`).join(', ')}`
    : `${checks.length - drift.length}/${checks.length} tables identical` +
      (drift.length ? `, ${drift.length} still taking writes` : '');
  return { mode, ok: bad.length === 0, tables: checks, summary };
}
