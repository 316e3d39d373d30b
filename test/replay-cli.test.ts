// dbmig replay and dbmig history export, for SREs: histories from a file (ours or the Temporal
// CLI's), from the server and from a visibility query replay against the current code; a copy
// of the workflows with two steps swapped is caught with the non-determinism detail.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { planFor, type SourceDb } from './fixtures/fleet';
import { historyFromFile, replay } from '../cli/replay';
import { findTemporalCli } from '../worker/temporal-cli';
import { createHarness, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';
import { HISTORIES_DIR } from './helpers/histories';

const ROOT = join(__dirname, '..');
const DBS: SourceDb[] = [{ name: 'wiki', rows: 200, priority: 'high', sizeGb: 1 }];
let h: Harness;
let work: string;
before(async () => {
  h = await createHarness('replay', { databases: DBS });
  work = resolve('.local-platform', 'test-replay-files');
  mkdirSync(work, { recursive: true });
  const plan = planFor(h.source, DBS, `env:${SOURCE_PASSWORD_ENV}`, { approval: { policy: 'auto', timeout: '1h' } });
  await (await h.startFleet('replayed', plan)).result();
});
after(async () => {
  await h?.close();
  rmSync(work, { recursive: true, force: true });
});

const dbmig = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TEMPORAL_ADDRESS: h.env.address },
  });

test('exported and Temporal-CLI histories replay from files; exit 0', () => {
  const ours = join(work, 'ours.json');
  const exported = dbmig('history', 'export', 'replayed/wiki', '--out', ours);
  assert.equal(exported.status, 0, exported.stderr);
  const theirs = join(work, 'temporal-cli.json');
  const cli = spawnSync(
    findTemporalCli().path,
    ['workflow', 'show', '--workflow-id', 'replayed/wiki', '--output', 'json', '--address', h.env.address],
    { encoding: 'utf8' },
  );
  assert.equal(cli.status, 0, cli.stderr);
  writeFileSync(theirs, cli.stdout);
  assert.equal(JSON.parse(readFileSync(ours, 'utf8')).events.length, JSON.parse(cli.stdout).events.length);
  const r = dbmig('replay', '--file', ours);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /PASS {2}replayed\/wiki/);
  const r2 = dbmig('replay', '--file', theirs);
  assert.equal(r2.status, 0, r2.stdout + r2.stderr);
  assert.match(r2.stdout, /PASS {2}replayed\/wiki/, 'the workflow id is inferred from the history');
});

test('replay from the server, by id and by visibility query', () => {
  const byId = dbmig('replay', '--workflow-id', 'replayed');
  assert.equal(byId.status, 0, byId.stdout + byId.stderr);
  assert.match(byId.stdout, /1 of 1 histories replay/);
  const byQuery = dbmig('replay', '--query', `WorkflowId STARTS_WITH "replayed"`);
  assert.equal(byQuery.status, 0, byQuery.stdout + byQuery.stderr);
  assert.match(byQuery.stdout, /2 of 2 histories replay/);
});

test('a copy of the workflows with two steps swapped fails replay with the non-determinism detail', async () => {
  const copy = resolve('.local-platform', 'test-replay-broken');
  rmSync(copy, { recursive: true, force: true });
  for (const dir of ['workflows', 'common', 'activities'])
    cpSync(join(ROOT, dir), join(copy, dir), { recursive: true });
  const file = join(copy, 'workflows', 'database-migration.ts');
  const src = readFileSync(file, 'utf8');
  const swapped = src
    .replace('await acts.provisionTarget(task);', '__A__')
    .replace('await acts.reserveCapacity(task);', 'await acts.provisionTarget(task);')
    .replace('__A__', 'await acts.reserveCapacity(task);');
  assert.notEqual(swapped, src);
  writeFileSync(file, swapped);
  const history = historyFromFile(join(HISTORIES_DIR, 'fleet-1__orders.json'));
  const [good] = await replay([history]);
  assert.equal(good.ok, true, good.detail);
  const [broken] = await replay([history], { workflows: join(copy, 'workflows', 'index.ts') });
  rmSync(copy, { recursive: true, force: true });
  assert.equal(broken.ok, false);
  assert.match(broken.detail ?? '', /[Nn]ondeterminism/);
  assert.match(broken.detail ?? '', /reserveCapacity|provisionTarget/);
});
