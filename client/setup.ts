// The custom search attributes the workflows set (common/search-attributes.ts) must exist in the
// namespace before the first workflow task, or every task fails with BadSearchAttributes and the
// migration never moves. This checks them and registers the missing ones where the operator API
// allows it; on Temporal Cloud, which refuses that API, it says which command does it instead.
import type { Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { ALL_SEARCH_ATTRIBUTES } from '../common/search-attributes';

/** The client's Connection and the worker's NativeConnection both offer these. */
export type TemporalServices = Pick<Connection, 'operatorService' | 'workflowService'>;

/** Where the services are, as far as setup needs to know. */
export interface TemporalTarget {
  namespace: string;
  address: string;
  /** An API key authenticates the connection (Temporal Cloud, usually). */
  apiKey?: boolean;
}

export interface WrongType {
  name: string;
  registered: string;
  expected: string;
}

export interface SearchAttributeCheck {
  namespace: string;
  present: string[];
  missing: { name: string; type: string }[];
  wrongType: WrongType[];
}

export interface SetupReport extends SearchAttributeCheck {
  /** Registered by this call. */
  registered: string[];
  /** Commands that register what is still missing, where dbmig may not. */
  instructions: string[];
}

const GRPC_PERMISSION_DENIED = 7;
const GRPC_UNIMPLEMENTED = 12;
const GRPC_ALREADY_EXISTS = 6;

/** The operator API is not offered to this caller (Temporal Cloud, or a role without admin rights). */
function refused(err: unknown): boolean {
  const code = (err as { code?: number } | undefined)?.code;
  return code === GRPC_PERMISSION_DENIED || code === GRPC_UNIMPLEMENTED;
}

/** "KEYWORD" -> "Keyword", the spelling the temporal CLI, tcld and the UI use. */
export function typeName(type: SearchAttributeType | string): string {
  const t = String(type).replace(/^INDEXED_VALUE_TYPE_/, '');
  return t === 'KEYWORD_LIST' ? 'KeywordList' : t.charAt(0) + t.slice(1).toLowerCase();
}

const wanted = ALL_SEARCH_ATTRIBUTES.map((k) => ({ name: k.name, type: typeName(k.type) }));

const TYPE_NAMES = new Map(
  ['TEXT', 'KEYWORD', 'INT', 'DOUBLE', 'BOOL', 'DATETIME', 'KEYWORD_LIST'].map((t) => [
    encodeSearchAttributeIndexedValueType(t as SearchAttributeType) as number,
    typeName(t),
  ]),
);

export function isTemporalCloud(target: Pick<TemporalTarget, 'address' | 'apiKey'>): boolean {
  const host = target.address.replace(/:\d+$/, '').toLowerCase();
  return host.endsWith('.tmprl.cloud') || host.endsWith('.api.temporal.io') || target.apiKey === true;
}

/**
 * Which of the project's search attributes the namespace lacks. Uses the operator API where it is
 * offered; otherwise asks visibility, which rejects a query on an attribute it does not know
 * (types cannot be checked that way).
 */
export async function checkSearchAttributes(
  services: TemporalServices,
  namespace: string,
): Promise<SearchAttributeCheck> {
  const check: SearchAttributeCheck = { namespace, present: [], missing: [], wrongType: [] };
  let registered: Map<string, string | undefined>;
  try {
    const { customAttributes } = await services.operatorService.listSearchAttributes({ namespace });
    registered = new Map(Object.entries(customAttributes ?? {}).map(([n, t]) => [n, TYPE_NAMES.get(Number(t))]));
  } catch (err) {
    if (!refused(err)) throw err;
    registered = await probeVisibility(services, namespace);
  }
  for (const w of wanted) {
    if (!registered.has(w.name)) check.missing.push(w);
    else if (registered.get(w.name) && registered.get(w.name) !== w.type)
      check.wrongType.push({ name: w.name, registered: registered.get(w.name)!, expected: w.type });
    else check.present.push(w.name);
  }
  return check;
}

async function probeVisibility(services: TemporalServices, namespace: string): Promise<Map<string, undefined>> {
  const known = new Map<string, undefined>();
  for (const { name } of wanted) {
    try {
      await services.workflowService.countWorkflowExecutions({ namespace, query: `${name} IS NOT NULL` });
      known.set(name, undefined);
    } catch (err) {
      if (!/not a valid search attribute|unknown search attribute/i.test((err as Error).message)) throw err;
    }
  }
  return known;
}

/** "search attribute X is not registered in namespace N", or undefined when none is missing. */
export function missingWhat(check: SearchAttributeCheck): string | undefined {
  if (check.missing.length === 0) return undefined;
  const names = check.missing.map((m) => m.name);
  const what = names.length === 1 ? `search attribute ${names[0]} is` : `search attributes ${names.join(', ')} are`;
  return `${what} not registered in namespace ${check.namespace}`;
}

/** One line: what is missing where, and the fix. */
export function missingMessage(check: SearchAttributeCheck): string | undefined {
  const what = missingWhat(check);
  return what && `${what}: run \`dbmig setup\``;
}

export function wrongTypeMessage(check: SearchAttributeCheck): string | undefined {
  if (check.wrongType.length === 0) return undefined;
  const w = check.wrongType[0];
  return (
    `search attribute ${w.name} is registered as ${w.registered} in namespace ${check.namespace}, ` +
    `but dbmig sets a ${w.expected}: remove it (temporal operator search-attribute remove --name ${w.name}) ` +
    'and run `dbmig setup`'
  );
}

function byType(missing: { name: string; type: string }[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const m of missing) groups.set(m.type, [...(groups.get(m.type) ?? []), m.name]);
  return groups;
}

/** How to add them on Temporal Cloud, where the operator API cannot. */
export function cloudInstructions(namespace: string, missing: { name: string; type: string }[]): string[] {
  const flags = missing.map((m) => `--search-attribute ${m.name}=${m.type}`).join(' ');
  return [
    `tcld namespace search-attributes add --namespace ${namespace} ${flags}`,
    `or in the Cloud UI (https://cloud.temporal.io): Namespaces > ${namespace} > Edit > Custom Search Attributes, ` +
      `add ${missing.map((m) => `${m.name} (${m.type})`).join(', ')}`,
  ];
}

/** What an operator with admin rights on a self-hosted cluster runs. */
export function operatorInstructions(namespace: string, missing: { name: string; type: string }[]): string[] {
  return [...byType(missing)].map(
    ([type, names]) =>
      `temporal operator search-attribute create --namespace ${namespace} ` +
      `${names.map((n) => `--name ${n}`).join(' ')} --type ${type}`,
  );
}

/**
 * Registers the missing search attributes where the operator API allows it (dev server,
 * self-hosted with admin rights); idempotent. Never changes one registered with another type.
 */
export async function setupSearchAttributes(services: TemporalServices, target: TemporalTarget): Promise<SetupReport> {
  const { namespace } = target;
  const check = await checkSearchAttributes(services, namespace);
  const report: SetupReport = { ...check, registered: [], instructions: [] };
  if (check.missing.length === 0) return report;
  if (isTemporalCloud(target)) return { ...report, instructions: cloudInstructions(namespace, check.missing) };
  try {
    await services.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        ALL_SEARCH_ATTRIBUTES.filter((k) => check.missing.some((m) => m.name === k.name)).map((k) => [
          k.name,
          encodeSearchAttributeIndexedValueType(k.type)!,
        ]),
      ),
    });
  } catch (err) {
    if (refused(err)) return { ...report, instructions: operatorInstructions(namespace, check.missing) };
    // Another worker or setup registered them meanwhile: what counts is what is there now.
    if ((err as { code?: number }).code !== GRPC_ALREADY_EXISTS) throw err;
  }
  const after = await checkSearchAttributes(services, namespace);
  const registered = check.missing.map((m) => m.name).filter((n) => after.present.includes(n));
  return {
    ...after,
    registered,
    instructions: after.missing.length ? operatorInstructions(namespace, after.missing) : [],
  };
}
