// The alert rules are checked and unit-tested by Prometheus's own promtool (Debian's `prometheus`
// package, a README prerequisite): `promtool check rules` on deploy/prometheus/alerts.yml and
// `promtool test rules` on deploy/prometheus/alerts.test.yml. Every alert has a case that fires and
// one that stays silent, and the dashboard's write-block p95 is evaluated over the three
// cutovers in the worker's own buckets. A machine without promtool fails here: it is not skipped.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { WRITE_BLOCK_BUCKETS_S } from '../worker/metrics-exporter';
import { dashboardQueries } from './helpers/promql-names';

const DIR = join(__dirname, '..', 'deploy', 'prometheus');
const read = (f: string) => readFileSync(join(DIR, f), 'utf8');

interface AlertTest {
  alertname: string;
  exp_alerts?: unknown[];
}
interface RuleTest {
  name: string;
  input_series: { series: string; values: string }[];
  alert_rule_test?: AlertTest[];
  promql_expr_test?: { expr: string; exp_samples: { value: number }[] }[];
}
const alerts: string[] = parse(read('alerts.yml')).groups.flatMap((g: { rules: { alert?: string }[] }) =>
  g.rules.flatMap((r) => (r.alert ? [r.alert] : [])),
);
const tests: RuleTest[] = parse(read('alerts.test.yml')).tests;

function promtool(...args: string[]): string {
  const r = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8' });
  assert.ok(
    !r.error,
    `promtool cannot run (${r.error?.message}): install Debian's prometheus package (apt-get install prometheus)`,
  );
  const out = `${r.stdout}${r.stderr}`;
  assert.equal(r.status, 0, `promtool ${args.join(' ')}:\n${out}`);
  return out;
}

test('promtool check rules passes on alerts.yml', (t) => {
  const out = promtool('check', 'rules', 'alerts.yml');
  assert.match(out, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  t.diagnostic(out.trim());
});

test('promtool test rules passes, with a firing and a silent case for every alert', (t) => {
  const out = promtool('test', 'rules', 'alerts.test.yml');
  assert.match(out, /SUCCESS/);
  const cases = tests.flatMap((c) => c.alert_rule_test ?? []);
  for (const alert of alerts) {
    const mine = cases.filter((c) => c.alertname === alert);
    assert.ok(
      mine.some((c) => c.exp_alerts?.length),
      `${alert}: no case where it fires`,
    );
    assert.ok(
      mine.some((c) => !c.exp_alerts?.length),
      `${alert}: no case where it stays silent`,
    );
  }
  t.diagnostic(`${alerts.length} alerts (${alerts.join(', ')}), ${tests.length} test groups, ${cases.length} cases`);
});

test("the write-block p95 the rule test reads is the dashboard panel's, over the worker's buckets, under 1 s", () => {
  const panel = dashboardQueries().find((q) => q.includes('dbmig_cutover_write_block_seconds_bucket'));
  assert.ok(panel, 'the dashboard has a write-block panel');
  const group = tests.find((c) => c.promql_expr_test?.some((e) => e.expr === panel.replaceAll('$migration', '.*')));
  assert.ok(group, `a promql_expr_test evaluates the panel's query: ${panel}`);
  const value = group.promql_expr_test![0].exp_samples[0].value;
  assert.ok(value > 0.2 && value < 0.25, `p95 of 0.06, 0.095 and 0.2 s is ${value} s`);
  const les = group.input_series.map((s) => /le="([^"]+)"/.exec(s.series)![1]);
  assert.deepEqual(les, [...WRITE_BLOCK_BUCKETS_S.map(String), '+Inf'], "the worker's buckets, in seconds");
});
