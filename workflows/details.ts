// The short markdown the Temporal UI shows as a workflow's current details: where it is and
// what a human should do next.
import type { DatabaseSummary, FleetStatus } from '../common/status';

const NEXT: Partial<Record<DatabaseSummary['state'], string>> = {
  PENDING: 'nothing: waiting for a concurrency slot',
  CDC: 'nothing: waiting for lag to stay under its threshold',
  CUTTING_OVER: 'nothing: writes to the source are blocked until the target has caught up',
  COMPLETED: 'point applications at the target',
  ROLLING_BACK: 'nothing: the target is fenced and drained into the source, which then takes writes again',
  ROLLED_BACK: 'point applications back at the source; the target is closed to writes and kept',
  FINALIZED: 'nothing: the target serves the writes and reverse replication has ended',
  FAILED: 'read the error, fix the cause, then retry this database',
  COMPENSATING: 'nothing: undoing what this run created before the cutover (the target had not taken over)',
  // The runbook always sets a precise next action (what is left, by name); this is the fallback.
  NEEDS_ATTENTION:
    'check the target, which took over (nothing was undone); then finish the clean-up by hand: ' +
    'the migration job (replication from the source) and the reserved capacity',
};

/**
 * Where the live progress of a long step is. The workflow cannot know it without an event per poll
 * (rule 4), so the details point at the pending activity's heartbeat, which the UI shows below.
 */
const LIVE: Partial<Record<DatabaseSummary['state'], string>> = {
  FULL_DUMP:
    "the copy's rows, bytes, rate and ETA per table are the pending activity's heartbeat details " +
    '(`copy`); then the lag falling (`catchUp`)',
  CDC:
    "the lag, how fast it falls and the ETA to caught up are the pending activity's heartbeat details " + '(`catchUp`)',
  VALIDATING:
    "chunks and rows compared of the total, the rate and the ETA are the pending activity's heartbeat " +
    'details (`summary`)',
};

export function detailsMarkdown(migrationId: string, s: DatabaseSummary): string {
  // The watcher heartbeats live lag (the UI shows it under the pending activity); this is the last
  // value the runbook itself recorded.
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
  const live = LIVE[s.state];
  if (live) lines.push(`progress: ${live}; \`dbmig status ${migrationId} --database ${s.database}\` reads them`);
  if (s.replication) lines.push(`**replication broken**: ${s.replication}`);
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
  const broken = status.databases.filter((d) => d.replication);
  if (broken.length)
    lines.push(
      '',
      'replication broken (no cutover starts):',
      ...broken.map((d) => `- ${d.database}: ${d.replication}`),
    );
  const waiting = status.databases.filter((d) => d.state === 'AWAITING_APPROVAL' && !d.approvedBy);
  if (waiting.length)
    lines.push('', 'next, approve:', ...waiting.map((d) => `- \`dbmig approve ${id} ${d.database} --approver <you>\``));
  const attention = status.databases.filter((d) => d.state === 'NEEDS_ATTENTION');
  if (attention.length)
    lines.push(
      '',
      'needs attention (past the point of no return, nothing was undone):',
      ...attention.map((d) => `- ${d.database}: ${d.nextAction || NEXT.NEEDS_ATTENTION}`),
    );
  const failed = status.databases.filter((d) => d.state === 'FAILED');
  if (failed.length)
    lines.push(
      '',
      'needs a decision:',
      ...failed.map((d) => `- \`dbmig retry ${id} ${d.database}\` or \`dbmig cancel ${id} ${d.database}\``),
    );
  return lines.join('\n');
}
