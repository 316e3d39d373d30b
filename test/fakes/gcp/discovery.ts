// Checks requests against a Google API discovery document (https://developers.google.com/discovery/v1/reference),
// the published definition of a REST API. The fake uses it for Database Migration Service: the
// clouddms v1 protos available as packages lag behind the REST API (no demoteDestination, no
// alloydbClusterId), while datamigration v1's discovery document, committed in definitions/ (its
// README and VERSION say where from; scripts/refresh-google-definitions refreshes it), is what
// Google serves. Rules:
// - a request matches a method by HTTP verb and `flatPath`; query parameters must be the method's
//   or the discovery document's global ones (alt, fields, key, prettyPrint, $.xgafv, ...);
// - bodies follow the method's `request` schema: unknown properties, wrong JSON types and values
//   outside a property's `enum` are refused; properties whose description starts "Output only."
//   are ignored (AIP-203); "Required." ones must be present (discovery has no field_behavior: the
//   generator writes it as that description prefix) in every object the request carries;
// - request ids follow the text of the method's requestId description (DMS: letters, digits, _ and
//   -, at most 40 characters).
import fs from 'node:fs';
import path from 'node:path';

export interface Violation {
  field: string;
  description: string;
}

interface Schema {
  id?: string;
  type?: string;
  format?: string;
  $ref?: string;
  description?: string;
  enum?: string[];
  items?: Schema;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema;
}

interface Parameter extends Schema {
  location: 'path' | 'query';
  required?: boolean;
  repeated?: boolean;
}

export interface DiscoveryMethod {
  id: string;
  httpMethod: string;
  /** Relative to the document's servicePath; absent where it equals `path` (Cloud Storage). */
  flatPath?: string;
  path: string;
  /** Media upload endpoints (absolute paths), e.g. Cloud Storage's /upload/storage/v1/b/{bucket}/o. */
  mediaUpload?: { protocols?: Record<string, { path: string }> };
  parameters?: Record<string, Parameter>;
  request?: { $ref: string };
}

interface Resource {
  methods?: Record<string, DiscoveryMethod>;
  resources?: Record<string, Resource>;
}

interface Document extends Resource {
  name: string;
  revision: string;
  servicePath?: string;
  parameters: Record<string, Parameter>;
  schemas: Record<string, Schema>;
}

export interface Discovery {
  name: string;
  revision: string;
  match(httpMethod: string, urlPath: string): DiscoveryMethod | undefined;
  validate(method: DiscoveryMethod, query: URLSearchParams, body: unknown): Violation[];
}

/** Google's DMS discovery document, committed (definitions/README.md). */
export const DMS_DISCOVERY = path.join(__dirname, 'definitions', 'datamigration-v1.json');
/** Google's Cloud Storage JSON API discovery document, committed (definitions/README.md). */
export const STORAGE_DISCOVERY = path.join(__dirname, 'definitions', 'storage-v1.json');

/**
 * Discovery documents do not say which properties are a oneof; these are the clouddms v1 oneofs
 * (google/cloud/clouddms/v1/clouddms_resources.proto, googleapis/googleapis) for the schemas the
 * platform sends: at most one member of each may be set.
 */
const ONEOFS: Record<string, Record<string, string[]>> = {
  MigrationJob: { connectivity: ['reverseSshConnectivity', 'vpcPeeringConnectivity', 'staticIpConnectivity'] },
  ConnectionProfile: {
    connection_profile: ['mysql', 'postgresql', 'sqlserver', 'oracle', 'cloudsql', 'alloydb'],
  },
  PostgreSqlConnectionProfile: { connectivity: ['staticIpConnectivity', 'privateServiceConnectConnectivity'] },
};

const required = (s: Schema) => /^Required\./.test(s.description ?? '');
const outputOnly = (s: Schema) => /^Output only\./i.test(s.description ?? '');

function methodsOf(r: Resource, out: DiscoveryMethod[] = []): DiscoveryMethod[] {
  out.push(...Object.values(r.methods ?? {}));
  for (const child of Object.values(r.resources ?? {})) methodsOf(child, out);
  return out;
}

/** A path template as a pattern; `{x}` is one segment (Cloud Storage's {object} arrives percent-encoded). */
function pathPattern(template: string): RegExp {
  const parts = template.split(/\{[^}]+\}/).map((p) => p.replace(/[.*+?^$()|[\]\\]/g, '\\$&'));
  return new RegExp(`^/${parts.join('[^/:]+').replace(/^\//, '')}$`);
}

/**
 * The paths a method is served at: its flatPath (or path) under the document's servicePath, and
 * the media upload paths of its `mediaUpload.protocols` (https://developers.google.com/discovery/v1/using#discovery-doc-methods-mediaupload).
 */
function templatesOf(doc: Document, m: DiscoveryMethod): string[] {
  const uploads = Object.values(m.mediaUpload?.protocols ?? {}).map((p) => p.path);
  return [`${doc.servicePath ?? ''}${m.flatPath ?? m.path}`, ...uploads];
}

