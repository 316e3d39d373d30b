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
  const now = Date.now();
  const rows = status.databases.map((d: DatabaseSummary) => [
    d.database,
    d.priority,
    d.state,
    lag(d, now),
    num(d.lagBytes),
    num(d.rows),
    d.writeBlockMs === undefined ? '-' : formatDuration(d.writeBlockMs),
    (d.lastError ?? '').slice(0, 80),
  ]);
  const columns = ['DATABASE', 'PRIORITY', 'STATE', 'LAG_S', 'LAG_BYTES', 'ROWS', 'WRITE_BLOCK', 'LAST_ERROR'];
  // A database that stopped where a human must act says what to do, in full, under the table; so
  // does broken replication, and a completed one that can still be rolled back.
  const next = status.databases.flatMap((d) => [
    ...(d.copy ? [`\n${d.database} (${d.state}), copy: ${d.copy}`] : []),
    ...(d.catchUp ? [`\n${d.database} (${d.state}), catch-up: ${d.catchUp}`] : []),
    ...(d.validating ? [`\n${d.database} (${d.state}), validating: ${d.validating}`] : []),
    ...(d.replication ? [`\n${d.database} (${d.state}), replication: ${d.replication}`] : []),
    ...(d.anomalies ?? []).map((a) => `\n${d.database} (${d.state}), anomaly: ${a}`),
    ...(d.waitingFor?.length ? [`\n${d.database} (${d.state}), cutover waiting for ${d.waitingFor.join(', ')}`] : []),
    ...(d.nextAction && NEXT_ACTION_STATES.has(d.state) ? [`\n${d.database} (${d.state}), next: ${d.nextAction}`] : []),
    ...(d.notifications ? [`\n${d.database} (${d.state}), notifications: ${d.notifications}`] : []),
  ]);
  if (status.notifications) next.push(`\nfleet notifications: ${status.notifications}`);
  return `${head}\n${table(columns, rows)}${next.length ? `\n${next.join('')}` : ''}`;
}

const NEXT_ACTION_STATES = new Set([
  'NEEDS_ATTENTION',
  'FAILED',
  'CANCELLED',
  'APPROVED_WAITING_WINDOW',
  'AWAITING_APPROVAL',
  'COMPLETED',
  'ROLLED_BACK',
]);

/** Lag in seconds, with the sample's age when it was read live: an old sample is not a current lag. */
function lag(d: DatabaseSummary, now: number): string {
  const value = num(d.lagSeconds, 2);
  if (!d.lagMeasuredAt || d.lagSeconds === null) return value;
  const age = Math.max(0, now - Date.parse(d.lagMeasuredAt));
  return `${value} (${formatDuration(age)} ago)`;
}
