// Error bodies as Google sends them.
// - google.rpc.Status over HTTP (https://cloud.google.com/apis/design/errors#http_mapping):
//   {error: {code: <HTTP>, message, status: <google.rpc.Code name>, details: [...]}}, with
//   google.rpc.BadRequest field violations and google.rpc.ErrorInfo (google/rpc/error_details.proto).
// - Cloud SQL Admin and Compute, whose v1 APIs predate it, answer {error: {code, message,
//   errors: [{message, domain: 'global', reason}]}} and no `status` (e.g. Compute's
//   "googleapi: Error 409: The resource '…' already exists, alreadyExists"; Cloud SQL's
//   "Error 409: The Cloud SQL instance already exists., instanceAlreadyExists"). Clients then
//   derive the code from HTTP alone: gax's rpcCodeFromHttpStatusCode maps 409 to ABORTED (10).
import type { ErrorStyle } from './protos';

export interface FieldViolation {
  field: string;
  description: string;
}

/** google.rpc.Code names (google/rpc/code.proto) and their HTTP status. */
export const CODE_HTTP: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  OUT_OF_RANGE: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ABORTED: 409,
  ALREADY_EXISTS: 409,
  RESOURCE_EXHAUSTED: 429,
  CANCELLED: 499,
  INTERNAL: 500,
  UNKNOWN: 500,
  DATA_LOSS: 500,
  UNIMPLEMENTED: 501,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

/** The canonical code a bare HTTP status stands for when the thrower names none. */
export const DEFAULT_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** Reasons of the v1 `errors[]` shape (Compute and Cloud SQL use these words). */
const V1_REASON: Record<string, string> = {
  INVALID_ARGUMENT: 'invalid',
  FAILED_PRECONDITION: 'failedPrecondition',
  PERMISSION_DENIED: 'forbidden',
  NOT_FOUND: 'notFound',
  ALREADY_EXISTS: 'alreadyExists',
  ABORTED: 'conflict',
  RESOURCE_EXHAUSTED: 'rateLimitExceeded',
  UNAVAILABLE: 'backendError',
};

/**
 * One google.rpc.PreconditionFailure.Violation (google/rpc/error_details.proto): `type` is a
 * service-specific kind (e.g. "STATE"), `subject` the resource that failed it.
 */
export interface PreconditionViolation {
  type: string;
  subject: string;
  description: string;
}

export interface ErrorSpec {
  httpStatus: number;
  message: string;
  /** google.rpc.Code name; defaults from the HTTP status. */
  status?: string;
  /** ErrorInfo reason (rpc style) or errors[].reason (v1 style). */
  reason?: string;
  violations?: FieldViolation[];
  /** google.rpc.PreconditionFailure violations (FAILED_PRECONDITION errors). */
  preconditions?: PreconditionViolation[];
  /** The API's host, the ErrorInfo domain. */
  domain?: string;
}

export function errorBody(style: ErrorStyle, e: ErrorSpec): { error: Record<string, unknown> } {
  const status = e.status ?? DEFAULT_STATUS[e.httpStatus] ?? 'UNKNOWN';
  if (style === 'v1') {
    const reason = e.reason ?? (e.violations?.length ? 'invalid' : (V1_REASON[status] ?? 'backendError'));
    const errors = e.violations?.length
      ? e.violations.map((v) => ({ message: v.description, domain: 'global', reason, location: v.field }))
      : [{ message: e.message, domain: 'global', reason }];
    return { error: { code: e.httpStatus, message: e.message, errors } };
  }
  const details: Record<string, unknown>[] = [];
  if (e.violations?.length)
    details.push({ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: e.violations });
  // https://cloud.google.com/apis/design/errors#error_details: FAILED_PRECONDITION carries
  // google.rpc.PreconditionFailure (google/rpc/error_details.proto PreconditionFailure).
  if (e.preconditions?.length)
    details.push({ '@type': 'type.googleapis.com/google.rpc.PreconditionFailure', violations: e.preconditions });
  if (e.reason)
    details.push({ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: e.reason, domain: e.domain ?? '' });
  return {
    error: { code: e.httpStatus, message: e.message, status, ...(details.length ? { details } : {}) },
  };
}
