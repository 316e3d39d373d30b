// The gcp platform's assessment of a source, in the local assessment's vocabulary (codes and
// severities as in activities/engines/postgres/assess.ts where the meaning is the same). Where the
// worker reaches the source (source.access 'direct') it reads the source's DMS prerequisites over
// SQL; where only DMS does ('dms-only') nothing is connected to, and DMS's own check
// (migrationJobs.verify, https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.migrationJobs/verify)
// is what stands between a misconfigured source and the job.
import mysql from 'mysql2/promise';
import type pg from 'pg';
import { activityCancellation, throwIfCancelled } from '../../../cancellation';
import { sourcePassword } from '../../../secrets';
import { connect, type ConnectionParams } from '../../../engines/postgres/sessions';
import { MigrationError } from '../../../../common/failures';
import { type AssessmentResult, type DatabaseTask, type Finding } from '../../../steps';
import { evaluateMysql, mysqlMajor, readMysqlFacts } from '../../../engines/mysql/assess';
import { evaluatePostgres, postgresMajor, readPostgresFacts } from './source-postgres';

export interface SourceAssessOptions {
  /** How long to wait for the source to answer a connection; 10 s unless told. */
  connectTimeoutMs?: number;
}

const CONNECT_TIMEOUT_MS = 10_000;
/** The assessment's statements read catalogs only; one that runs longer is waiting on a lock. */
const STATEMENT_TIMEOUT_MS = 30_000;

function result(serverVersion: string, findings: Finding[], tables: string[] = [], estimatedRows = 0) {
  return {
    serverVersion,
    tables,
    estimatedRows,
    findings,
    blocked: findings.some((f) => f.severity === 'error'),
  } satisfies AssessmentResult;
}

/** Reads a source's prerequisites for DMS, or says why it cannot. */
export async function assessGcpSource(task: DatabaseTask, opts: SourceAssessOptions = {}): Promise<AssessmentResult> {
  const source = task.database.source;
  if (source.access === 'dms-only')
    return result(source.version ?? 'unknown', [
      {
        code: 'SOURCE_NOT_REACHED_BY_WORKER',
        severity: 'info',
        message:
          `the worker does not reach ${source.host}:${source.port} (source.access dms-only), so its prerequisites ` +
          '(pglogical, wal_level, binary log settings, keys) were not read here: DMS checks them when the job is ' +
          'verified (migrationJobs.verify, after the job is created)',
      },
    ]);
  const signal = activityCancellation();
  try {
    return await withSource(task, opts, {
      async postgres(c, open) {
        const facts = await readPostgresFacts(c, open);
        return result(
          facts.serverVersion,
          evaluatePostgres(facts, task),
          facts.tables.map((t) => t.name),
          facts.estimatedRows,
        );
      },
      async mysql(c) {
        const facts = await readMysqlFacts(c, source.database);
        return result(
          facts.version,
          evaluateMysql(facts, task),
          facts.tables.map((t) => t.name),
          facts.estimatedRows,
        );
      },
    });
  } catch (err) {
    throwIfCancelled(signal);
    return result(source.version ?? 'unknown', [await failureFinding(task, err)]);
  }
}

/**
 * The source's major version ('15', '9.6', '8.0') for the target's default version: asked of the
 * source where the worker reaches it, else (or when it does not answer) the plan's source.version.
 */
export async function readSourceVersion(
  task: DatabaseTask,
  opts: SourceAssessOptions = {},
): Promise<string | undefined> {
  const source = task.database.source;
  if (source.access === 'dms-only') return source.version;
  const signal = activityCancellation();
  try {
    return await withSource(task, opts, {
      postgres: async (c) =>
        postgresMajor(
          Number((await c.query<{ n: string }>(`select current_setting('server_version_num') as n`)).rows[0].n),
        ),
      mysql: async (c) => {
        const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v');
        return mysqlMajor(String(rows[0].v));
      },
    });
  } catch {
    throwIfCancelled(signal);
    return source.version;
  }
}

interface PerEngine<T> {
  postgres(c: pg.Client, openDatabase: (database: string) => Promise<pg.Client>): Promise<T>;
  mysql(c: mysql.Connection): Promise<T>;
}

