// A request checked the way Google's front end checks it: the request message is built from the
// path, query and body per the HTTP rule (https://google.aip.dev/127, google/api/http.proto), then
// read as proto3 JSON (https://protobuf.dev/programming-guides/proto3/#json): unknown names,
// enum values, JSON types, oneofs, and fields marked (google.api.field_behavior) = REQUIRED
// (google/api/field_behavior.proto, https://google.aip.dev/203). OUTPUT_ONLY fields are ignored
// on input, as AIP-203 says servers do.
import * as protobuf from 'protobufjs';
import { matchRequest, type Binding } from './http-rules';
import type { FieldViolation } from './status';

type Json = unknown;
type Obj = Record<string, Json>;

/** Query parameters every Google API accepts (https://cloud.google.com/apis/docs/system-parameters). */
const SYSTEM_PARAMS = new Set([
  '$alt',
  'alt',
  '$fields',
  'fields',
  'key',
  'prettyPrint',
  '$prettyPrint',
  'quotaUser',
  '$.xgafv',
  'access_token',
  'oauth_token',
  'callback',
  'upload_protocol',
  'uploadType',
  'userIp',
]);

const lookups = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

/** A field by its lowerCamel JSON name or its proto name; proto3 JSON parsers accept both. */
export function fieldOf(type: protobuf.Type, name: string): protobuf.Field | undefined {
  let m = lookups.get(type);
  if (!m) {
    m = new Map();
    for (const f of type.fieldsArray) {
      const extra = f as protobuf.Field & { protoName?: string; jsonName?: string };
      for (const n of [f.name, extra.protoName, extra.jsonName]) if (n) m.set(n, f);
    }
    lookups.set(type, m);
  }
  return m.get(name);
}

const behaviours = new WeakMap<protobuf.Field, Set<string>>();

/** Every (google.api.field_behavior) of a field (the option is repeated). */
export function behaviourOf(f: protobuf.Field): Set<string> {
  let s = behaviours.get(f);
  if (!s) {
    s = new Set();
    for (const o of f.parsedOptions ?? []) {
      const v = (o as Record<string, unknown>)['(google.api.field_behavior)'];
      for (const x of Array.isArray(v) ? v : v === undefined ? [] : [v]) s.add(String(x));
    }
    const plain = f.options?.['(google.api.field_behavior)'];
    if (plain !== undefined) s.add(String(plain));
    behaviours.set(f, s);
  }
  return s;
}

const upperCamel = (snake: string) => snake.replace(/(^|_)([a-z0-9])/gi, (_m, _u, c: string) => c.toUpperCase());

/**
 * Compute's protos are generated from its discovery document, which has no proto enums for fields:
 * an enum-valued field is a `string`, and its values are a nested enum named after the field in
 * UpperCamelCase (FutureReservation.planning_status ↔ enum FutureReservation.PlanningStatus; the
 * field comments say "Check the PlanningStatus enum for the list of possible values.").
 */
function computeEnumOf(f: protobuf.Field): protobuf.Enum | undefined {
  if (f.type !== 'string') return undefined;
  const name = upperCamel((f as protobuf.Field & { protoName?: string }).protoName ?? f.name);
  const e = f.parent?.nested?.[name];
  return e instanceof protobuf.Enum ? e : undefined;
}

interface Ctx {
  api: string;
  violations: FieldViolation[];
}

const INT = /^-?\d+$/;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;
const DURATION = /^-?\d+(\.\d{1,9})?s$/;

/** A value whose JSON form its field's type does not accept, in ESF's words. */
function invalid(ctx: Ctx, path: string, expected: string, v: Json): void {
  ctx.violations.push({ field: path, description: `Invalid value at '${path}' (${expected}), ${JSON.stringify(v)}` });
}

/**
 * A scalar in its proto3 JSON form (https://protobuf.dev/programming-guides/proto3/#json): strings and bytes as strings, bool
 * as true/false, 32- and 64-bit integers as numbers or decimal strings (unsigned ones not
 * negative), floats as numbers, numeric strings or "NaN", "Infinity", "-Infinity".
 */
function checkScalar(ctx: Ctx, type: string, v: Json, path: string): void {
  const isNum = typeof v === 'number' && Number.isFinite(v);
  const numStr = typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v));
  let ok: boolean;
  switch (type) {
    case 'string':
    case 'bytes':
      ok = typeof v === 'string';
      break;
    case 'bool':
      ok = typeof v === 'boolean';
      break;
    case 'double':
    case 'float':
      ok = isNum || numStr || v === 'NaN' || v === 'Infinity' || v === '-Infinity';
      break;
    default:
      // int32, int64, uint32, uint64, sint*, fixed*, sfixed*: a JSON number or a decimal string.
      ok = (isNum && Number.isInteger(v)) || (typeof v === 'string' && INT.test(v));
      if (ok && type.startsWith('u') && String(v).startsWith('-')) ok = false;
  }
  if (!ok) invalid(ctx, path, `TYPE_${type.toUpperCase()}`, v);
}

