// Waves and policy in the plan, offline: dependsOn naming an unknown database, itself, or closing
// a cycle is refused at its file:line:column with the field and (for a cycle) its path; approvers
// naming an unknown role, or under approval.policy auto, likewise; the start order puts each
// database after the ones it depends on and keeps priority order otherwise.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PlanError, loadPlan } from '../client/plan-file';
import { byPriority } from '../common/capacity';
import { allowedApprovers, dependencyCycles, inWaves } from '../common/plan-waves';

const dir = mkdtempSync(join(tmpdir(), 'plan-waves-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A plan of databases, each `[name, extra lines]`; returns its file. */
function planFile(name: string, head: string[], dbs: [string, string[]][]): string {
  const lines = [...head, 'databases:'];
  for (const [db, extra] of dbs)
    lines.push(
      `  - name: ${db}`,
      '    engine: postgresql',
      '    sizeGb: 1',
      `    source: { host: h, database: ${db}, user: u, passwordRef: env:P }`,
      `    target: { kind: cloudsql, instance: t-${db} }`,
      ...extra.map((l) => `    ${l}`),
    );
  const file = join(dir, name);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function problems(file: string): string[] {
  try {
    loadPlan(file);
  } catch (err) {
    assert.ok(err instanceof PlanError, String(err));
    return err.problems;
  }
  assert.fail('the plan was accepted');
}

test('dependsOn: an unknown name, the database itself and a cycle, each at its line with the field', () => {
  const file = planFile(
    'deps.yaml',
    ['platform: local'],
    [
      ['a', ['dependsOn: [b]']], // lines 3-8; dependsOn at 8
      ['b', ['dependsOn: [c]']], // 9-14
      ['c', ['dependsOn: [a, ghost]']], // 15-20
      ['d', ['dependsOn:', '  - d']], // 21-27; the entry at 27
    ],
  );
  const p = problems(file);
  assert.deepEqual(p, [
    `${file}:8:17: databases[0].dependsOn[0]: cycle: a -> b -> c -> a`,
    `${file}:20:20: databases[2].dependsOn[1]: unknown database "ghost"; this plan has: a, b, c, d`,
    `${file}:27:9: databases[3].dependsOn[0]: "d" is this database: it cannot wait for itself`,
  ]);
});

test('each cycle is named once, from its first database in plan order', () => {
  const cycles = dependencyCycles([
    { name: 'x', dependsOn: ['y'] },
    { name: 'y', dependsOn: ['z', 'x'] },
    { name: 'z', dependsOn: ['y'] },
    { name: 'w', dependsOn: ['x'] },
  ]);
  // Two cycles (x-y and y-z), each once: y is not named again from itself.
  assert.deepEqual(cycles, [
    { index: 0, edge: 0, path: ['x', 'y', 'x'] },
    { index: 2, edge: 0, path: ['z', 'y', 'z'] },
  ]);
  assert.deepEqual(dependencyCycles([{ name: 'a', dependsOn: ['b'] }, { name: 'b' }]), []);
});

test('approvers: an unknown role, and approvers under policy auto, are refused at their line', () => {
  const manual = planFile(
    'roles.yaml',
    ['platform: local', 'roles: { dba: [bob] }'],
    [['a', ['approvers: [alice, role:dba, role:sre]']]], // approvers at line 9
  );
  assert.deepEqual(problems(manual), [
    `${manual}:9:34: databases[0].approvers[2]: unknown role "sre"; roles defines: dba`,
  ]);
  const auto = planFile(
    'auto.yaml',
    ['platform: local', 'approval: { policy: auto }'],
    [['a', ['approvers: [alice]']]],
  );
  assert.match(
    problems(auto).join('\n'),
    /:9:16: databases\[0\]\.approvers: names who may approve, but approval\.policy is auto/,
  );
  assert.deepEqual(allowedApprovers(['alice', 'role:dba', 'bob'], { dba: ['bob', 'carol'] }), [
    'alice',
    'bob',
    'carol',
  ]);
});

test('the start order: dependencies first, priority order otherwise, unchanged without dependsOn', () => {
  const file = planFile(
    'order.yaml',
    ['platform: local'],
    [
      ['orders', ['priority: high', 'dependsOn: [inventory, users]']],
      ['users', ['priority: medium']],
      ['inventory', ['priority: low']],
      ['reports', ['priority: high']],
    ],
  );
  const { plan } = loadPlan(file);
  assert.deepEqual(
    byPriority(plan.databases).map((d) => d.name),
    ['orders', 'reports', 'users', 'inventory'],
  );
  assert.deepEqual(
    inWaves(byPriority(plan.databases)).map((d) => d.name),
    ['inventory', 'users', 'orders', 'reports'],
  );
  const flat = plan.databases.map((d) => ({ ...d, dependsOn: undefined }));
  assert.deepEqual(inWaves(byPriority(flat)), byPriority(flat));
});