async function withSource<T>(task: DatabaseTask, opts: SourceAssessOptions, fn: PerEngine<T>): Promise<T> {
  const source = task.database.source;
  const password = await sourcePassword(source, { project: task.gcp?.project });
  const timeout = opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
  if (task.database.engine === 'mysql') return withMysql(source, password, timeout, fn.mysql);
  const params = (database: string): ConnectionParams => ({
    host: source.host,
    port: source.port,
    user: source.user,
    password,
    database,
  });
  // The project's sessions: SCRAM-SHA-256 only, ended with the step's cancellation (engines/postgres/sessions.ts).
  const open = async (database: string) => {
    const c = await withTimeout(connect(params(database)), timeout, source);
    await c.query(`set statement_timeout = ${STATEMENT_TIMEOUT_MS}`);
    return c;
  };
  const c = await open(source.database);
  try {
    return await fn.postgres(c, open);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * node-postgres's connectionTimeoutMillis is fixed by the sessions module; a shorter wait is kept
 * here, and a session that connects after it is closed.
 */
async function withTimeout(p: Promise<pg.Client>, ms: number, source: { host: string; port: number }) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, fail) => {
    timer = setTimeout(() => {
      p.then((c) => c.end()).catch(() => undefined);
      fail(
        Object.assign(new Error(`no answer from ${source.host}:${source.port} within ${ms / 1000} s`), {
          code: 'ETIMEDOUT',
        }),
      );
    }, ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function withMysql<T>(
  source: DatabaseTask['database']['source'],
  password: string,
  timeout: number,
  fn: (c: mysql.Connection) => Promise<T>,
): Promise<T> {
  const signal = activityCancellation();
  throwIfCancelled(signal);
  // mysql2 refuses to send the password in clear text (mysql_clear_password) unless a plugin for it
  // is given, and none is.
  const c = await mysql.createConnection({
    host: source.host,
    port: source.port,
    user: source.user,
    password,
    database: source.database,
    connectTimeout: timeout,
  });
  const onAbort = () => c.destroy();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await c.query(`SET SESSION lock_wait_timeout = ${STATEMENT_TIMEOUT_MS / 1000}`);
    return await fn(c);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await c.end().catch(() => c.destroy());
  }
}

const LOGIN_REFUSED = new Set(['28P01', '28000', 'ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR']);
const NO_DATABASE = new Set(['3D000', 'ER_BAD_DB_ERROR']);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** Why the source could not be assessed, as a blocking finding; the password never appears in it. */
async function failureFinding(task: DatabaseTask, err: unknown): Promise<Finding> {
  const source = task.database.source;
  const where = `${source.host}:${source.port}`;
  const code = String((err as { code?: unknown }).code ?? '');
  let message = err instanceof Error ? err.message : String(err);
  // A driver may quote what it was given; the password is taken out of whatever it says.
  const password = await sourcePassword(source, { project: task.gcp?.project }).catch(() => undefined);
  if (password) message = message.split(password).join('***');
  if (err instanceof MigrationError && err.type === 'SecretUnavailable')
    return { code: 'SOURCE_CREDENTIALS', severity: 'error', message };
  if (LOGIN_REFUSED.has(code))
    return {
      code: 'SOURCE_LOGIN_REFUSED',
      severity: 'error',
      message:
        `${where} refused user ${source.user}: ${message}; check database.source.user and its password ` +
        `(${source.passwordRef})`,
    };
  if (NO_DATABASE.has(code))
    return {
      code: 'SOURCE_DATABASE_MISSING',
      severity: 'error',
      message: `${where} has no database ${source.database}: ${message}`,
    };
  if (UNREACHABLE.has(code) || /timeout|timed out|ECONNRESET|no answer/i.test(message))
    return {
      code: 'SOURCE_UNREACHABLE',
      severity: 'error',
      message:
        `the worker cannot reach the source ${where} (${message}): open the network path from the worker, or set ` +
        'source.access dms-only if only DMS reaches it (its verify then checks the prerequisites)',
    };
  return { code: 'SOURCE_ASSESSMENT_FAILED', severity: 'error', message: `assessing ${where} failed: ${message}` };
}
