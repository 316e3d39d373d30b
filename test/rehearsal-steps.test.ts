// What a rehearsal records per step, read from a DatabaseMigration history: per activity type, its
// calls and their time from scheduled to the end of the last attempt (completed, failed or timed
// out); one still running is not counted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stepTimes } from '../cli/rehearsal-steps';
import { temporal } from '@temporalio/proto';
import type { HistoryEvent } from '../cli/history-spans';

/** An event as the server sends it (proto's fromObject takes plain numbers for its int64s). */
const event = (o: Record<string, unknown>): HistoryEvent => temporal.api.history.v1.HistoryEvent.fromObject(o);

const at = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });
let id = 0;
const scheduled = (type: string, ms: number): HistoryEvent =>
  event({ eventId: ++id, eventTime: at(ms), activityTaskScheduledEventAttributes: { activityType: { name: type } } });
const ended = (kind: 'completed' | 'failed' | 'timedOut', of: HistoryEvent, ms: number): HistoryEvent =>
  event({
    eventId: ++id,
    eventTime: at(ms),
    [`activityTask${kind[0].toUpperCase()}${kind.slice(1)}EventAttributes`]: { scheduledEventId: of.eventId },
  });

test("each activity type's calls and time, from the server's stamps", () => {
  const start = event({ eventId: ++id, eventTime: at(1_000_000) });
  const provision = scheduled('provisionTarget', 1_000_010);
  const live = scheduled('validateData', 1_003_000);
  const final = scheduled('validateData', 1_009_000);
  const watch = scheduled('watchReplication', 1_004_000);
  const cut = scheduled('cutover', 1_005_000);
  const events = [
    start,
    provision,
    ended('completed', provision, 1_002_510),
    live,
    ended('completed', live, 1_003_400),
    watch, // cancelled with the run still going: no end, not counted
    cut,
    ended('timedOut', cut, 1_006_000),
    final,
    ended('failed', final, 1_009_600),
  ];
  const t = stepTimes(events);
  assert.deepEqual(t.steps, {
    provisionTarget: { calls: 1, ms: 2_500 },
    validateData: { calls: 2, ms: 1_000 },
    cutover: { calls: 1, ms: 1_000 },
  });
  assert.equal(t.totalMs, 9_600);
  assert.deepEqual(stepTimes([]), { steps: {}, totalMs: 0 });
});
