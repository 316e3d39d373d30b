// The deployment files agree with the code: every metric the alerts and the dashboard use is
// one the worker exports, Prometheus scrapes the worker's metrics port, and docker-compose
// registers the search attributes the workflows set. `docker compose config -q` runs when a
// compose binary is present (.ci/run builds one).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ALL_SEARCH_ATTRIBUTES } from '../common/search-attributes';

const ROOT = join(__dirname, '..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
const exported = new Set([...read('activities/metrics.ts').matchAll(/'(dbmig_[a-z_]+)'/g)].map((m) => m[1]));
const base = (name: string) => name.replace(/_(bucket|sum|count)$/, '');

test('alerts and dashboard use only metrics the worker exports', () => {
  const rules = parse(read('deploy/prometheus/alerts.yml')).groups.flatMap(
    (g: { rules: { alert: string; expr: string }[] }) => g.rules,
  );
  assert.ok(rules.length >= 4);
  const names = ['MigrationLagHigh', 'MigrationLagCritical', 'MigrationStalled', 'MigrationActivityErrors'];
  assert.deepEqual(
    names.filter((n) => rules.some((r: { alert: string }) => r.alert === n)),
    names,
  );
  assert.match(rules.find((r: { alert: string }) => r.alert === 'MigrationLagHigh').expr, /> 60$/);
  assert.match(rules.find((r: { alert: string }) => r.alert === 'MigrationLagCritical').expr, /> 300$/);
  const used = [read('deploy/prometheus/alerts.yml'), read('deploy/grafana/dashboards/dbmig.json')].flatMap((t) =>
    [...t.matchAll(/\b(dbmig_[a-z_]+)/g)].map((m) => base(m[1])),
  );
  for (const m of used)
    assert.ok(exported.has(m), `${m} is not exported by activities/metrics.ts (${[...exported].join(', ')})`);
});

test('compose scrapes the worker, provisions Grafana and registers the search attributes', () => {
  const compose = parse(read('docker-compose.yml'));
  for (const s of ['temporal-db', 'temporal', 'temporal-ui', 'worker', 'prometheus', 'grafana'])
    assert.ok(compose.services[s], `service ${s}`);
  const port = String(compose.services.worker.environment.DBMIG_METRICS_ADDRESS).split(':')[1];
  const targets = parse(read('deploy/prometheus/prometheus.yml')).scrape_configs[0].static_configs[0].targets;
  assert.deepEqual(targets, [`worker:${port}`]);
  const setup = compose.services['temporal-setup'].command.join(' ');
  for (const sa of ALL_SEARCH_ATTRIBUTES) assert.ok(setup.includes(sa.name), `search attribute ${sa.name}`);
  assert.ok(existsSync(join(ROOT, 'Dockerfile')));
  JSON.parse(read('deploy/grafana/dashboards/dbmig.json'));
});

const compose = [join(ROOT, '.tools', 'bin', 'docker-compose'), 'docker-compose'].find(
  (c) => spawnSync(c, ['version'], { encoding: 'utf8' }).status === 0,
);
test(
  'docker compose config -q accepts the file',
  { skip: compose ? false : 'no docker compose binary here (.ci/run builds one)' },
  () => {
    const r = spawnSync(compose!, ['-f', join(ROOT, 'docker-compose.yml'), 'config', '-q'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  },
);
