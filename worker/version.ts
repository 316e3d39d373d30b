// dbmig's version, from package.json (found by walking up, so the sources and the build in dist/
// read the same file).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './temporal-cli';

let cached: string | undefined;

export function dbmigVersion(): string {
  cached ??= (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return cached;
}
