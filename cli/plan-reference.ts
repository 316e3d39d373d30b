// docs/plan-reference.md, written from the plan's JSON Schema (common/plan-json-schema.ts): a
// section per object with each field's type, allowed values, default and description, so the
// reference cannot say anything the schema does not. `npm run docs:plan` writes it.
import { DURATION } from '../common/durations';
import { SECRET_REF } from '../common/plan-fields';

type Node = {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, Node>;
  required?: string[];
  items?: Node;
  additionalProperties?: Node | boolean;
  propertyNames?: Node;
  oneOf?: Node[];
  anyOf?: Node[];
};

interface Section {
  path: string;
  node: Node;
}

const anchor = (path: string) =>
  path
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
const code = (v: unknown) => `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function range(n: Node, unit = ''): string {
  const min = n.minimum ?? n.exclusiveMinimum;
  const lo = n.exclusiveMinimum !== undefined ? `> ${min}` : min !== undefined ? `${min}` : undefined;
  if (n.maximum !== undefined && n.maximum >= Number.MAX_SAFE_INTEGER) return lo === undefined ? '' : ` ≥ ${lo}`;
  if (lo !== undefined && n.maximum !== undefined && n.exclusiveMinimum === undefined)
    return ` ${lo} to ${n.maximum}${unit}`;
  return [
    lo !== undefined ? (lo.startsWith('>') ? ` ${lo}` : ` ≥ ${lo}`) : '',
    n.maximum !== undefined ? ` ≤ ${n.maximum}` : '',
  ]
    .filter(Boolean)
    .join(',');
}

/** A union member's name: the value of its discriminating `type` field. */
const variant = (n: Node) => (n.properties?.type?.const === undefined ? undefined : `type ${n.properties.type.const}`);

/** Patterns the reader knows by name. */
const NAMED_PATTERNS: Record<string, string> = {
  [DURATION.source]: 'duration, e.g. `30s`',
  [SECRET_REF.source]: 'secret reference (`env:`, `file:`, `gcpsm:`)',
};

/** The type column: what may be written, with its allowed values, and where an object is described. */
function typeOf(n: Node, path: string, sections: Section[]): string {
  if (n.const !== undefined) return code(n.const);
  if (n.enum) return `one of ${n.enum.map(code).join(', ')}`;
  if (n.oneOf ?? n.anyOf)
    return (n.oneOf ?? n.anyOf)!.map((o, i) => typeOf(o, `${path} (${variant(o) ?? i + 1})`, sections)).join(' or ');
  if (n.type === 'object' && n.properties) {
    sections.push({ path, node: n });
    return `object, see [${path}](#${anchor(path)})`;
  }
  if (n.type === 'object' && n.additionalProperties && typeof n.additionalProperties === 'object') {
    const key = n.propertyNames?.enum ? `one of ${n.propertyNames.enum.map(code).join(', ')}` : 'a name';
    return `map from ${key} to ${typeOf(n.additionalProperties, `${path}.NAME`, sections)}`;
  }
  if (n.type === 'array' && n.items) {
    const size =
      n.minItems !== undefined ? ` (at least ${n.minItems}${n.maxItems ? `, at most ${n.maxItems}` : ''})` : '';
    return `list${size} of ${typeOf(n.items, `${path}[]`, sections)}`;
  }
  if (n.type === 'integer' || n.type === 'number') return `${n.type}${range(n)}`;
  if (n.type === 'string') {
    if (n.format) return `string (${n.format})`;
    if (n.pattern) return NAMED_PATTERNS[n.pattern] ?? `string matching ${code(n.pattern)}`;
    return 'string';
  }
  return String(n.type ?? 'any');
}

function defaultOf(n: Node, required: boolean): string {
  if (required) return '**required**';
  if (n.default === undefined) return '';
  if (
    typeof n.default === 'object' &&
    n.default !== null &&
    Object.keys(n.default).length > 0 &&
    !Array.isArray(n.default)
  )
    return 'its fields’ defaults';
  return code(n.default);
}

function sectionText(section: Section): string {
  const sections: Section[] = [];
  const { path, node } = section;
  const rows = Object.entries(node.properties ?? {}).map(([name, field]) => {
    const required = node.required?.includes(name) ?? false;
    const cells = [`\`${name}\``, typeOf(field, `${path}.${name}`, sections), defaultOf(field, required)];
    return `| ${[...cells, field.description ?? ''].map(cell).join(' | ')} |`;
  });
  return [
    `<a id="${anchor(path)}"></a>`,
    '',
    `## ${path}`,
    '',
    ...(node.description ? [node.description, ''] : []),
    '| Field | Type and allowed values | Default | Description |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    // The objects inside this one follow it, depth first, so a section's parts come right after it.
    ...sections.map(sectionText),
  ].join('\n');
}

function headings(text: string): string[] {
  return [...text.matchAll(/^## (.+)$/gm)].map((m) => `- [${m[1]}](#${anchor(m[1])})`);
}

export function planReference(schema: Record<string, unknown>): string {
  const body = sectionText({ path: 'plan', node: schema as Node });
  const contents = headings(body);
  return [
    '# Plan reference',
    '',
    '<!-- Generated from the zod schema in common/plan.ts by `npm run docs:plan`; do not edit by hand. -->',
    '',
    'A plan is a YAML (or JSON) file that lists the databases to migrate and how. `dbmig plan --plan FILE` ' +
      'validates it and prints what would happen, calling nothing; `dbmig start --plan FILE` starts it.',
    '',
    'Editors that speak the YAML language server (VS Code with the YAML extension, JetBrains IDEs, Neovim) ' +
      'complete and check a plan whose first line names the schema:',
    '',
    '```yaml',
    '# yaml-language-server: $schema=../../plan.schema.json',
    '```',
    '',
    'The path is relative to the plan; `dbmig schema` prints the same schema as `plan.schema.json` at the ' +
      'root of the repository. Durations are written as a number and a unit: `500ms`, `30s`, `5m`, `24h`, `7d`. ' +
      'Secret references are `env:NAME` (an environment variable of the worker), `file:PATH` (a file the worker ' +
      'reads) or `gcpsm:NAME` (a Secret Manager secret); a plan never holds a password. Unknown keys are errors. ' +
      'A few rules span fields and are checked by `dbmig plan` rather than the schema: a gcp plan needs a `gcp` ' +
      'section and target passwords, database names and targets are unique, one instance runs one version.',
    '',
    '## Contents',
    '',
    ...contents,
    '',
    body.trimEnd(),
    '',
  ].join('\n');
}
