// Per-table row count and an order-independent checksum (sum of 60-bit slices of each row's md5).
// compareTables 'live' runs while the source still takes writes, so a table that changed during
// the comparison is reported as drift: the local platform's live validation no longer uses it (it
// compares chunks at a consistent point, validate-live.ts, with no drift verdict); it stays as the
// default of validateLive and the baseline of bench/validation.ts. The final comparison runs on
// both sides as of the cutover's fence (compareAtFence, from the snapshots fence-snapshot.ts took
// at the switch) and must match exactly; compareTables(..., 'final') is its fallback where those
// snapshots are gone.
import type pg from 'pg';
import type { TableCheck, ValidationResult } from '../../steps';

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

/** A digest, or undefined when the relation does not exist on that side (undefined_table). */
async function digestIfPresent(c: pg.Client, table: string): Promise<Digest | undefined> {
  // Inside the snapshot's transaction an error would end it: a savepoint keeps it for the next table.
  await c.query('savepoint dbmig_digest');
  try {
    const d = await digest(c, table);
    await c.query('release savepoint dbmig_digest');
    return d;
  } catch (err) {
    await c.query('rollback to savepoint dbmig_digest');
    if ((err as { code?: string }).code === '42P01') return undefined;
    throw err;
  }
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

/** How a table differs, in words an operator can act on. */
export function difference(c: TableCheck): string {
  if (c.targetRows < 0) return `${c.table} (missing on the target; source ${c.sourceRows} rows)`;
  if (c.sourceRows === c.targetRows)
    return `${c.table} (same ${c.sourceRows} rows on both sides, different contents: checksums differ)`;
  const n = c.targetRows - c.sourceRows;
  const how = n > 0 ? `${n} more on the target` : `${-n} fewer on the target`;
  return `${c.table} (source ${c.sourceRows} rows, target ${c.targetRows}: ${how})`;
}

/**
 * The final comparison on two sessions that read the same instant of the cutover (each inside the
 * snapshot taken at the fence): nothing changes under it, so one pass decides, with no drift and
 * no waiting for a lagging target. `tables` are the source's, as of that snapshot; one missing on
 * the target counts as a difference (targetRows -1).
 */
export async function compareAtFence(src: pg.Client, target: pg.Client, tables: string[]): Promise<ValidationResult> {
  const checks: TableCheck[] = [];
  for (const table of tables) {
    const s = await digest(src, table);
    const t = await digestIfPresent(target, table);
    checks.push({
      table,
      sourceRows: s.rows,
      targetRows: t?.rows ?? -1,
      sourceChecksum: s.checksum,
      targetChecksum: t?.checksum ?? '',
      verdict: t && same(s, t) ? 'match' : 'mismatch',
    });
  }
  const bad = checks.filter((c) => c.verdict === 'mismatch');
  const summary = bad.length
    ? `mismatch at the cutover's fence in ${bad.map(difference).join(', ')}`
    : `${checks.length}/${checks.length} tables identical at the cutover's fence`;
  return { mode: 'final', ok: bad.length === 0, tables: checks, summary };
}
