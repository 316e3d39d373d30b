// CREATE SUBSCRIPTION without its password in any statement a server records. The connection
// string, password included, must be in the statement's text: the grammar takes a string constant,
// and from PostgreSQL 16 a subscription owned by a non-superuser must name its password there
// (password_required: CREATE SUBSCRIPTION checks the string, not a passfile). A top-level
// statement's text is what pg_stat_statements keeps (track_utility, on by default), what
// pg_stat_activity shows, and what log_statement, log_min_duration_statement and
// log_min_error_statement write; the log settings are superuser-only, and so is
// pg_stat_statements.track_utility: a non-superuser cannot switch them off (its SETs used to be
// refused and skipped, and the password was logged). Bind parameters are no way round it either:
// log_statement writes them as DETAIL.
//
// (A passfile was considered: libpq in the server reads `passfile=` from the connection string,
// which would keep the password out of the catalog too; but a non-superuser's subscription must
// name the password in the string from 16, and an existing server has no file dbmig may place.)
//
// So the password never travels in a statement: it goes through COPY ... FROM STDIN (the data of a
// COPY is neither a statement's text nor a parameter) into a temporary table dropped at commit,
// and a DO block builds and EXECUTEs the CREATE SUBSCRIPTION from it. What the server records is
// the COPY and the DO, neither holding it: statement logging and pg_stat_statements (track = top,
// its default) see top-level statements only; an error inside the block is caught and raised again
// without the CONTEXT line that would quote the nested statement ("SQL statement ...").
//
// What would still record the nested statement is refused by name unless it can be switched off
// for the transaction (recordingGuards): pg_stat_statements.track = all, pgaudit.log,
// debug_print_parse/rewritten/plan; and a user without the TEMP privilege cannot use the table.
// A server that ends the session with FATAL (a shutdown, pg_terminate_backend: a newer attempt
// ending a superseded one's sessions, lease.ts) while that one statement runs writes its CONTEXT,
// the nested text, to the log. A superuser keeps CONTEXT out of the log for the transaction
// (log_error_verbosity = terse). Not covered: a non-superuser may not set it.
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { MigrationError } from '../../../common/failures';

interface Guard {
  setting: string;
  /** Whether the server's current value records the statements a DO block runs. */
  records(value: string): boolean;
  quiet: string;
  why: string;
}

const GUARDS: Guard[] = [
  {
    setting: 'pg_stat_statements.track',
    records: (v) => v === 'all',
    quiet: 'top',
    why: 'pg_stat_statements.track = all keeps the text of nested statements in pg_stat_statements',
  },
  {
    setting: 'pgaudit.log',
    records: (v) => v.trim().toLowerCase() !== 'none' && v.trim() !== '',
    quiet: 'none',
    why: `pgaudit.log writes every statement of its classes to the server's log, nested ones included`,
  },
  ...['debug_print_parse', 'debug_print_rewritten', 'debug_print_plan'].map((s) => ({
    setting: s,
    records: (v: string) => v === 'on',
    quiet: 'off',
    why: `${s} = on writes each statement's tree, string constants included, to the server's log`,
  })),
];

/**
 * Inside the caller's transaction: every setting that would record a nested statement switched off
 * for the transaction and read back. Returns why each one that stays on (a refused SET, or one that
 * did not take) would record CREATE SUBSCRIPTION's text, and whether the TEMP privilege is missing.
 */
