// The rehearsal's report: one row per database, then each database's findings in full. The copy
// rate is the initial table copy's (the FULL_DUMP phase: the copy's size over the phase's time),
// and the extrapolation divides the real source's pg_database_size by it: a first estimate of the
// real copy time on this machine's hardware, not a promise about the real target's.
import { formatDuration } from '../common/durations';
import type { Finding } from '../activities/steps';
import type { MigrationState } from '../common/states';
import { table } from './format';
import type { CopyStats } from './rehearsal-copy';

export interface RehearsalRow {
  database: string;
  findings: Finding[];
  copy: CopyStats;
  /** How long FULL_DUMP took, from the first status that showed it to the first that showed CDC. */
  fullDumpMs?: number;
  maxLagSeconds: number | null;
  writeBlockMs?: number;
  validation?: string;
  state: MigrationState;
  lastError?: string;
  loadWrites: number;
  /** Tables the load wrote to. */
  loadTables: number;
  /** Load writes refused (the cutover closed the copy; anything else is worth a look). */
  loadRefused: number;
}

const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;

function counts(f: Finding[]): string {
  const n = (s: Finding['severity']) => f.filter((x) => x.severity === s).length;
  return `${n('error')}E ${n('warning')}W ${n('info')}I`;
}

/** MB/s of the initial copy, or undefined when the phase was too short to time (under 250 ms). */
export function copyRate(r: Pick<RehearsalRow, 'copy' | 'fullDumpMs'>): number | undefined {
  if (!r.fullDumpMs || r.fullDumpMs < 250) return undefined;
  return r.copy.copyBytes / 1_048_576 / (r.fullDumpMs / 1000);
}

export function rehearsalReport(rows: RehearsalRow[]): string {
  const lines = table(
    [
      'DATABASE',
      'FINDINGS',
      'COPIED',
      'SAMPLE',
      'COPY RATE',
      'REAL SIZE',
      'EST. COPY',
      'MAX LAG',
      'WRITE BLOCK',
      'LOAD',
      'RESULT',
    ],
    rows.map((r) => {
      const rate = copyRate(r);
      const sourceMb = r.copy.sourceBytes / 1_048_576;
      return [
        r.database,
        counts(r.findings),
        `${r.copy.rows} rows, ${mb(r.copy.copyBytes)}`,
        `${r.copy.samplePct}%`,
        rate === undefined ? 'too fast to time' : `${rate.toFixed(1)} MB/s`,
        mb(r.copy.sourceBytes),
        rate === undefined ? '-' : formatDuration(Math.round((sourceMb / rate) * 1000)),
        r.maxLagSeconds === null ? '-' : `${r.maxLagSeconds.toFixed(1)} s`,
        r.writeBlockMs === undefined ? '-' : `${r.writeBlockMs} ms`,
        `${r.loadWrites} writes on ${r.loadTables} tables${r.loadRefused ? `, ${r.loadRefused} refused` : ''}`,
        r.state,
      ];
    }),
  );
  const details = rows.flatMap((r) => [
    '',
    `${r.database}: ${r.state}${r.lastError ? ` (${r.lastError})` : ''}; ` +
      `validation: ${r.validation ?? 'none recorded'}`,
    ...r.findings.map((f) => `  ${f.severity.toUpperCase().padEnd(7)} ${f.code}: ${f.message}`),
  ]);
  return [lines, ...details].join('\n');
}