const WRAPPERS: Record<string, string> = {
  DoubleValue: 'double',
  FloatValue: 'float',
  Int64Value: 'int64',
  UInt64Value: 'uint64',
  Int32Value: 'int32',
  UInt32Value: 'uint32',
  BoolValue: 'bool',
  StringValue: 'string',
  BytesValue: 'bytes',
};

/**
 * Well-known types have their own JSON forms (https://protobuf.dev/programming-guides/proto3/#json: wrappers as their
 * scalar, Timestamp RFC 3339, Duration "1.5s", FieldMask a string, Struct an object, ListValue an
 * array, Any an object with "@type"); true when `type` is one (and was checked).
 */
function checkWellKnown(ctx: Ctx, type: protobuf.Type, v: Json, path: string): boolean {
  const full = type.fullName.slice(1);
  if (!full.startsWith('google.protobuf.')) return false;
  const short = full.slice('google.protobuf.'.length);
  if (short in WRAPPERS) checkScalar(ctx, WRAPPERS[short], v, path);
  else if (short === 'Timestamp') {
    if (typeof v !== 'string' || !RFC3339.test(v)) invalid(ctx, path, 'google.protobuf.Timestamp', v);
  } else if (short === 'Duration') {
    if (typeof v !== 'string' || !DURATION.test(v)) invalid(ctx, path, 'google.protobuf.Duration', v);
  } else if (short === 'FieldMask') {
    if (typeof v !== 'string') invalid(ctx, path, 'google.protobuf.FieldMask', v);
  } else if (short === 'Struct' || short === 'Empty') {
    if (!isObj(v)) invalid(ctx, path, full, v);
  } else if (short === 'ListValue') {
    if (!Array.isArray(v)) invalid(ctx, path, full, v);
  } else if (short === 'Any') {
    if (!isObj(v) || typeof v['@type'] !== 'string') invalid(ctx, path, full, v);
  } else if (short !== 'Value') return false;
  return true;
}

const isObj = (v: Json): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An enum by its value's name or number (https://protobuf.dev/programming-guides/proto3/#json: parsers accept both). */
function checkEnum(ctx: Ctx, e: protobuf.Enum, v: Json, path: string): void {
  // Names, or numbers: gax clients send `$alt=json;enum-encoding=int` and numeric enums.
  const ok =
    (typeof v === 'string' && (v in e.values || (INT.test(v) && Object.values(e.values).includes(Number(v))))) ||
    (typeof v === 'number' && Object.values(e.values).includes(v));
  if (!ok) invalid(ctx, path, `type.googleapis.com/${e.fullName.slice(1)}`, v);
}

/** One value of a field: a message is a JSON object (https://protobuf.dev/programming-guides/proto3/#json). */
function checkSingle(ctx: Ctx, f: protobuf.Field, v: Json, path: string): void {
  const t = f.resolvedType;
  if (t instanceof protobuf.Enum) return checkEnum(ctx, t, v, path);
  if (t instanceof protobuf.Type) {
    if (checkWellKnown(ctx, t, v, path)) return;
    if (!isObj(v)) return invalid(ctx, path, `type.googleapis.com/${t.fullName.slice(1)}`, v);
    return checkMessage(ctx, t, v, path);
  }
  const computeEnum = ctx.api === 'compute' ? computeEnumOf(f) : undefined;
  if (computeEnum && typeof v === 'string') return checkEnum(ctx, computeEnum, v, path);
  checkScalar(ctx, f.type, v, path);
}

/** A field: a map is a JSON object, a repeated field a JSON array (https://protobuf.dev/programming-guides/proto3/#json). */
function checkField(ctx: Ctx, f: protobuf.Field, v: Json, path: string): void {
  if (v === null) return; // proto3 JSON: null is the field's default
  if (f.map) {
    if (!isObj(v)) return invalid(ctx, path, 'map', v);
    for (const [k, x] of Object.entries(v)) checkSingle(ctx, f, x, `${path}[${JSON.stringify(k)}]`);
  } else if (f.repeated) {
    if (!Array.isArray(v)) return invalid(ctx, path, 'list', v);
    v.forEach((x, i) => checkSingle(ctx, f, x, `${path}[${i}]`));
  } else checkSingle(ctx, f, v, path);
}

const absent = (v: Json) => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);

/**
 * proto3 JSON leaves out fields at their default (gax clients do), so an absent REQUIRED enum whose
 * zero value is a real choice (ListTimeSeriesRequest.view = FULL) is that choice, not missing; one
 * whose zero value is *_UNSPECIFIED is missing. Absent bools are false, a value like any other.
 */
