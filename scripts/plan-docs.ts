// npm run docs:plan: writes plan.schema.json and docs/plan-reference.md from the zod schema. The
// tests in test/plan-schema.test.ts fail when either differs from what this writes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planReference } from '../cli/plan-reference';
import { planJsonSchema, planJsonSchemaText, PLAN_SCHEMA_FILE } from '../common/plan-json-schema';

export const PLAN_REFERENCE_FILE = join('docs', 'plan-reference.md');

const root = join(__dirname, '..');
writeFileSync(join(root, PLAN_SCHEMA_FILE), planJsonSchemaText());
writeFileSync(join(root, PLAN_REFERENCE_FILE), planReference(planJsonSchema()));
console.log(`wrote ${PLAN_SCHEMA_FILE} and ${PLAN_REFERENCE_FILE}`);
