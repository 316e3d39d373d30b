// What `dbmig plan` and `dbmig start` say about a bad plan or a bad --id: one problem per line as
// file:line:column: field: message, a did-you-mean for a misspelt key, exit 2, offline. And the
// dry run's layout: 120 columns unless --wide, one JSON object with -o json.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const CLI = join(__dirname, '..', 'cli', 'main.ts');
const PLANS = join(__dirname, '..', 'examples', 'plans');
const dir = mkdtempSync(join(tmpdir(), 'plan-errors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function dbmig(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1', DBMIG_GCP_ENDPOINT: 'http://127.0.0.1:1', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function planFile(name: string, lines: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

const VALID_DATABASE = [
  '  - name: orders',
  '    engine: postgresql',
  '    sizeGb: 10',
  '    source:',
  '      host: 127.0.0.1',
  '      database: orders',
  '      user: postgres',
  '      passwordRef: env:P',
  '    target: { kind: cloudsql, instance: orders-target }',
];

test('an unknown key is an error at its line and column, with the key it most likely meant', async () => {
  const file = planFile('unknown-key.yaml', [
    'platform: local',
    'databases:',
    '  - name: orders',
    '    engine: postgresql',
    '    sizeGB: 10',
    '    source: { host: h, database: d, user: u, passwordRef: env:P }',
    '    target: { kind: cloudsql, instance: t }',
  ]);
  const r = await dbmig(['plan', '--plan', file]);
  assert.equal(r.status, 2, r.stderr);
  // Only that: "sizeGb is required" would say the same thing again.
  assert.equal(r.stderr.trim(), `${file}:5:5: databases[0].sizeGB: unknown key; did you mean sizeGb?`);
  assert.equal(r.stdout, '');
});

test('a wrong type deep in the plan is reported at the value, one problem per line in file order', async () => {
  const file = planFile('wrong-type.yaml', [
    'platform: local',
    'concurrency: 0',
    'databases:',
    ...VALID_DATABASE.slice(0, 5),
    '      port: "5432"',
    ...VALID_DATABASE.slice(5, 8),
    '    target: { kind: cloudsql, instance: orders-target, colour: blue }',
  ]);
  const r = await dbmig(['plan', '--plan', file]);
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 3, r.stderr);
  assert.match(lines[0], new RegExp(`^${file}:2:14: concurrency: `));
  assert.equal(lines[1], `${file}:9:13: databases[0].source.port: expected number, received string`);
  assert.match(
    lines[2],
    new RegExp(`^${file}:13:56: databases\\[0\\]\\.target\\.colour: unknown key \\(known keys: kind,`),
  );
});

test('a bad throttle is reported at its field and line; one off the local platform is refused', async () => {
  const file = planFile('throttle.yaml', [
    'platform: local',
    'defaults:',
    '  throttle: { maxActiveConnections: 0, pollInterval: 10ms }',
    'databases:',
    ...VALID_DATABASE,
    '    throttle:',
    '      check: "  "',
  ]);
  const r = await dbmig(['plan', '--plan', file]);
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 3, r.stderr);
  assert.match(lines[0], new RegExp(`^${file}:3:37: defaults\\.throttle\\.maxActiveConnections: `));
  assert.equal(
    lines[1],
    `${file}:3:54: defaults.throttle.pollInterval: must be a duration between 100ms and 10m, like 5s`,
  );
  assert.equal(lines[2], `${file}:15:14: databases[0].throttle.check: must be a SQL query`);
  const sim = planFile('throttle-sim.yaml', [
    'platform: sim',
    'defaults:',
    '  throttle: { check: select true }',
    'databases:',
    ...VALID_DATABASE,
  ]);
  const refused = await dbmig(['plan', '--plan', sim]);
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, new RegExp(`^${sim}:3:13: defaults\\.throttle: is applied by the local platform's`));
});

test('bad validation settings are named by field; off the local platform the section is refused', async () => {
  const file = planFile('validation.yaml', [
    'platform: local',
    'validation: { streams: 0, chunkRows: 99 }',
    'databases:',
    ...VALID_DATABASE,
  ]);
  const r = await dbmig(['plan', '--plan', file]);
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.equal(lines[0], `${file}:2:24: validation.streams: must be a whole number of sessions per side, 1 to 64`);
  assert.equal(lines[1], `${file}:2:38: validation.chunkRows: must be a whole number of rows, 100 to 1000000`);
  const more = planFile('validation-more.yaml', [
    'platform: local',
    'validation: { streams: 2.5, chunkRows: 2000000, sessions: 3 }',
    'databases:',
    ...VALID_DATABASE,
  ]);
  const bad = await dbmig(['plan', '--plan', more]);
  assert.equal(bad.status, 2, bad.stderr);
  assert.deepEqual(bad.stderr.trim().split('\n'), [
    `${more}:2:24: validation.streams: must be a whole number of sessions per side, 1 to 64`,
    `${more}:2:40: validation.chunkRows: must be a whole number of rows, 100 to 1000000`,
    `${more}:2:49: validation.sessions: unknown key (known keys: streams, chunkRows)`,
  ]);
  const good = planFile('validation-good.yaml', [
    'platform: local',
    'validation: { streams: 1, chunkRows: 5000 }',
    'databases:',
    ...VALID_DATABASE,
  ]);
  const ok = await dbmig(['plan', '--plan', good]);
  assert.equal(ok.status, 0, ok.stderr);
  const sim = planFile('validation-sim.yaml', [
    'platform: sim',
    'validation: { streams: 2 }',
    'databases:',
    ...VALID_DATABASE,
  ]);
  const refused = await dbmig(['plan', '--plan', sim]);
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(
    refused.stderr,
    new RegExp(`^${sim}:2:13: validation: is applied by the local platform's live validation.*on sim nothing`),
  );
});

