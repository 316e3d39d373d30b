// Every method of every loaded API, indexed by its HTTP rule: the `google.api.http` option
// (verb + path template, plus additional_bindings), as defined in google/api/http.proto
// (https://cloud.google.com/endpoints/docs/grpc-service-config/reference/rpc/google.api#httprule).
// An incoming request is matched against those templates, the way Google's front end transcodes it.
import * as protobuf from 'protobufjs';
import { loadApis, type LoadedApi } from './protos';

export interface Binding {
  api: LoadedApi;
  /** Full proto method name, e.g. google.cloud.clouddms.v1.DataMigrationService.CreateMigrationJob. */
  rpc: string;
  requestType: protobuf.Type;
  verb: string;
  template: string;
  /** "*" (the whole request), a field name (that field), or undefined (no body). */
  body?: string;
  pattern: RegExp;
  /** The request field each capture group binds, as a dotted path (proto names). */
  variables: string[];
  /** Literal characters in the template: more literal = more specific. */
  specificity: number;
}

const VERBS = ['get', 'post', 'put', 'patch', 'delete'];
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// A path segment `*` never holds `/` (nor `:`, which starts a custom verb); `**` holds several segments.
function segmentsRegex(pattern: string): string {
  return pattern
    .split('/')
    .map((s) => (s === '**' ? '[^:]+' : s === '*' ? '[^/:]+' : escape(s)))
    .join('/');
}

/** Compiles a path template such as /v1/{parent=projects/*\/locations/*}/migrationJobs:verb. */
export function compileTemplate(template: string): { pattern: RegExp; variables: string[]; specificity: number } {
  const variables: string[] = [];
  let re = '';
  let specificity = 0;
  for (let i = 0; i < template.length;) {
    if (template[i] === '{') {
      const end = template.indexOf('}', i);
      const [field, pat = '*'] = template.slice(i + 1, end).split('=');
      variables.push(field);
      re += `(${segmentsRegex(pat)})`;
      specificity += pat.replace(/\*/g, '').length;
      i = end + 1;
    } else {
      const next = template.indexOf('{', i);
      const lit = template.slice(i, next < 0 ? undefined : next);
      re += segmentsRegex(lit);
      specificity += lit.replace(/\*/g, '').length;
      i = next < 0 ? template.length : next;
    }
  }
  return { pattern: new RegExp(`^${re}$`), variables, specificity };
}

interface HttpRule {
  body?: string;
  additional_bindings?: HttpRule | HttpRule[];
  [verb: string]: unknown;
}

function rulesOf(method: protobuf.Method): HttpRule[] {
  const out: HttpRule[] = [];
  for (const opt of method.parsedOptions ?? []) {
    const rule = (opt as Record<string, HttpRule>)['(google.api.http)'];
    if (!rule) continue;
    out.push(rule);
    const extra = rule.additional_bindings;
    if (extra) out.push(...(Array.isArray(extra) ? extra : [extra]));
  }
  return out;
}

/**
 * Mixins the protos do not carry: google.longrunning.Operations is bound per API in the service
 * config (e.g. alloydb_v1.yaml, datamigration_v1.yaml in googleapis/googleapis), which the
 * generated gax clients copy into `lroOptions.httpRules` (build/src/v1/*_client.js).
 */
const LRO_MIXINS: Record<string, { rpc: string; verb: string; template: string; body?: string }[]> = {
  alloydb: locationOperations(),
  clouddms: locationOperations(),
  serviceusage: [{ rpc: 'GetOperation', verb: 'get', template: '/v1/{name=operations/*}' }],
  resourcemanager: [{ rpc: 'GetOperation', verb: 'get', template: '/v3/{name=operations/**}' }],
};

function locationOperations() {
  return [
    { rpc: 'GetOperation', verb: 'get', template: '/v1/{name=projects/*/locations/*/operations/*}' },
    { rpc: 'ListOperations', verb: 'get', template: '/v1/{name=projects/*/locations/*}/operations' },
    { rpc: 'DeleteOperation', verb: 'delete', template: '/v1/{name=projects/*/locations/*/operations/*}' },
    {
      rpc: 'CancelOperation',
      verb: 'post',
      template: '/v1/{name=projects/*/locations/*/operations/*}:cancel',
      body: '*',
    },
  ];
}

let index: Map<string, Binding[]> | undefined;

const bucketOf = (verb: string, path: string) => `${verb.toUpperCase()} ${path.split('/')[1] ?? ''}`;

function add(idx: Map<string, Binding[]>, b: Omit<Binding, 'pattern' | 'variables' | 'specificity'>): void {
  const key = bucketOf(b.verb, b.template);
  const list = idx.get(key) ?? [];
  list.push({ ...b, ...compileTemplate(b.template) });
  idx.set(key, list);
}

/** All bindings, built once per process (after the protos are loaded). */
export function bindings(): Map<string, Binding[]> {
  if (index) return index;
  const idx = new Map<string, Binding[]>();
  for (const api of loadApis()) {
    for (const svc of api.services)
      for (const method of svc.methodsArray) {
        method.resolve();
        const requestType = method.resolvedRequestType!;
        for (const rule of rulesOf(method))
          for (const verb of VERBS)
            if (typeof rule[verb] === 'string')
              add(idx, {
                api,
                rpc: method.fullName.slice(1),
                requestType,
                verb: verb.toUpperCase(),
                template: rule[verb] as string,
                body: rule.body,
              });
      }
    for (const m of LRO_MIXINS[api.api] ?? [])
      add(idx, {
        api,
        rpc: `google.longrunning.Operations.${m.rpc}`,
        requestType: api.proto.lookupType(`google.longrunning.${m.rpc}Request`),
        verb: m.verb.toUpperCase(),
        template: m.template,
        body: m.body,
      });
  }
  for (const list of idx.values()) list.sort((a, b) => b.specificity - a.specificity);
  index = idx;
  return idx;
}

export interface Match {
  binding: Binding;
  /** Path variable values, keyed by the dotted field path they bind. */
  vars: [string, string][];
}

/** The methods whose HTTP rule matches, most specific first. */
export function matchRequest(verb: string, path: string): Match[] {
  const out: Match[] = [];
  for (const binding of bindings().get(bucketOf(verb, path)) ?? []) {
    const m = binding.pattern.exec(path);
    if (m) out.push({ binding, vars: binding.variables.map((v, i) => [v, m[i + 1]]) });
  }
  return out;
}
