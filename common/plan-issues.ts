// Turns the schema's issues into plan errors a person can act on: one per field, an unknown key
// with the known key it most likely meant, "is required" instead of "received undefined". Pure
// (zod only): the workflow reports an invalid plan with the same words as the CLI.
import type { z } from 'zod';
import { didYouMean } from './did-you-mean';

export type PlanPath = (string | number)[];

export interface PlanIssue {
  /** Where in the plan: keys and array indexes. */
  path: PlanPath;
  /** The same, written as databases[0].source.host; (plan) for the whole plan. */
  field: string;
  message: string;
}

export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out || '(plan)';
}

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
}
const defOf = (schema: z.ZodType) => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** The object schemas at `path` (several under a union), past optional, default and pipe wrappers. */
function objectsAt(schema: z.ZodType, path: readonly PropertyKey[]): Def[] {
  const def = defOf(schema);
  const inner = def.innerType ?? def.in;
  if (inner) return objectsAt(inner, path);
  if (def.type === 'union') return (def.options ?? []).flatMap((o) => objectsAt(o, path));
  if (path.length === 0) return def.type === 'object' ? [def] : [];
  const [head, ...rest] = path;
  if (def.type === 'array' && typeof head === 'number' && def.element) return objectsAt(def.element, rest);
  const field = def.type === 'object' && typeof head === 'string' ? def.shape?.[head] : undefined;
  return field ? objectsAt(field, rest) : [];
}

/** The keys the schema knows in the object at `path`. */
export function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  return [...new Set(objectsAt(schema, path).flatMap((d) => Object.keys(d.shape ?? {})))];
}

const pathOf = (path: readonly PropertyKey[]): PlanPath => path.map((p) => (typeof p === 'number' ? p : String(p)));

export function planIssues(schema: z.ZodType, issues: readonly z.core.$ZodIssue[]): PlanIssue[] {
  const out: PlanIssue[] = [];
  const suggested = new Set<string>();
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const known = knownKeys(schema, issue.path);
    for (const key of issue.keys) {
      const guess = didYouMean(key, known);
      if (guess) suggested.add(fieldPath([...issue.path, guess]));
      const hint = guess ? `; did you mean ${guess}?` : known.length ? ` (known keys: ${known.join(', ')})` : '';
      const path = [...pathOf(issue.path), key];
      out.push({ path, field: fieldPath(path), message: `unknown key${hint}` });
    }
  }
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') continue;
    const path = pathOf(issue.path);
    const field = fieldPath(path);
    const missing = issue.code === 'invalid_type' && /received undefined$/.test(issue.message);
    // "sizeGb is required" says nothing new next to "sizeGB: unknown key; did you mean sizeGb?".
    if (missing && suggested.has(field)) continue;
    const message = missing
      ? `is required (${issue.expected})`
      : issue.message.replace(/^Invalid input: /, '').replace(/^Invalid option: /, '');
    out.push({ path, field, message });
  }
  return out;
}
