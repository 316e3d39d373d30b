// Google Cloud errors → what the workflow should do about them. Configuration problems are
// permanent (retrying cannot help and a human must act); throttling and outages are retried.
// Codes follow google.rpc.Code (google/rpc/code.proto) and its HTTP mapping
// (https://cloud.google.com/apis/design/errors#handling_errors).
import { MigrationError } from '../../../common/failures';

interface ApiError {
  code?: number | string;
  /** google-gax 6 keeps the HTTP status it received beside the gRPC code it maps it to. */
  httpStatusCode?: number;
  status?: number;
  response?: { status?: number };
  message?: string;
}

// gRPC codes (which gax also uses for REST answers) to the HTTP status they stand for, for an error
// that carries no HTTP status. gax turns an HTTP 409 without a canonical status in its body (the
// v1 error shape of Cloud SQL and Compute) into ABORTED (10) (google-gax's
// rpcCodeFromHttpStatusCode), so ABORTED here is a 409, told apart by its reason (isTransientConflict).
const HTTP_FOR_GRPC: Record<number, number> = {
  3: 400,
  4: 504,
  5: 404,
  6: 409,
  7: 403,
  8: 429,
  9: 400,
  10: 409,
  11: 400,
  12: 501,
  13: 500,
  14: 503,
  16: 401,
};

/** The HTTP status an error stands for, from either a gax (gRPC code) or a gaxios (HTTP) error. */
export function httpStatus(err: unknown): number | undefined {
  const e = err as ApiError;
  const status = e?.httpStatusCode ?? e?.response?.status ?? e?.status;
  if (typeof status === 'number') return status;
  if (typeof e?.code === 'number') return e.code >= 100 ? e.code : HTTP_FOR_GRPC[e.code];
  if (typeof e?.code === 'string' && /^\d{3}$/.test(e.code)) return Number(e.code);
  if (typeof e?.code === 'string' && /ETIMEDOUT|ECONNRESET|ECONNREFUSED/.test(e.code)) return 503;
  return undefined;
}

/** gax keeps the raw body of an HTTP error under this global symbol (google-gax googleError.ts). */
const RAW_BODY = Symbol.for('google-gax.rawHttpResponsePayload');

interface ErrorBody {
  status?: string;
  errors?: { reason?: string }[];
  details?: { '@type'?: string; reason?: string }[];
}

/** The `error` object of the HTTP body, from gax's raw payload or a gaxios response. */
function errorBody(err: unknown): ErrorBody | undefined {
  const e = err as Record<string | symbol, unknown> | undefined;
  if (!e || typeof e !== 'object') return undefined;
  let raw = e[RAW_BODY] ?? (e.response as { data?: unknown } | undefined)?.data;
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch {
      return undefined;
    }
  }
  const body = (raw as { error?: unknown } | undefined)?.error;
  return body && typeof body === 'object' ? (body as ErrorBody) : undefined;
}

/**
 * Why Google refused, in its own word: google.rpc.ErrorInfo.reason (APIs answering google.rpc.Status;
 * gax promotes it to `err.reason`), or the v1 body's `errors[].reason` (Cloud SQL Admin and Compute,
 * e.g. `operationInProgress`, `alreadyExists`), which gax does not decode but keeps in the raw body.
 */
export function errorReason(err: unknown): string | undefined {
  const own = (err as { reason?: unknown })?.reason;
  if (typeof own === 'string' && own) return own;
  const body = errorBody(err);
  const v1 = body?.errors?.find((x) => x.reason)?.reason;
  if (v1) return v1;
  return body?.details?.find((d) => String(d['@type']).endsWith('google.rpc.ErrorInfo'))?.reason;
}

/**
 * 409 reasons that say "not now" rather than "already there": Cloud SQL runs one operation at a
 * time per instance and answers the next `operationInProgress` until it ends (for instance during
 * the daily backup; https://cloud.google.com/sql/docs/mysql/admin-api-error-messages); the v1 shape's
 * generic `conflict` (a concurrent change, as Compute and Cloud Storage name it) likewise passes.
 */
const TRANSIENT_CONFLICT_REASONS = new Set(['operationInProgress', 'conflict']);

/**
 * A 409 that passes: a transient reason, or the canonical ABORTED in a google.rpc.Status body
 * (https://cloud.google.com/apis/design/errors#handling_errors: "ABORTED: retry at a higher level").
 * A v1 body names no canonical status and gax reads its 409 as ABORTED whatever it means, so for
 * those only the reason counts; a 409 with no known transient reason stays "already exists".
 */
export function isTransientConflict(err: unknown): boolean {
  if (httpStatus(err) !== 409) return false;
  const reason = errorReason(err);
  if (reason && TRANSIENT_CONFLICT_REASONS.has(reason)) return true;
  return errorBody(err)?.status === 'ABORTED';
}

export const isNotFound = (err: unknown) => httpStatus(err) === 404;
/** 409 meaning the resource exists (ALREADY_EXISTS, `alreadyExists`, `instanceAlreadyExists`). */
export const isAlreadyExists = (err: unknown) => httpStatus(err) === 409 && !isTransientConflict(err);

/** Wraps an API error with what was being done; permanent ones become non-retryable. */
export function classify(err: unknown, doing: string): Error {
  if (err instanceof MigrationError) return err;
  const status = httpStatus(err);
  const message = `${doing}: ${((err as ApiError)?.message ?? String(err)).split('\n')[0]}`;
  switch (status) {
    case 400:
      return new MigrationError('InvalidArgument', message);
    case 401:
      return new MigrationError('Unauthenticated', `${message} (check Application Default Credentials)`);
    case 403:
      return new MigrationError(
        'PermissionDenied',
        `${message} (check the worker's IAM roles and that the API is enabled)`,
      );
    case 404:
      return new MigrationError('NotFound', `${message} (a resource named in the plan does not exist)`);
    case 409:
      // A conflict that passes (another operation in flight) is retried by the activity.
      if (isTransientConflict(err))
        return new Error(`${message} (retryable: ${errorReason(err) ?? 'ABORTED'}, HTTP 409)`);
      return new MigrationError('AlreadyExistsMismatch', message);
    default:
      // 429, 5xx, deadlines and network errors: the activity retries with backoff.
      return new Error(`${message} (retryable${status ? `, HTTP ${status}` : ''})`);
  }
}

const TRANSIENT = (status: number | undefined) => status === undefined || status === 429 || status >= 500;

/**
 * Retries throttling and outages a few times within the call (every create carries a request
 * id, so a repeat is recognised by the API); what persists is left to the activity's retries.
 */
async function withRetry<T>(fn: () => Promise<T>, attempts = 4, baseMs = 200): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if ((err instanceof MigrationError && !err.retryable) || attempt >= attempts || !TRANSIENT(httpStatus(err)))
        throw err;
      await new Promise((r) => setTimeout(r, baseMs * 2 ** (attempt - 1) * (0.5 + Math.random())));
    }
  }
}

export async function call<T>(doing: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await withRetry(fn);
  } catch (err) {
    throw classify(err, doing);
  }
}

/** GET that answers undefined for 404, so get-or-create reads naturally. */
export async function getOrUndefined<T>(doing: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await withRetry(fn);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw classify(err, doing);
  }
}
