// The check of every request against Google's own published definitions, before any route runs:
// the discovery documents for DMS and Cloud Storage (discovery.ts), the protos for the other APIs
// (schema/: the method found by its google.api.http rule, the request message validated, the
// request id checked against its proto comment). A request none of them defines is refused, so
// the fake cannot answer a call Google would not.
import { ApiError } from './api-error';
import { STORAGE_DISCOVERY, loadDiscovery } from './discovery';
import type { ErrorStyle } from './schema/protos';
import { requestIdRule } from './schema/request-ids';
import type { FieldViolation } from './schema/status';
import { checkRequest } from './schema/validate';

/** A request as the check reads it. */
export interface DefinedRequest {
  method: string;
  /** The decoded path. */
  path: string;
  /** The path as sent: a Cloud Storage object name is one percent-encoded segment. */
  rawPath: string;
  query: URLSearchParams;
  body: unknown;
  /** A Cloud Storage request (schema/storage.ts isStoragePath). */
  storage: boolean;
}

export interface CheckOptions {
  /** Refuse what the definitions do not allow (FakeGcp.strict). */
  strict: boolean;
  /** The DMS discovery document to check DMS requests against (FakeGcp.dmsDefinition). */
  dmsDefinition: string;
}

/** How an API answers errors (schema/status.ts errorBody): its style, and its host as ErrorInfo domain. */
export interface ErrorShape {
  style: ErrorStyle;
  domain?: string;
}

/** What the check found: the method the request calls and, when it is refused, why. */
export interface DefinitionCheck {
  /** The API, method and request id the request was matched to, as the route's Ctx carries them. */
  matched: { api?: string; protoRpc?: string; requestId?: string };
  /** The error shape and ErrorInfo domain of the API a proto matched; unset: the server's own. */
  errors?: ErrorShape;
  /** The field violations the request is refused for, as the request log keeps them. */
  violations?: FieldViolation[];
  /** Why the request is refused; unset: it may go on to a route. */
  refusal?: ApiError;
}

/** Checks `req` against the definition of the API it is sent to (see above). */
export function checkAgainstDefinitions(req: DefinedRequest, opts: CheckOptions): DefinitionCheck {
  // DMS is checked against its discovery document (discovery.ts): its packaged protos are older
  // than its REST API. Its operations share AlloyDB's path and proto (google.longrunning).
  // Cloud Storage is checked against its discovery document too, matched on the raw path: an
  // object name is one percent-encoded path segment.
  const storageMethod = req.storage ? loadDiscovery(STORAGE_DISCOVERY).match(req.method, req.rawPath) : undefined;
  const dmsMethod =
    req.storage || req.path.includes('/operations/')
      ? undefined
      : loadDiscovery(opts.dmsDefinition).match(req.method, req.path);
  const verdict =
    dmsMethod || req.storage
      ? ({ kind: 'unknown-method' } as const)
      : checkRequest(req.method, req.path, req.query, req.body);
  if (storageMethod) {
    const matched = { api: 'storage', protoRpc: storageMethod.id };
    const violations = opts.strict ? loadDiscovery(STORAGE_DISCOVERY).validate(storageMethod, req.query, req.body) : [];
    // Refused as definitions/storage-v1.json (the storage v1 discovery document) defines the method.
    if (violations.length) {
      const message = violations.map((v) => `${v.field}: ${v.description}`).join('\n');
      return { matched, violations, refusal: new ApiError(400, message, { violations }) };
    }
    return { matched };
  }
  if (dmsMethod) {
    const matched = { api: 'clouddms', protoRpc: dmsMethod.id, requestId: req.query.get('requestId') ?? undefined };
    const violations = opts.strict ? loadDiscovery(opts.dmsDefinition).validate(dmsMethod, req.query, req.body) : [];
    // Checked against Google's DMS discovery document (definitions/datamigration-v1.json),
    // refused as INVALID_ARGUMENT with a google.rpc.BadRequest (google/rpc/error_details.proto).
    if (violations.length) {
      const message = violations.map((v) => `${v.field}: ${v.description}`).join('\n');
      return { matched, violations, refusal: new ApiError(400, message, { violations }) };
    }
    return { matched };
  }
  if (verdict.kind !== 'unknown-method') {
    const { binding, message, violations } = verdict.checked;
    const found: DefinitionCheck = {
      matched: { api: binding.api.api, protoRpc: binding.rpc },
      errors: { style: binding.api.errorStyle, domain: binding.api.host },
    };
    const rule = requestIdRule(binding.requestType);
    if (rule && typeof message.requestId === 'string' && message.requestId) found.matched.requestId = message.requestId;
    // Checked against the API's proto (field types, enums, google/api/field_behavior.proto REQUIRED),
    // refused as INVALID_ARGUMENT with a google.rpc.BadRequest (google/rpc/error_details.proto).
    if (opts.strict && violations.length) {
      const message = violations.map((v) => v.description).join('\n');
      return { ...found, violations, refusal: new ApiError(400, message, { violations }) };
    }
    const requestId = found.matched.requestId;
    const why = opts.strict && requestId ? rule?.check(requestId) : undefined;
    // A request id is a UUID (https://google.aip.dev/155; each request message's request_id comment).
    if (why) {
      const description = `Invalid requestId '${requestId}': ${why} (${rule!.source}).`;
      return { ...found, refusal: ApiError.invalid('requestId', description) };
    }
    return found;
  }
  // A path no google.api.http rule (google/api/http.proto) of these APIs maps: 404 NOT_FOUND
  // (https://cloud.google.com/apis/design/errors).
  if (opts.strict)
    return {
      matched: {},
      refusal: new ApiError(
        404,
        `fake: ${req.method} ${req.path} matches no google.api.http rule ` +
          'of the APIs the fake knows (schema/protos.ts)',
      ),
    };
  return { matched: {} };
}