test('bad copy settings are reported at their fields; helpers with the native copy are refused', async () => {
  const line = 'copy: { streams: 4, workerStreams: 0, helpers: 17 }';
  const file = planFile('copy.yaml', ['platform: local', line, 'databases:', ...VALID_DATABASE]);
  const r = await dbmig(['plan', '--plan', file]);
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  const at = (value: string) => line.indexOf(value) + 1; // each value's column
  assert.match(lines[0], new RegExp(`^${file}:2:${at('0,')}: copy\\.workerStreams: .*>=1`));
  assert.match(lines[1], new RegExp(`^${file}:2:${at('17')}: copy\\.helpers: .*<=16`));
  const native = planFile('copy-native.yaml', [
    'platform: local',
    'copy: { method: native, helpers: 2 }',
    'databases:',
    ...VALID_DATABASE,
  ]);
  const refused = await dbmig(['plan', '--plan', native]);
  assert.equal(refused.status, 2, refused.stderr);
  assert.equal(
    refused.stderr.trim(),
    `${native}:2:${'copy: { method: native, helpers: '.length + 1}: copy.helpers: joins the snapshot copy: ` +
      'with copy.method native the subscription copies alone; remove it',
  );
});

test('a YAML syntax error carries its line and column, exit 2', async () => {
  const file = planFile('syntax.yaml', [
    'platform: local',
    'databases:',
    '  - name: [orders',
    '    engine: postgresql',
  ]);
  const r = await dbmig(['plan', '--plan', file]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`^${file}:\\d+:\\d+: \\S`));
  const missing = await dbmig(['plan', '--plan', join(dir, 'nowhere.yaml')]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /nowhere\.yaml: cannot read the plan: no such file/);
});

test('a bad --id is refused offline, before any connection is attempted', async () => {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const plan = join(PLANS, 'local-fleet.yaml');
    for (const args of [
      ['start', '--plan', plan, '--id', 'Bad Id!'],
      ['plan', '--plan', plan, '--id', 'Bad Id!'],
    ]) {
      const started = Date.now();
      const r = await dbmig(args, { TEMPORAL_ADDRESS: address });
      assert.equal(r.status, 2, r.stderr);
      assert.match(
        r.stderr,
        /migration id "Bad Id!" must be lower-case letters, digits, _ or -, starting with a letter/,
      );
      assert.ok(Date.now() - started < 30_000, 'it fails without waiting for a connection');
    }
    assert.equal(connections, 0, 'nothing connected to the Temporal address');
  } finally {
    server.close();
  }
});

const examples = readdirSync(PLANS).filter((f) => f.endsWith('.yaml'));

test('every example plan fits 120 columns by default; --wide prints each cell whole', async () => {
  assert.ok(examples.length >= 4);
  for (const example of examples) {
    const r = await dbmig(['plan', '--plan', join(PLANS, example)]);
    assert.equal(r.status, 0, r.stderr);
    const widest = Math.max(...r.stdout.split('\n').map((l) => l.length));
    assert.ok(widest <= 120, `${example}: a line of ${widest} characters`);
    const wide = await dbmig(['plan', '--wide', '--plan', join(PLANS, example)]);
    assert.equal(wide.status, 0, wide.stderr);
    // A reverse replication detail, a whole row on one line, is what --wide is for.
    assert.ok(Math.max(...wide.stdout.split('\n').map((l) => l.length)) > 120, example);
  }
});

test('a local run says what the local platform does, in its own words', async () => {
  const r = await dbmig(['plan', '--wide', '--plan', join(PLANS, 'local-fleet.yaml')]);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /cloudsql|alloydb|cloud sql|calendar|flex-start/i);
  assert.match(
    r.stdout,
    /1\. orders: postgresql → embedded PostgreSQL \(the source's major\) cluster orders-target, .*copy-worker pool x8/,
  );
  assert.match(r.stdout, /on local \(targets: 2 embedded PostgreSQL cluster\(s\) on this machine\)/);
});

test('-o json prints the report as one JSON object, with the cost on gcp', async () => {
  const local = await dbmig(['plan', '-o', 'json', '--plan', join(PLANS, 'local-fleet.yaml'), '--id', 'json-1']);
  assert.equal(local.status, 0, local.stderr);
  const report = JSON.parse(local.stdout);
  assert.equal(report.migrationId, 'json-1');
  assert.equal(report.platform, 'local');
  assert.deepEqual(
    report.databases.map((d: { name: string }) => d.name),
    ['orders', 'inventory'],
  );
  assert.equal(report.databases[0].capacity, 'local copy-worker pool x8 workers');
  assert.ok(report.databases[0].operations.some((o: { state: string }) => o.state === 'AWAITING_APPROVAL'));
  const gcp = JSON.parse((await dbmig(['plan', '--output', 'json', '--plan', join(PLANS, 'gcp-fleet.yaml')])).stdout);
  assert.equal(gcp.databases[0].capacity, 'capacity flex-start x8 workers');
  assert.ok(gcp.cost.estimate.total.capacityUsd > 0);
  assert.ok(gcp.beforeFirstDatabase.length > 0);
  const bad = await dbmig(['plan', '-o', 'yaml', '--plan', join(PLANS, 'gcp-fleet.yaml')]);
  assert.equal(bad.status, 2);
});
