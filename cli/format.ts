// Plain-text tables for terminals: no colours, fixed columns, easy to grep.
import type { DatabaseSummary, FleetStatus } from '../common/status';
import { formatDuration } from '../common/durations';

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (c ?? '').padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const num = (n: number | null | undefined, digits = 0) => (n === null || n === undefined ? '-' : n.toFixed(digits));

export function statusTable(status: FleetStatus): string {
  const state = status.paused ? 'PAUSED' : 'running';
  const head = `migration ${status.migrationId} on ${status.platform}: ${state}, concurrency ${status.concurrency}`;
  const rows = status.databases.map((d: DatabaseSummary) => [
    d.database,
    d.priority,
    d.state,
    num(d.lagSeconds, 2),
    num(d.lagBytes),
    num(d.rows),
    d.writeBlockMs === undefined ? '-' : formatDuration(d.writeBlockMs),
    (d.lastError ?? '').slice(0, 80),
  ]);
  const columns = ['DATABASE', 'PRIORITY', 'STATE', 'LAG_S', 'LAG_BYTES', 'ROWS', 'WRITE_BLOCK', 'LAST_ERROR'];
  // A database that stopped where a human must act says what to do, in full, under the table.
  const next = status.databases
    .filter((d) => d.nextAction && ['NEEDS_ATTENTION', 'FAILED', 'CANCELLED'].includes(d.state))
    .map((d) => `\n${d.database} (${d.state}), next: ${d.nextAction}`);
  return `${head}\n${table(columns, rows)}${next.length ? `\n${next.join('')}` : ''}`;
}
