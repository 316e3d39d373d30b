// The worker's logs, its own lines and the SDK's (the Runtime logger, with SDK Core's forwarded):
// JSON lines when DBMIG_LOG_FORMAT=json, for log pipelines; else one readable line each. The level
// comes from DBMIG_LOG_LEVEL (debug|info|warn|error, default info). Metadata whose key names a
// credential is replaced before it is written: nothing secret reaches a log.
import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';
import { WorkerConfigError } from './config';

export type LogFormat = 'text' | 'json';

export interface LogSettings {
  format: LogFormat;
  level: LogLevel;
}

const LEVELS: Record<string, LogLevel> = { debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' };
const SEVERITY: Record<LogLevel, number> = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };

/** Reads DBMIG_LOG_FORMAT and DBMIG_LOG_LEVEL; a value it does not know stops the worker, saying which. */
export function logSettings(env: NodeJS.ProcessEnv = process.env): LogSettings {
  const format = (env.DBMIG_LOG_FORMAT ?? 'text').trim().toLowerCase() || 'text';
  if (format !== 'text' && format !== 'json')
    throw new WorkerConfigError(`DBMIG_LOG_FORMAT=${env.DBMIG_LOG_FORMAT}: expected json or text`);
  const levelName = (env.DBMIG_LOG_LEVEL ?? 'info').trim().toLowerCase() || 'info';
  const level = LEVELS[levelName];
  if (!level)
    throw new WorkerConfigError(`DBMIG_LOG_LEVEL=${env.DBMIG_LOG_LEVEL}: expected one of debug, info, warn, error`);
  return { format, level };
}

/** Keys whose values are never written: passwords, tokens, keys, connection strings with credentials. */
const SECRET_KEY = /pass(word)?|secret|token|api[-_]?key|credential|authorization|private[-_]?key|^dsn$/i;

/** JSON-safe copy of log metadata: credentials redacted, errors as message and stack, bigints as strings. */
export function redact(value: unknown, depth = 0): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (depth > 6) return '[nested]';
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

/** A Logger for the Runtime and for the worker's own lines; writes one line per entry. */
export function createLogger(settings: LogSettings, write: (line: string) => void = (l) => process.stderr.write(l)) {
  const min = SEVERITY[settings.level];
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => {
    if (SEVERITY[level] < min) return;
    const time = new Date().toISOString();
    const clean = meta ? (redact(meta) as Record<string, unknown>) : {};
    if (settings.format === 'json') {
      write(`${JSON.stringify({ time, level: level.toLowerCase(), message, ...clean })}\n`);
    } else {
      const extra = Object.keys(clean).length ? ` ${JSON.stringify(clean)}` : '';
      write(`${time} [${level}] ${message}${extra}\n`);
    }
  };
  const logger: Logger = {
    log,
    trace: (m, meta) => log('TRACE', m, meta),
    debug: (m, meta) => log('DEBUG', m, meta),
    info: (m, meta) => log('INFO', m, meta),
    warn: (m, meta) => log('WARN', m, meta),
    error: (m, meta) => log('ERROR', m, meta),
  };
  return logger;
}
