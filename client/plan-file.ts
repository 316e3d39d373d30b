// Reads a plan from YAML or JSON (YAML is a superset, so one parser serves both).
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** The plan file cannot be read or parsed: bad input, nothing was called. */
export class PlanFileError extends Error {
  override name = 'PlanFileError';
}

export function readPlanFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new PlanFileError(
      e.code === 'ENOENT' ? `${path}: no such plan file` : `${path}: cannot read the plan file (${e.message})`,
    );
  }
  try {
    return parse(text);
  } catch (err) {
    throw new PlanFileError(`${path}: not valid YAML or JSON: ${(err as Error).message}`);
  }
}
