// Reads a plan from YAML or JSON (YAML is a superset, so one parser serves both).
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export function readPlanFile(path: string): unknown {
  const text = readFileSync(path, 'utf8');
  try {
    return parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid YAML or JSON: ${(err as Error).message}`);
  }
}
