// The short markdown the Temporal UI shows as a workflow's current details: where it is and
// what a human should do next.
import type { DatabaseSummary, FleetStatus } from '../common/status';

const NEXT: Partial<Record<DatabaseSummary['state'], string>> = {
  PENDING: 'nothing: waiting for a concurrency slot',
  CDC: 'nothing: waiting for lag to stay under its threshold',
  CUTTING_OVER: 'nothing: writes to the source are blocked until the target has caught up',
  COMPLETED: 'point applications at the target',
  FAILED: 'read the error, fix the cause, then retry this database',
};

export function detailsMarkdown(migrationId: string, s: DatabaseSummary): string {
  const lag = s.lagSeconds === null ? 'n/a' : `${s.lagSeconds.toFixed(2)} s`;
  const next = s.nextAction
    ? s.nextAction
    : s.state === 'AWAITING_APPROVAL'
      ? `approve: \`dbmig approve ${migrationId} ${s.database} --approver <you>\` (or \`dbmig reject\`)`
      : (NEXT[s.state] ?? 'nothing: in progress');
  const lines = [
    `**${s.database}**: \`${s.state}\``,
    `lag ${lag}${s.lagBytes === null ? '' : ` / ${s.lagBytes} B`} · rows ${s.rows ?? 'n/a'}`,
    `next: ${next}`,
  ];
  if (s.lastError) lines.push(`error: ${s.lastError}`);
  return lines.join('\n\n');
}

/** The parent's details: one line per database, and what is waiting for a human. */
export function fleetDetailsMarkdown(status: FleetStatus): string {
  const id = status.migrationId;
  const mode = status.paused ? `**paused** (\`dbmig resume ${id}\`)` : `running, ${status.concurrency} at a time`;
  const lag = (d: DatabaseSummary) => (d.lagSeconds === null ? '-' : `${d.lagSeconds.toFixed(1)} s`);
  const lines = [
    `**${id}** on ${status.platform}: ${mode}`,
    '',
    '| database | state | lag | rows |',
    '|---|---|---|---|',
    ...status.databases.map((d) => `| ${d.database} | ${d.state} | ${lag(d)} | ${d.rows ?? '-'} |`),
  ];
  const waiting = status.databases.filter((d) => d.state === 'AWAITING_APPROVAL');
  if (waiting.length)
    lines.push('', 'next, approve:', ...waiting.map((d) => `- \`dbmig approve ${id} ${d.database} --approver <you>\``));
  const failed = status.databases.filter((d) => d.state === 'FAILED');
  if (failed.length)
    lines.push(
      '',
      'needs a decision:',
      ...failed.map((d) => `- \`dbmig retry ${id} ${d.database}\` or \`dbmig cancel ${id} ${d.database}\``),
    );
  return lines.join('\n');
}
