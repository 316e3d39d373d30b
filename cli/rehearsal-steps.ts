// What each step of a database's rehearsal took, read from its DatabaseMigration's history (the
// server's timestamps, not the rehearsal's 250 ms status polls): per activity type, its calls and
// their total time. `dbmig forecast` replays these on the simulated platform, so a forecast carries
// the fixed costs a run pays besides copying (a target's provisioning, the schema, the cutover).
// Pure: the caller fetches the history.
import { eventMs, spansByType, type HistoryEvent } from './history-spans';

export interface StepTimes {
  /** Per activity type: how many times it was scheduled and their total ms, scheduled to completed. */
  steps: Record<string, { calls: number; ms: number }>;
  /** The whole run, from its first event to its last. */
  totalMs: number;
}

export function stepTimes(events: HistoryEvent[]): StepTimes {
  const steps: StepTimes['steps'] = {};
  for (const [type, spans] of spansByType(events)) {
    const done = spans.filter((s) => s.end !== undefined);
    if (done.length) steps[type] = { calls: done.length, ms: done.reduce((a, s) => a + (s.end! - s.start), 0) };
  }
  const totalMs = events.length ? eventMs(events[events.length - 1]) - eventMs(events[0]) : 0;
  return { steps, totalMs };
}
