// The short markdown the Temporal UI shows as a workflow's current details: where it is and
// what a human should do next.
import type { DatabaseSummary } from '../common/status';

const NEXT: Partial<Record<DatabaseSummary['state'], string>> = {
  PENDING: 'nothing: waiting for a concurrency slot',
  CDC: 'nothing: waiting for lag to stay under its threshold',
  CUTTING_OVER: 'nothing: writes to the source are blocked until the target has caught up',
  COMPLETED: 'point applications at the target',
  FAILED: 'read the error, fix the cause, then retry this database',
};

export function detailsMarkdown(migrationId: string, s: DatabaseSummary): string {
  const lag = s.lagSeconds === null ? 'n/a' : `${s.lagSeconds.toFixed(2)} s`;
  const next =
    s.state === 'AWAITING_APPROVAL'
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
