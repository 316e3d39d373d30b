// A real `dbmig worker` process's /metrics, scraped through a local migration from the copy to a
// completed cutover (and a database that fails its assessment, for the SDK's failure counter):
// every metric a dashboard query or an alert names is one the worker exported; the write block is
// observed in seconds into buckets in seconds (5 ms to 60 s) and so are the SDK's own latencies;
// dbmig_waiting_for_cutover is 1 while the database awaits approval; and once the database has
// completed every gauge of it is back to no value (NaN, 0 for the 0/1 gauges).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { approveCutover } from '../client/client';
import { planFor, type SourceDb } from './fixtures/fleet';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';
import { freeAddress, gauge, scrape } from './helpers/metrics-scrape';
import { alertExprs, dashboardQueries, metricNames } from './helpers/promql-names';
import { killWorkers, spawnWorker, workerAt } from './helpers/worker-process';
import { WRITE_BLOCK_BUCKETS_S } from '../worker/metrics-exporter';

const DB: SourceDb = { name: 'metered', rows: 5_000, priority: 'high', sizeGb: 1 };
/** Not created on the source: its assessment fails, so the worker counts a failed activity. */
const MISSING: SourceDb = { name: 'nosuchdb', rows: 0, priority: 'low', sizeGb: 1 };
/** Series Prometheus makes itself for every target (not the worker's). */
const PROMETHEUS_OWN = new Set(['up']);

let h: Harness;
before(async () => {
  h = await createHarness('metrics-scrape', { databases: [DB], worker: false });
});
after(async () => {
  killWorkers();
  await h?.close();
});

/** Names of the series in one scrape, and which of them are histograms. */
function namesIn(text: string): { series: Set<string>; histograms: Set<string> } {
  const series = new Set<string>();
  const histograms = new Set<string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) histogram$/.exec(line);
    if (t) histograms.add(t[1]);
    const m = /^([a-zA-Z_:][\w:]*)[{ ]/.exec(line);
    if (m) series.add(m[1]);
  }
  return { series, histograms };
}

/** Every finite `le` of histogram `name` in `text`, in order of first appearance. */
function bucketsOf(text: string, name: string): number[] {
  const les = [...text.matchAll(new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"`, 'gm'))].map((m) => m[1]);
  return [...new Set(les)].filter((le) => le !== '+Inf').map(Number);
}

test('the dashboards and alerts read only metrics a real worker exports, in seconds, none stale', async (t) => {
  const metrics = await freeAddress();
  spawnWorker(workerAt(h), { DBMIG_METRICS_ADDRESS: metrics });
  const seen = new Set<string>();
  const histograms = new Set<string>();
  let last = '';
  /** One scrape, added to what was seen; until the worker listens, the last one (empty). */
  const look = async () => {
    last = await scrape(metrics).catch(() => last);
    const n = namesIn(last);
    n.series.forEach((s) => seen.add(s));
    n.histograms.forEach((s) => histograms.add(s));
    return last;
  };
  const plan = planFor(h.source, [DB, MISSING], `env:${SOURCE_PASSWORD_ENV}`, {
    approval: { policy: 'manual', timeout: '1h' },
  });
  const handle = await h.startFleet('metrics', plan);
  t.after(() => handle.cancel().catch(() => undefined));

  const waiting = await eventually(
    'metered awaiting approval, its waiting gauge 1 and its lag measured by the watch',
    async () => {
      const m = await look();
      const s = await h.statusOf(handle.workflowId, DB.name);
      const measured = !Number.isNaN(gauge(m, 'dbmig_replication_lag_seconds', DB.name) ?? NaN);
      const flagged = gauge(m, 'dbmig_waiting_for_cutover', DB.name) === 1;
      return (s.state === 'AWAITING_APPROVAL' && flagged && measured && m) || undefined;
    },
    300_000,
  );
  const lag = gauge(waiting, 'dbmig_replication_lag_seconds', DB.name);
  assert.ok(lag !== undefined && lag >= 0 && lag < 60, `the watch measures lag while awaiting approval: ${lag}`);

  await approveCutover(h.env.client, handle.workflowId, DB.name, 'metrics-test');
  const done = await h.reach(handle.workflowId, DB.name, 'COMPLETED', 300_000);
  await eventually(
    'a failed activity counted (the missing database)',
    async () => (await look()).includes('temporal_activity_execution_failed') || undefined,
    180_000,
  );

  // The write block: in seconds (the summary's writeBlockMs / 1000), into the seconds buckets.
  const wb = 'dbmig_cutover_write_block_seconds';
  assert.deepEqual(bucketsOf(last, wb), WRITE_BLOCK_BUCKETS_S);
  const sum = gauge(last, `${wb}_sum`, DB.name);
  assert.ok(done.writeBlockMs !== undefined, 'the summary has the write block');
  assert.ok(Math.abs(sum! - done.writeBlockMs / 1000) < 1e-6, `observed ${sum} s for ${done.writeBlockMs} ms`);
  assert.equal(gauge(last, `${wb}_count`, DB.name), 1);

  // Every histogram in seconds: the SDK's latencies too (useSecondsForDurations), buckets under an hour.
  for (const hist of histograms) {
    const les = bucketsOf(last, hist);
    assert.ok(les.length > 0, `${hist} has buckets`);
    assert.ok(Math.max(...les) <= 3600, `${hist}: buckets ${les.join(', ')} are not seconds`);
    assert.ok(Math.min(...les) < 1, `${hist}: buckets ${les.join(', ')} start above a second`);
  }

  // Nothing of the completed database stays: its gauges go back to NaN (0 for the 0/1 ones) on this
  // worker once their steps ended (the watch learns its cancel at its next heartbeat, within a minute).
  const valued = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith('dbmig_') && !l.startsWith(wb) && l.includes(`database="${DB.name}"`))
      .filter((l) => !/ (NaN|0)$/.test(l));
  const cleared = await eventually(
    'every gauge of the completed database back to no value',
    async () => {
      const m = await look();
      return (valued(m).length === 0 && m) || undefined;
    },
    180_000,
  ).catch(() => last);
  assert.deepEqual(valued(cleared), [], 'no gauge of a completed database keeps a value');
  const gaugesSeen = cleared.split('\n').filter((l) => l.startsWith('dbmig_') && l.includes(`database="${DB.name}"`));

  // Every query's metrics, histograms by their _bucket/_sum/_count series.
  const queries = [...dashboardQueries(), ...alertExprs().map((a) => a.expr)];
  const named = new Set(queries.flatMap(metricNames));
  const missing = [...named].filter((n) => {
    if (PROMETHEUS_OWN.has(n)) return false;
    const base = n.replace(/_(bucket|sum|count)$/, '');
    return !(seen.has(n) && (base === n || histograms.has(base)));
  });
  assert.deepEqual(missing, [], `named by a query but not exported: ${missing.join(', ')}`);
  t.diagnostic(
    `${queries.length} queries (${dashboardQueries().length} dashboard, ${alertExprs().length} alert) name ` +
      `${named.size} metrics, all exported; the worker exported ${seen.size} series names, ` +
      `${histograms.size} histograms (${[...histograms].join(', ')}); write block ${sum} s; ` +
      `${gaugesSeen.length} series of the completed database, none with a value`,
  );
});