const cache = new Map<string, Discovery>();

export function loadDiscovery(file = DMS_DISCOVERY): Discovery {
  const hit = cache.get(file);
  if (hit) return hit;
  if (!fs.existsSync(file)) throw new Error(`fake: ${file} is missing; it is committed: git checkout -- ${file}`);
  const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as Document;
  const index = methodsOf(doc).flatMap((m) => templatesOf(doc, m).map((t) => ({ m, re: pathPattern(t) })));

  function check(schema: Schema, value: unknown, field: string, out: Violation[]): void {
    const s = schema.$ref ? doc.schemas[schema.$ref] : schema;
    if (value === null || value === undefined) return;
    const bad = (description: string): void => void out.push({ field, description });
    switch (s.type) {
      case 'object': {
        if (typeof value !== 'object' || Array.isArray(value)) return bad('must be an object');
        const obj = value as Record<string, unknown>;
        if (s.additionalProperties) {
          for (const [k, v] of Object.entries(obj)) check(s.additionalProperties, v, `${field}[${k}]`, out);
          return;
        }
        const props = s.properties ?? {};
        for (const [k, v] of Object.entries(obj)) {
          const p = props[k];
          const at = field ? `${field}.${k}` : k;
          if (!p) out.push({ field: at, description: `unknown field "${k}" in ${s.id ?? 'object'}` });
          else if (!outputOnly(p)) check(p, v, at, out);
        }
        for (const [oneof, members] of Object.entries(ONEOFS[s.id ?? ''] ?? {})) {
          const set = members.filter((m) => obj[m] !== undefined && obj[m] !== null);
          if (set.length > 1)
            out.push({
              field: field ? `${field}.${oneof}` : oneof,
              description: `only one of ${set.join(', ')} may be set`,
            });
        }
        for (const [k, p] of Object.entries(props))
          if (required(p) && (obj[k] === undefined || obj[k] === null || obj[k] === ''))
            out.push({ field: field ? `${field}.${k}` : k, description: `is required (${s.id ?? 'object'}.${k})` });
        return;
      }
      case 'array':
        if (!Array.isArray(value)) return bad('must be an array');
        value.forEach((v, i) => check(s.items ?? {}, v, `${field}[${i}]`, out));
        return;
      case 'string':
        if (s.format === 'int64' || s.format === 'uint64') {
          if (!(typeof value === 'number' || (typeof value === 'string' && /^-?\d+$/.test(value))))
            return bad(`must be a ${s.format} (a JSON number or decimal string)`);
          return;
        }
        if (typeof value !== 'string') return bad('must be a string');
        if (s.enum && !s.enum.includes(value)) return bad(`"${value}" is not one of ${s.enum.join(', ')}`);
        return;
      case 'integer':
        if (typeof value !== 'number' || !Number.isInteger(value)) return bad('must be an integer');
        return;
      case 'number':
        if (typeof value !== 'number') return bad('must be a number');
        return;
      case 'boolean':
        if (typeof value !== 'boolean') return bad('must be true or false');
        return;
      case 'any':
      default:
        return;
    }
  }

  const discovery: Discovery = {
    name: doc.name,
    revision: doc.revision,
    match(httpMethod, urlPath) {
      return index.find(({ m, re }) => m.httpMethod === httpMethod && re.test(urlPath))?.m;
    },
    validate(method, query, body) {
      const out: Violation[] = [];
      const params = method.parameters ?? {};
      for (const key of new Set(query.keys())) {
        const p = params[key] ?? doc.parameters[key];
        if (!p || p.location !== 'query') {
          out.push({ field: key, description: `unknown query parameter "${key}" for ${method.id}` });
          continue;
        }
        for (const v of query.getAll(key)) {
          if (p.enum && !p.enum.includes(v))
            out.push({ field: key, description: `"${v}" is not one of ${p.enum.join(', ')}` });
          if (p.type === 'boolean' && v !== 'true' && v !== 'false')
            out.push({ field: key, description: 'must be true or false' });
        }
      }
      for (const [key, p] of Object.entries(params))
        if (p.location === 'query' && required(p) && !query.get(key))
          out.push({ field: key, description: `is required by ${method.id}` });
      const id = query.get('requestId');
      if (id !== null && /at most 40 characters|maximum length is 40/i.test(params.requestId?.description ?? ''))
        if (!/^[A-Za-z0-9_-]{1,40}$/.test(id))
          out.push({ field: 'requestId', description: 'must be letters, digits, _ or - and at most 40 characters' });
      if (method.request) check({ $ref: method.request.$ref }, body ?? {}, '', out);
      else if (body && typeof body === 'object' && Object.keys(body).length)
        out.push({ field: '(body)', description: `${method.id} takes no request body` });
      return out;
    },
  };
  cache.set(file, discovery);
  return discovery;
}
