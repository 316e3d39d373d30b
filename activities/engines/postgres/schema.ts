// The target's schema comes from pg_dump --schema-only of the source, applied in one transaction.
// The pg_dump is one at least as new as the source (engines/postgres/client-tools.ts); what it writes for a newer
// server may SET parameters an older target lacks (18's transaction_timeout), and those are dropped.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type pg from 'pg';
import { activityCancellation, throwIfCancelled } from '../../cancellation';
import { withClient, type ConnectionParams } from './sessions';
import { MigrationError } from '../../../common/failures';
import { pgDumpFor } from './client-tools';
import { serverVersion } from './server-version';

const run = promisify(execFile);

export interface DumpOptions {
  /** One section of the schema (pre-data: tables and types; post-data: indexes, constraints, triggers). */
  section?: 'pre-data' | 'post-data';
  /** An exported snapshot (pg_export_snapshot) the dump reads as of: a rehearsal copies rows in it too. */
  snapshot?: string;
  /** Only these tables and sequences (pg_dump -t), as format('%I.%I') names: DDL carried during CDC. */
  only?: string[];
}

/**
 * The password goes to pg_dump in its environment (never its arguments, which any user may list).
 * PGREQUIREAUTH makes a libpq 16+ send it only through SCRAM-SHA-256; older ones (Debian 12's 15)
 * ignore it, so a node-postgres session, which sends it only so (clusters.ts), goes first to the
 * same host, port, user and database: a server that asks for it otherwise is refused there.
 */
export async function dumpSchema(src: ConnectionParams, opts: DumpOptions = {}): Promise<string> {
  const signal = activityCancellation();
  const { major } = await withClient(src, serverVersion);
  const pgDump = (await pgDumpFor(major)).path;
  try {
    const { stdout } = await run(
      pgDump,
      [
        ...(opts.section ? [`--section=${opts.section}`] : ['--schema-only']),
        // A section dump would create each large object, empty (pre-data holds their metadata): none
        // is carried, and an empty one of the same oid would hide that from the migrated-set check.
        ...(opts.section ? ['-B'] : []),
        ...(opts.snapshot ? [`--snapshot=${opts.snapshot}`] : []),
        ...(opts.only ?? []).flatMap((t) => ['-t', t]),
        '--no-owner',
        '--no-privileges',
        '--no-publications',
        '--no-subscriptions',
        // dbmig's own tables are created by the job (owned.ts), after the schema copy.
        '--exclude-schema=dbmig',
        '-h',
        src.host,
        '-p',
        String(src.port),
        '-U',
        src.user,
        '-d',
        src.database,
      ],
      {
        env: { ...process.env, PGPASSWORD: src.password, PGREQUIREAUTH: 'scram-sha-256', PGCONNECT_TIMEOUT: '10' },
        maxBuffer: 64 * 1024 * 1024,
        signal,
      },
    );
    return stdout;
  } catch (err) {
    throwIfCancelled(signal);
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new MigrationError('MissingTool', `pg_dump not found (set PG_DUMP or install pg_dump >= 15)`);
    throw new Error(`pg_dump failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

/**
 * pg_dump 15.14+ wraps its output in \restrict/\unrestrict psql meta-commands; anything else is
 * unexpected. `settings`: the target's parameter names (pg_settings); a session SET of any other is
 * a newer pg_dump's, for a newer server than the target, and is dropped.
 */
export function toSql(dump: string, settings?: ReadonlySet<string>): string {
  const lines = dump.split('\n');
  const meta = lines.filter((l) => l.startsWith('\\') && !/^\\(un)?restrict\b/.test(l));
  if (meta.length)
    throw new MigrationError('UnsupportedDump', `schema dump contains psql meta-commands: ${meta[0].slice(0, 40)}`);
  const unknownSet = (l: string) => {
    const m = /^SET ([a-z_]+) = .*;$/.exec(l);
    return !!settings && !!m && !settings.has(m[1]);
  };
  return lines.filter((l) => !l.startsWith('\\') && !unknownSet(l)).join('\n');
}

/** The parameter names the server `c` knows. */
export async function settingNames(c: pg.Client): Promise<Set<string>> {
  return new Set((await c.query<{ name: string }>('select name from pg_settings')).rows.map((r) => r.name));
}

export async function applySchema(target: pg.Client, sql: string): Promise<void> {
  await target.query('begin');
  try {
    await target.query(sql);
    await target.query('commit');
  } catch (err) {
    await target.query('rollback').catch(() => undefined);
    throw err;
  }
}
