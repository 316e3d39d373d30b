// A worker's shutdown waits for every activity to stop: when it does not end, the worker says which
// activities it still waits for and whether they were asked to stop (worker/in-flight.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InFlightActivities, reportSlowShutdown } from '../worker/in-flight';

test('a slow shutdown names the activities it waits for, and only once the worker stops taking work', async () => {
  const running = new InFlightActivities();
  assert.equal(running.describe(), 'no activity in flight');
  // An activity as the worker runs it: through the interceptor, with the context's info and signal.
  const ctl = new AbortController();
  const ctx = {
    info: {
      activityType: 'watchReverseReplication',
      activityId: '7',
      attempt: 2,
      workflowExecution: { workflowId: 'm/db', runId: 'r' },
    },
    cancellationSignal: ctl.signal,
  };
  let finish: (v: unknown) => void = () => undefined;
  const inbound = running.interceptor(ctx as never).inbound!;
  const done = inbound.execute!({ args: [], headers: {} }, () => new Promise((r) => (finish = r)));
  const now = Date.now();
  assert.match(running.describe(now + 3_000), /^watchReverseReplication of m\/db \(attempt 2, running 3 s\)$/);
  ctl.abort();
  assert.match(running.describe(Date.now() + 2_000), /running \d+ s, cancelled 2 s ago\)$/);

  const reports: string[] = [];
  let state = 'RUNNING';
  const stop = reportSlowShutdown({ getState: () => state }, running, (w) => reports.push(w), 1);
  await new Promise((r) => setTimeout(r, 1_500));
  assert.deepEqual(reports, [], 'nothing is said while the worker runs');
  state = 'DRAINING';
  for (let i = 0; !reports.length; i++) {
    assert.ok(i < 100, 'a draining worker said nothing');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(reports[0], /^worker DRAINING for \d+ s, waiting for: watchReverseReplication of m\/db/);
  stop();
  finish(undefined);
  await done;
  assert.equal(running.describe(), 'no activity in flight', 'an activity that ended is no longer listed');
});