async function recordingGuards(c: pg.Client): Promise<string[]> {
  const problems: string[] = [];
  for (const g of GUARDS) {
    const now = await currentSetting(c, g.setting);
    if (now === null || !g.records(now)) continue;
    await c.query('savepoint dbmig_guard');
    try {
      await c.query(`set local ${g.setting} = '${g.quiet}'`);
      await c.query('release savepoint dbmig_guard');
    } catch (err) {
      await c.query('rollback to savepoint dbmig_guard');
      problems.push(`${g.why}, and ${await who(c)} may not set it for its session (${(err as Error).message})`);
      continue;
    }
    const after = await currentSetting(c, g.setting);
    if (after === null || g.records(after)) problems.push(`${g.why}, and setting it to ${g.quiet} did not take`);
  }
  const { rows } = await c.query<{ temp: boolean }>(
    `select has_database_privilege(current_database(), 'TEMP') as temp`,
  );
  if (!rows[0].temp)
    problems.push(
      `${await who(c)} has no TEMP privilege on the database: dbmig passes the password to the server ` +
        'through a temporary table, never in a statement',
    );
  return problems;
}

async function currentSetting(c: pg.Client, name: string): Promise<string | null> {
  const { rows } = await c.query<{ v: string | null }>('select current_setting($1, true) as v', [name]);
  return rows[0].v;
}

async function who(c: pg.Client): Promise<string> {
  return `user ${(await c.query<{ u: string }>('select current_user as u')).rows[0].u}`;
}

/**
 * Why this server, for the user `c` is connected as, would record a subscription's password;
 * empty when it would not. Changes nothing (its transaction is rolled back).
 */
export async function passwordRecordingRefusals(c: pg.Client): Promise<string[]> {
  await c.query('begin');
  try {
    return await recordingGuards(c);
  } finally {
    await c.query('rollback').catch(() => undefined);
  }
}

/**
 * For a superuser, CONTEXT (which would quote the nested CREATE SUBSCRIPTION) left out of what
 * this transaction logs, a FATAL's included; log_error_verbosity is superuser-only, so others keep
 * the server's setting (asked first: a refused SET would itself be logged as an error).
 */
async function quietFatalContext(c: pg.Client): Promise<void> {
  const { rows } = await c.query<{ sup: boolean }>('select rolsuper as sup from pg_roles where rolname = current_user');
  if (rows[0]?.sup) await c.query(`set local log_error_verbosity = terse`);
}

/** COPY text format: backslash, newline, carriage return and tab escaped. */
function copyText(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
}

async function copyIn(c: pg.Client, sql: string, data: string): Promise<void> {
  const stream = c.query(copyFrom(sql));
  await new Promise<void>((done, fail) => {
    stream.on('error', fail);
    stream.on('finish', () => done());
    stream.end(data);
  });
}

/**
 * Runs `create subscription <head> connection <connection> <tail>` (head and tail as SQL, neither
 * holding anything secret) so that no server records `connection`: see the top of this file. Throws
 * PermissionDenied, before anything is created, where the server would record it anyway.
 */
export async function createSubscriptionSecretly(
  c: pg.Client,
  where: string,
  head: string,
  connection: string,
  tail: string,
): Promise<void> {
  const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
  await c.query('begin');
  try {
    const problems = await recordingGuards(c);
    if (problems.length)
      throw new MigrationError(
        'PermissionDenied',
        `${where} would record the subscription's password, so no subscription was created: ${problems.join('; ')}`,
      );
    await quietFatalContext(c);
    await c.query('create temporary table dbmig_conninfo (v text not null) on commit drop');
    await copyIn(c, 'copy pg_temp.dbmig_conninfo (v) from stdin', `${copyText(connection)}\n`);
    await c.query(`do $dbmig$
      declare
        d text;
        h text;
      begin
        execute ${lit(`create subscription ${head} connection `)}
                || quote_literal((select v from pg_temp.dbmig_conninfo)) || ${lit(` ${tail}`)};
      exception when others or query_canceled then
        -- Raised again from here: the caught error's CONTEXT quotes the statement, password included.
        get stacked diagnostics d = pg_exception_detail, h = pg_exception_hint;
        raise exception using errcode = sqlstate, message = sqlerrm, detail = d, hint = h;
      end $dbmig$`);
    await c.query('commit');
  } catch (err) {
    await c.query('rollback').catch(() => undefined);
    throw err;
  }
}