function absentMeansMissing(f: protobuf.Field): boolean {
  if (f.repeated || f.map) return true;
  if (f.type === 'bool') return false;
  const e = f.resolvedType;
  if (!(e instanceof protobuf.Enum)) return true;
  const zero = Object.entries(e.values).find(([, n]) => n === 0)?.[0] ?? '';
  return /UNSPECIFIED|UNKNOWN|^UNDEFINED/.test(zero) || zero === '';
}

const valueOf = (obj: Obj, f: protobuf.Field) => {
  const extra = f as protobuf.Field & { protoName?: string };
  return obj[f.name] ?? (extra.protoName ? obj[extra.protoName] : undefined);
};

/** Deprecated REQUIRED fields and the field their comment names instead. */
const SUCCESSORS: Record<string, string[]> = {
  // alloydb v1 resources.proto Cluster.network: "Deprecated, use network_config.network instead."
  'google.cloud.alloydb.v1.Cluster.network': ['networkConfig', 'network'],
};

const isSynthetic = (o: protobuf.OneOf) => o.fieldsArray.length === 1 && !!o.fieldsArray[0].options?.proto3_optional;

/**
 * A message: unknown names are refused (a proto3 JSON parser "should reject unknown fields by
 * default", https://protobuf.dev/programming-guides/proto3/#json); at most one member of a oneof is set
 * (https://protobuf.dev/programming-guides/proto3/#oneof); fields marked REQUIRED
 * (google/api/field_behavior.proto, https://google.aip.dev/203) are present.
 */
function checkMessage(ctx: Ctx, type: protobuf.Type, obj: Obj, path: string): void {
  const at = (name: string) => (path ? `${path}.${name}` : name);
  for (const [k, v] of Object.entries(obj)) {
    const f = fieldOf(type, k);
    if (!f) {
      ctx.violations.push({
        field: at(k),
        description: `Invalid JSON payload received. Unknown name "${k}" at '${path || type.name}': Cannot find field.`,
      });
      continue;
    }
    if (behaviourOf(f).has('OUTPUT_ONLY')) continue;
    checkField(ctx, f, v, at(f.name));
  }
  const setInOneof = new Map<protobuf.OneOf, string[]>();
  for (const o of type.oneofsArray) {
    if (isSynthetic(o)) continue;
    const set = o.fieldsArray.filter((f) => !absent(valueOf(obj, f))).map((f) => f.name);
    setInOneof.set(o, set);
    if (set.length > 1)
      ctx.violations.push({
        field: at(o.name),
        description: `Only one of ${set.map(at).join(', ')} may be set (oneof ${o.name}).`,
      });
  }
  for (const f of type.fieldsArray) {
    const b = behaviourOf(f);
    if (!b.has('REQUIRED') || b.has('OUTPUT_ONLY') || !absent(valueOf(obj, f)) || !absentMeansMissing(f)) continue;
    // A deprecated REQUIRED field is satisfied by its successor (below) or, with none known, not enforced.
    if (f.options?.deprecated) {
      const successor = SUCCESSORS[f.fullName.slice(1)];
      if (!successor || !absent(successor.reduce<Json>((o, k) => (isObj(o) ? o[k] : undefined), obj))) continue;
    }
    // A REQUIRED member of a oneof is satisfied by any member being set.
    if (f.partOf && !isSynthetic(f.partOf) && setInOneof.get(f.partOf)?.length) continue;
    ctx.violations.push({ field: at(f.name), description: `Required field ${at(f.name)} is missing.` });
  }
}

/**
 * Converts a query or path string to the JSON value of a scalar, enum or well-known field. A query
 * parameter binds "a primitive type or a repeated primitive type or a non-repeated message type",
 * the last one field at a time (google/api/http.proto HttpRule, https://google.aip.dev/127).
 */
function fromString(ctx: Ctx, f: protobuf.Field, raw: string, path: string): Json {
  const t = f.resolvedType;
  if (t instanceof protobuf.Type) {
    const short = t.fullName.replace(/^\.google\.protobuf\./, '');
    if (short === t.fullName) {
      ctx.violations.push({
        field: path,
        description: `Invalid JSON payload received. Cannot bind query parameter '${path}': a message field.`,
      });
      return undefined;
    }
    return fromScalar(WRAPPERS[short] ?? 'string', raw);
  }
  if (t instanceof protobuf.Enum) return INT.test(raw) ? Number(raw) : raw;
  return fromScalar(f.type, raw);
}

function fromScalar(type: string, raw: string): Json {
  if (type === 'bool') return raw === 'true' ? true : raw === 'false' ? false : raw;
  if (['double', 'float', 'int32', 'uint32', 'sint32', 'fixed32', 'sfixed32'].includes(type))
    return raw.trim() !== '' && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
  return raw;
}

