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
  const waiting = status.databases.filter((d) => d.state === 'AWAITING_APPROVAL');
  const lines = [
    `**${status.migrationId}** on ${status.platform}: ${status.paused ? '**paused** (`dbmig resume ' + status.migrationId + '`)' : `running, ${status.concurrency} at a time`}`,
    '',
    '| database | state | lag | rows |',
    '|---|---|---|---|',
    ...status.databases.map(
      (d) =>
        `| ${d.database} | ${d.state} | ${d.lagSeconds === null ? '-' : `${d.lagSeconds.toFixed(1)} s`} | ${d.rows ?? '-'} |`,
    ),
  ];
  if (waiting.length)
    lines.push(
      '',
      'next, approve:',
      ...waiting.map((d) => `- \`dbmig approve ${status.migrationId} ${d.database} --approver <you>\``),
    );
  const failed = status.databases.filter((d) => d.state === 'FAILED');
  if (failed.length)
    lines.push(
      '',
      'needs a decision:',
      ...failed.map(
        (d) =>
          `- \`dbmig retry ${status.migrationId} ${d.database}\` or \`dbmig cancel ${status.migrationId} ${d.database}\``,
      ),
    );
  return lines.join('\n');
}
