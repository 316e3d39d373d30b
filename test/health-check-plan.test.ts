// The plan's health check after the cutover (cutover.healthCheck, databases[].healthCheck): what
// `dbmig plan` refuses, by field and line (a URL that is not one, a URL with credentials in it, a
// compared value with no threshold, two kinds at once), and what it accepts, as the workflow gets it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';

const CLI = join(__dirname, '..', 'cli', 'main.ts');
const dir = mkdtempSync(join(tmpdir(), 'health-plan-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function dbmig(args: string[]) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const DATABASE = [
  'databases:',
  '  - name: orders',
  '    engine: postgresql',
  '    sizeGb: 1',
  '    source: { host: 127.0.0.1, database: orders, user: postgres, passwordRef: env:P }',
  '    target: { kind: cloudsql, instance: orders-target }',
];

function planFile(name: string, lines: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, ['platform: local', ...lines, ...DATABASE].join('\n') + '\n');
  return file;
}

test('a health check URL that is not an http URL is refused at its line', async () => {
  const file = planFile('bad-url.yaml', [
    'cutover:',
    '  healthCheck:',
    '    http:',
    '      url: not a url',
    '    for: 30s',
  ]);
  const r = await dbmig(['plan', '--plan', file]);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim(), `${file}:5:12: cutover.healthCheck.http.url: must be an http:// or https:// URL`);
});

test('a URL with credentials in it is refused: it belongs in a secret (urlRef)', async () => {
  const file = planFile('credentials.yaml', [
    'cutover:',
    '  healthCheck:',
    '    prometheus: { url: "https://ops:hunter2@prom.example:9090", query: "up" }',
    '    above: 0.05',
    '    for: 1m',
  ]);
  const r = await dbmig(['plan', '--plan', file]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(
    r.stderr.trim(),
    new RegExp(`^${file}:4:24: cutover.healthCheck.prometheus.url: must not carry credentials`),
  );
  assert.doesNotMatch(r.stderr, /hunter2/, 'the refusal does not repeat the password');
});

test('a compared value with no threshold is refused, naming the field and its line', async () => {
  const file = planFile('no-threshold.yaml', [
    'cutover:',
    '  reverseReplicationFor: 1h',
    '  healthCheck:',
    '    prometheus:',
    '      url: http://prom.example:9090',
    '      query: sum(rate(http_errors_total[1m])) / sum(rate(http_requests_total[1m]))',
    '    for: 2m',
  ]);
  const r = await dbmig(['plan', '--plan', file]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(
    r.stderr.trim(),
    new RegExp(`^${file}:5:5: cutover.healthCheck.above: needs a threshold: above or below`),
  );
});

test('a database health check with both kinds, and one with no `for`, are refused at their lines', async () => {
  const file = join(dir, 'both.yaml');
  writeFileSync(
    file,
    [
      'platform: local',
      ...DATABASE,
      '    healthCheck:',
      '      http: { url: http://app.internal/health }',
      '      prometheus: { url: http://prom.example:9090, query: up }',
      '      below: 1',
      '      for: 30s',
      '  - name: billing',
      '    engine: postgresql',
      '    sizeGb: 1',
      '    source: { host: 127.0.0.1, database: billing, user: postgres, passwordRef: env:P }',
      '    target: { kind: cloudsql, instance: billing-target }',
      '    healthCheck:',
      '      http: { url: http://app.internal/health }',
    ].join('\n') + '\n',
  );
  const r = await dbmig(['plan', '--plan', file]);
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.ok(
    lines.some((l) => l.startsWith(`${file}:9:7: databases[0].healthCheck: needs exactly one of prometheus or http`)),
    r.stderr,
  );
  assert.ok(
    lines.some((l) => l.startsWith(`${file}:19:7: databases[1].healthCheck.for: `)),
    r.stderr,
  );
});

test("a database's own check replaces the plan's, as references and milliseconds only", () => {
  const plan = validatePlan({
    platform: 'local',
    cutover: {
      reverseReplicationFor: '2h',
      healthCheck: { prometheus: { urlRef: 'env:PROM_URL', query: 'up' }, below: 1, for: '2m', every: '15s' },
    },
    databases: [
      {
        name: 'orders',
        engine: 'postgresql',
        sizeGb: 1,
        source: { host: 'h', database: 'orders', user: 'u', passwordRef: 'env:P' },
        target: { kind: 'cloudsql', instance: 'o' },
      },
      {
        name: 'billing',
        engine: 'postgresql',
        sizeGb: 1,
        source: { host: 'h', database: 'billing', user: 'u', passwordRef: 'env:P' },
        target: { kind: 'cloudsql', instance: 'b' },
        healthCheck: { http: { url: 'http://app.internal/health', expectStatus: 204 }, for: '30s' },
      },
    ],
  });
  assert.deepEqual(effectiveSettings(plan, plan.databases[0]).healthCheck, {
    prometheus: { urlRef: 'env:PROM_URL', query: 'up' },
    below: 1,
    forMs: 120_000,
    everyMs: 15_000,
  });
  assert.deepEqual(effectiveSettings(plan, plan.databases[1]).healthCheck, {
    http: { url: 'http://app.internal/health', expectStatus: 204 },
    forMs: 30_000,
    everyMs: 10_000,
  });
  const none = validatePlan({ ...plan, cutover: { reverseReplicationFor: '1h' }, databases: [plan.databases[0]] });
  assert.equal('healthCheck' in effectiveSettings(none, none.databases[0]), false, 'no check: no field at all');
});
