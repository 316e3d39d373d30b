// The plan's JSON Schema, generated from the zod schema (common/plan.ts), so editors complete and
// check plans (the yaml-language-server line in each example) and docs/plan-reference.md is
// written from it. It describes what a user writes (zod's input side: defaults are optional); the
// cross-field rules (gcp needs a gcp section, one version per instance...) stay in validatePlan.
import { z } from 'zod';
import { planSchema } from './plan';

export const PLAN_SCHEMA_FILE = 'plan.schema.json';

export function planJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(planSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
  return {
    $schema: schema.$schema,
    title: 'dbmig plan',
    ...schema,
  };
}

/** The committed file's text: stable key order, two-space indent, a final newline. */
export function planJsonSchemaText(): string {
  return `${JSON.stringify(planJsonSchema(), null, 2)}\n`;
}
