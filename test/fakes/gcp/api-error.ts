// The error a route (or the server's own checks) throws to refuse a request: it is answered in the
// API's own error shape (schema/status.ts). In its own file so the server's checks can throw it
// without importing the server.
import { CODE_HTTP, DEFAULT_STATUS, type FieldViolation, type PreconditionViolation } from './schema/status';

export interface ApiErrorOptions {
  /** google.rpc.Code name, e.g. ALREADY_EXISTS vs ABORTED for a 409, FAILED_PRECONDITION for a 400. */
  status?: string;
  /** ErrorInfo reason (google.rpc.Status APIs) or errors[].reason (Cloud SQL, Compute). */
  reason?: string;
  /** google.rpc.BadRequest field violations. */
  violations?: FieldViolation[];
  /**
   * google.rpc.PreconditionFailure violations, for FAILED_PRECONDITION (rendered in google.rpc
   * style only: the v1 `errors[]` shape has no details).
   */
  preconditions?: PreconditionViolation[];
}

/** An error the fake answers as the API would (schema/status.ts). `status` is the HTTP status. */
export class ApiError {
  readonly canonical: string;
  constructor(
    readonly status: number,
    readonly message: string,
    readonly opts: ApiErrorOptions = {},
  ) {
    this.canonical = opts.status ?? DEFAULT_STATUS[status] ?? 'UNKNOWN';
  }

  /** An error by its google.rpc.Code name, with that code's HTTP status (google/rpc/code.proto). */
  static of(code: string, message: string, opts: Omit<ApiErrorOptions, 'status'> = {}): ApiError {
    return new ApiError(CODE_HTTP[code] ?? 500, message, { ...opts, status: code });
  }

  /** INVALID_ARGUMENT naming the field (google.rpc.BadRequest). */
  static invalid(field: string, description: string): ApiError {
    return new ApiError(400, description, { violations: [{ field, description }] });
  }
}
