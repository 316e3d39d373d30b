// copy-slow as the initial copy's wait judges it (activities/copy-rate-watch.ts), fed the bytes a
// copy reports at times the test chooses: a copy that stops moving fires once a window has passed
// without bytes and clears once it moves again; a spell its throttle paused is not judged, neither
// while it lasts nor right after (the rate starts again, rather than spanning the pause).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { CopyRateWatch } from '../activities/copy-rate-watch';
import type { createMigrationMetrics } from '../activities/metrics';
import type { DatabaseTask } from '../activities/steps';

const MB = 1_000_000;
const task = {
  database: { name: 'orders' },
  settings: { anomalies: { window: '4s' } },
  expected: { copyBytesPerSecond: MB },
} as unknown as DatabaseTask;
const metrics = { anomalies: () => undefined } as unknown as ReturnType<typeof createMigrationMetrics>;

type Step = 'move' | 'stall' | 'throttled';
const times = (n: number, s: Step): Step[] => Array.from({ length: n }, () => s);

/**
 * Feeds `steps` to a new watch, reports 1 s apart, in an activity's context (outside a workflow its
 * signal fails and is logged; the verdicts are the same). Returns the second of each change of
 * copy-slow (+ fired, - cleared).
 */
function feed(steps: Step[]): Promise<string[]> {
  return new MockActivityEnvironment().run(async () => {
    const watch = new CopyRateWatch(task, metrics);
    const changes: string[] = [];
    let bytes = 0;
    let on = false;
    steps.forEach((s, i) => {
      if (s === 'throttled') watch.throttled();
      else watch.copied(i * 1_000, (bytes += s === 'move' ? MB : 0));
      const now = watch.anomalies.some((a) => a.kind === 'copy-slow');
      if (now !== on) changes.push(`${now ? '+' : '-'}${i}`);
      on = now;
    });
    await watch.end();
    return changes;
  });
}

test('a copy that stops moving is copy-slow once a window has passed, and clears once it moves', async () => {
  const changes = await feed([...times(10, 'move'), ...times(10, 'stall'), ...times(10, 'move')]);
  // Stalled from the report at 10 s: at 12 s the 4 s window holds a quarter of the expected bytes
  // (under half), and 3 reports confirm it at 14 s; moving again from 20 s, the window is back at 75%
  // at 22 s, confirmed at 24 s.
  assert.deepEqual(changes, ['+14', '-24']);
});

test('a throttled spell is not judged, while it lasts or when the copy resumes', async () => {
  const changes = await feed([...times(10, 'move'), ...times(20, 'throttled'), ...times(10, 'move')]);
  assert.deepEqual(changes, [], 'nothing fired: the rate after the pause is of the moves after it');
});
