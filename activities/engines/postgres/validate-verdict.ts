// The live validation's verdict (validate-live.ts), from its checkpoint once every round is done:
// a table matches only when no chunk of it still differs; one that does is a mismatch naming the
// table, up to three key ranges with their row counts and example keys, and how many more. There
// is no "changing, so passing" verdict. Key-less tables were compared whole, and the summary says so.
import type { TableCheck, ValidationResult } from '../../steps';
import { describeRange, type KeyColumn } from './validate-chunks';
import type { LiveCheckpoint } from './live-checkpoint';

export function resultOf(cp: LiveCheckpoint, keys: Map<string, KeyColumn[] | undefined>): ValidationResult {
  const checks: TableCheck[] = cp.progress.map((p) => {
    const shown = p.differing.slice(0, 3).map((d) => {
      const range = describeRange({ table: p.table, key: keys.get(p.table), lo: d.lo, hi: d.hi });
      return { range, sourceRows: d.source.rows, targetRows: d.target.rows, keys: d.keys };
    });
    return {
      table: p.table,
      sourceRows: p.sourceRows,
      targetRows: p.targetRows,
      sourceChecksum: p.sourceSum,
      targetChecksum: p.targetSum,
      verdict: p.differing.length || p.moreDiffering ? 'mismatch' : 'match',
      chunks: p.chunks,
      ...(p.keyless ? { keyless: true } : {}),
      ...(shown.length
        ? { differences: shown, moreDifferences: p.differing.length - shown.length + p.moreDiffering }
        : {}),
    };
  });
  const bad = checks.filter((c) => c.verdict === 'mismatch');
  const keyless = checks.filter((c) => c.keyless).map((c) => c.table);
  const whole = keyless.length ? `; compared whole (no primary key): ${keyless.join(', ')}` : '';
  const summary = bad.length
    ? `mismatch at a consistent point, still after ${cp.round} comparison(s): ` +
      bad
        .map(
          (c) =>
            `${c.table} ` +
            c
              .differences!.map(
                (d) =>
                  `[${d.range}: source ${d.sourceRows} rows, target ${d.targetRows}` +
                  (d.keys.length ? `; keys ${d.keys.join(', ')}` : '') +
                  ']',
              )
              .join(' ') +
            (c.moreDifferences ? ` and ${c.moreDifferences} more chunk(s)` : ''),
        )
        .join(', ') +
      whole
    : `${checks.length}/${checks.length} tables identical at a consistent point ` +
      `(${checks.reduce((n, c) => n + (c.chunks ?? 0), 0)} chunks)${whole}`;
  return { mode: 'live', ok: bad.length === 0, tables: checks, summary };
}