/**
 * Sets `value` at a dotted field path of the request, creating the messages on the way: each
 * step but the last names a non-repeated message field (google/api/http.proto HttpRule: "each
 * field of the message is mapped to a separate parameter, such as ...?foo.a=A&foo.b=B").
 */
function setPath(
  ctx: Ctx,
  type: protobuf.Type,
  obj: Obj,
  dotted: string,
  raw: string | string[],
  source: string,
): void {
  const parts = dotted.split('.');
  let t = type;
  let o = obj;
  for (let i = 0; i < parts.length; i++) {
    const f = fieldOf(t, parts[i]);
    const at = parts.slice(0, i + 1).join('.');
    if (!f) {
      ctx.violations.push({
        field: at,
        description:
          `Invalid JSON payload received. Unknown name "${dotted}": Cannot bind ${source}. ` +
          `Field '${parts[i]}' could not be found in request message.`,
      });
      return;
    }
    if (i === parts.length - 1) {
      const values = (Array.isArray(raw) ? raw : [raw]).map((r) => fromString(ctx, f, r, at));
      o[f.name] = f.repeated ? values : values[values.length - 1];
      return;
    }
    if (!(f.resolvedType instanceof protobuf.Type) || f.repeated) {
      ctx.violations.push({ field: at, description: `Cannot bind ${source} '${dotted}': '${at}' is not a message.` });
      return;
    }
    t = f.resolvedType;
    o = (o[f.name] ??= {}) as Obj;
  }
}

export interface Checked {
  binding: Binding;
  message: Obj;
  violations: FieldViolation[];
}

/**
 * Builds the request message of one candidate method and checks it, binding path, query and body
 * as google/api/http.proto HttpRule says (https://google.aip.dev/127): with `body: "*"` every field
 * not in the path is in the body, so "it is not possible to have HTTP parameters"; a query
 * parameter cannot bind the field the body binds; a method with no `body` takes none.
 */
export function checkAgainst(binding: Binding, vars: [string, string][], query: URLSearchParams, body: Json): Checked {
  const ctx: Ctx = { api: binding.api.api, violations: [] };
  const type = binding.requestType;
  const message: Obj = {};
  const bodyField = binding.body && binding.body !== '*' ? fieldOf(type, binding.body) : undefined;
  for (const [field, value] of vars) setPath(ctx, type, message, field, value, 'path parameter');
  const params = new Map<string, string[]>();
  for (const [k, v] of query) if (!SYSTEM_PARAMS.has(k)) params.set(k, [...(params.get(k) ?? []), v]);
  for (const [k, values] of params) {
    const top = fieldOf(type, k.split('.')[0]);
    if (binding.body === '*' || (top && bodyField && top === bodyField)) {
      ctx.violations.push({
        field: k,
        description:
          `Invalid JSON payload received. Unknown name "${k}": Cannot bind query parameter. ` +
          `Field '${k}' is bound by the request body.`,
      });
      continue;
    }
    setPath(ctx, type, message, k, values, 'query parameter');
  }
  const hasBody = body !== undefined && !(isObj(body) && Object.keys(body).length === 0);
  if (binding.body === '*') {
    if (hasBody && !isObj(body)) invalid(ctx, '', `type.googleapis.com/${type.fullName.slice(1)}`, body);
    else if (isObj(body))
      for (const [k, v] of Object.entries(body)) {
        const f = fieldOf(type, k);
        // A path variable is not a body field: the body cannot override it.
        if (f && vars.some(([p]) => fieldOf(type, p.split('.')[0]) === f)) continue;
        message[f?.name ?? k] = v;
      }
  } else if (bodyField) {
    if (body !== undefined) message[bodyField.name] = body;
  } else if (hasBody) {
    ctx.violations.push({ field: '', description: `${binding.rpc} takes no request body.` });
  }
  checkMessage(ctx, type, message, '');
  return { binding, message, violations: ctx.violations };
}

export type Verdict =
  { kind: 'unknown-method' } | { kind: 'ok'; checked: Checked } | { kind: 'invalid'; checked: Checked };

/** Which method a request calls, and whether Google would accept it. */
export function checkRequest(verb: string, path: string, query: URLSearchParams, body: Json): Verdict {
  const matches = matchRequest(verb, path);
  if (!matches.length) return { kind: 'unknown-method' };
  let best: Checked | undefined;
  for (const m of matches) {
    const c = checkAgainst(m.binding, m.vars, query, body);
    if (!c.violations.length) return { kind: 'ok', checked: c };
    if (!best || c.violations.length < best.violations.length) best = c;
  }
  return { kind: 'invalid', checked: best! };
}
