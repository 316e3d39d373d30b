// A healthy database, measured as the sim platform reports it, through a 50 GB copy and then three
// days waiting for its approval: the detector, fed as the full-dump wait and the watcher feed it
// (bytes counted by the sim, turned into rates over the same windows), with the production defaults
// (10 s polls, a 10 min window) fires nothing, though its copy wanders between 70% and 110% of the
// rehearsed rate, its apply between 60% and 110%, and a daily batch pushes the lag to 40 s for hours.
// The sim's status is a pure function of time, so days are simulated in a second. The same feed with
// the apply rate at 40% for an hour of that batch fires apply-slow once and clears it once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replicationStatus } from '../activities/platforms/sim/replication';
import type { DatabaseTask } from '../activities/steps';
import { AnomalyDetector, DEFAULT_THRESHOLDS } from '../common/anomaly';
import { REHEARSAL_MB } from '../common/expected-rates';
import { RATE_WINDOW_MS, RateWindow } from '../common/progress-rate';
import { simSchema } from '../common/sim-plan';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-12-01T00:00:00Z');

/** A seeded pseudo-random in [0,1): tests must not depend on luck. */
function rng(seed: number) {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

const task = { migrationId: 'days', platform: 'sim', database: { name: 'healthy', sizeGb: 50 } } as DatabaseTask;

/** Steps of `minutes` minutes over `span`, each a random share (lo..hi) of `mb`. */
function wandering(r: () => number, span: number, minutes: number, mb: number, lo: number, hi: number) {
  return Array.from({ length: Math.ceil(span / (minutes * MIN)) }, (_, i) => ({
    after: `${i * minutes}m`,
    mbPerSecond: mb * (lo + (hi - lo) * r()),
  }));
}

/** Lag since CDC: 1..4 s, and each day a batch from 02:00 that raises it to 40 s over 2 h and back by 06:00. */
function dailyBatchLag(days: number) {
  const points = [{ after: '0s', seconds: 2 }];
  for (let d = 0; d < days; d++) {
    const h = d * 24;
    points.push(
      { after: `${h + 2}h`, seconds: 3 },
      { after: `${h + 4}h`, seconds: 40 },
      { after: `${h + 5}h`, seconds: 40 },
      { after: `${h + 6}h`, seconds: 1 },
      { after: `${h + 14}h`, seconds: 4 },
    );
  }
  return points;
}

/** Feeds the sim's reports to a detector as waitForFullDump and watchReplication do; returns every change. */
function watch(applyMbPerSecond: { after: string; mbPerSecond: number }[], days: number) {
  const r = rng(17);
  const sim = simSchema.parse({
    byDatabase: {
      healthy: {
        copyMbPerSecond: wandering(r, HOUR, 1, 100, 0.7, 1.1),
        applyMbPerSecond,
        lag: dailyBatchLag(days),
      },
    },
  });
  const expected = { copyBytesPerSecond: 100 * REHEARSAL_MB, applyBytesPerSecond: 10 * REHEARSAL_MB };
  const window = () => new RateWindow(Math.min(RATE_WINDOW_MS, DEFAULT_THRESHOLDS.windowMs));
  const changes: { at: number; kinds: string }[] = [];
  let last = '';
  const note = (at: number, kinds: string) => {
    if (kinds !== last) changes.push({ at: at - T0, kinds });
    last = kinds;
  };
  // The copy: polled every 2 s (the real waits poll every 250 ms; the rate window is 30 s either way).
  const copy = new AnomalyDetector(DEFAULT_THRESHOLDS, expected);
  const copied = window();
  let now = T0;
  let polls = 0;
  for (
    let s = replicationStatus(task, sim, T0, now);
    s.phase === 'FULL_DUMP';
    s = replicationStatus(task, sim, T0, now)
  ) {
    copied.add(now, s.copiedBytes!);
    note(
      now,
      copy
        .addCopy({ at: now, bytesPerSecond: copied.perSecond() })
        .map((a) => a.kind)
        .join(','),
    );
    now += 2_000;
    polls++;
  }
  const copyMinutes = (now - T0) / MIN;
  // The watch: every 10 s for `days`.
  const detector = new AnomalyDetector(DEFAULT_THRESHOLDS, expected);
  const applied = window();
  for (const end = now + days * DAY; now < end; now += 10_000, polls++) {
    const s = replicationStatus(task, sim, T0, now);
    applied.add(now, s.appliedBytes!);
    const sample = {
      at: now,
      lagSeconds: s.lagSeconds,
      errorCount: s.errorCount,
      applyBytesPerSecond: applied.perSecond(),
    };
    note(
      now,
      detector
        .add(sample)
        .map((a) => a.kind)
        .join(','),
    );
  }
  return { changes, polls, copyMinutes };
}

test('a healthy database through a 50 GB copy and three days awaiting approval fires nothing', () => {
  const r = rng(5);
  const { changes, polls, copyMinutes } = watch(wandering(r, 3 * DAY + HOUR, 1, 10, 0.6, 1.1), 3);
  assert.ok(copyMinutes > 8 && copyMinutes < 13, `the copy took ${copyMinutes} min`);
  assert.ok(polls > 25_000, `${polls} polls`);
  assert.deepEqual(changes, []);
});

test('the same days with apply at 40% for an hour of the batch fire apply-slow once and clear it once', () => {
  const r = rng(5);
  const apply = wandering(r, 3 * DAY + HOUR, 1, 10, 0.6, 1.1);
  // Day 2 (since CDC): 40% from 03:30 to 04:30, while the batch's lag is over 30 s.
  const slowFrom = DAY + 3.5 * HOUR;
  const slowUntil = slowFrom + HOUR;
  const steps = apply.filter((p) => {
    const at = Number(p.after.replace('m', '')) * MIN;
    return at < slowFrom || at >= slowUntil;
  });
  steps.push({ after: `${slowFrom / MIN}m`, mbPerSecond: 4 }, { after: `${slowUntil / MIN}m`, mbPerSecond: 10 });
  const { changes, copyMinutes } = watch(steps, 3);
  assert.deepEqual(
    changes.map((c) => c.kinds),
    ['apply-slow', ''],
  );
  const cdc = copyMinutes * MIN;
  const fired = changes[0].at - cdc - slowFrom;
  const cleared = changes[1].at - cdc - slowUntil;
  console.log(
    `apply-slow fired ${fired / 1000} s after the apply slowed, cleared ${cleared / 1000} s after it recovered`,
  );
  // A 30 s rate window and 3 confirming 10 s polls: within a minute either way.
  assert.ok(fired > 0 && fired <= 60_000, `fired ${fired} ms after`);
  assert.ok(cleared > 0 && cleared <= 60_000, `cleared ${cleared} ms after`);
});
