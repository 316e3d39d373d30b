// The plan's JSON Schema and its reference are generated from the zod schema: the committed
// plan.schema.json and docs/plan-reference.md must equal what the code writes, every example plan
// names the schema on its first line, validates, and `dbmig schema` prints the same schema.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { planReference } from '../cli/plan-reference';
import { validatePlan } from '../common/plan';
import { planJsonSchema, planJsonSchemaText } from '../common/plan-json-schema';

const ROOT = join(__dirname, '..');
const REGENERATE = 'run `npm run docs:plan` and commit plan.schema.json and docs/plan-reference.md';

test('the committed plan.schema.json is what the zod schema generates', () => {
  const committed = readFileSync(join(ROOT, 'plan.schema.json'), 'utf8');
  assert.ok(committed === planJsonSchemaText(), `plan.schema.json differs from the zod schema: ${REGENERATE}`);
});

test('the committed docs/plan-reference.md is what the schema generates', () => {
  const committed = readFileSync(join(ROOT, 'docs', 'plan-reference.md'), 'utf8');
  assert.ok(committed === planReference(planJsonSchema()), `docs/plan-reference.md has drifted: ${REGENERATE}`);
});

test('every field a user can set is described, and the reference names each of them', () => {
  const reference = planReference(planJsonSchema());
  const undescribed: string[] = [];
  const walk = (node: Record<string, unknown>, path: string) => {
    const props = (node.properties ?? {}) as Record<string, Record<string, unknown>>;
    for (const [name, field] of Object.entries(props)) {
      if (typeof field.description !== 'string' || field.description.length < 10) undescribed.push(`${path}.${name}`);
      walk(field, `${path}.${name}`);
    }
    for (const key of ['items', 'additionalProperties'])
      if (node[key] && typeof node[key] === 'object') walk(node[key] as Record<string, unknown>, `${path}[]`);
    for (const key of ['oneOf', 'anyOf'])
      for (const option of (node[key] ?? []) as Record<string, unknown>[]) walk(option, path);
  };
  walk(planJsonSchema(), 'plan');
  assert.deepEqual(undescribed, []);
  for (const field of ['connectivity', 'workerImage', 'maintenanceWindow', 'continueAsNewAfterEvents', 'sizeGb'])
    assert.match(reference, new RegExp(`^\\| \`${field}\` \\|`, 'm'), field);
});

test('every example plan names the schema on its first line and is a valid plan', () => {
  const dir = join(ROOT, 'examples', 'plans');
  const examples = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
  assert.ok(examples.length >= 4);
  for (const example of examples) {
    const text = readFileSync(join(dir, example), 'utf8');
    assert.equal(text.split('\n')[0], '# yaml-language-server: $schema=../../plan.schema.json', example);
    assert.doesNotThrow(() => validatePlan(parse(text)), example);
  }
});

test('dbmig schema prints plan.schema.json', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), 'schema'], {
    encoding: 'utf8',
    env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, readFileSync(join(ROOT, 'plan.schema.json'), 'utf8'));
  assert.equal(JSON.parse(r.stdout).properties.databases.type, 'array');
});
