// Reads a plan from YAML or JSON (YAML is a superset, so one parser serves both) and reports what is
// wrong with it the way compilers do: one problem per line, file:line:column: field: message, so
// an editor or a terminal can jump to it.
import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { InvalidPlanError, validatePlan, type Plan } from '../common/plan';
import type { PlanPath } from '../common/plan-issues';

/** A plan that cannot be read or is invalid: bad input, so the CLI exits 2. */
export class PlanError extends Error {
  readonly exitCode = 2;
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'PlanError';
  }
}

interface Parsed {
  doc: Document.Parsed;
  lines: LineCounter;
}

function parse(path: string): Parsed {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PlanError([`${path}: cannot read the plan${code === 'ENOENT' ? ': no such file' : `: ${code}`}`]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  if (doc.errors.length)
    throw new PlanError(
      doc.errors.map((e) => {
        const at = e.linePos?.[0] ?? { line: 1, col: 1 };
        // The first line of yaml's message is the message; the rest is a picture of the line.
        return `${path}:${at.line}:${at.col}: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`;
      }),
    );
  return { doc, lines };
}

/**
 * The node the path names, for a missing key the nearest node that exists; for the last key, its
 * key when `atKey` (an unknown key is the key's fault), else its value.
 */
function nodeAt(doc: Document.Parsed, path: PlanPath, atKey: boolean): Node | undefined {
  let node: unknown = doc.contents;
  for (const [i, part] of path.entries()) {
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(part));
      if (!pair) return node;
      node = last && atKey ? pair.key : (pair.value ?? pair.key);
    } else if (isSeq(node) && typeof part === 'number' && node.items[part]) node = node.items[part];
    else return node as Node | undefined;
  }
  return node as Node | undefined;
}

function position(parsed: Parsed, path: PlanPath, atKey: boolean): { line: number; col: number } {
  return parsed.lines.linePos(nodeAt(parsed.doc, path, atKey)?.range?.[0] ?? 0);
}

/** The plan as written (what a workflow is started with), and validated. Throws PlanError. */
export function loadPlan(path: string): { raw: unknown; plan: Plan } {
  const parsed = parse(path);
  const raw = parsed.doc.toJS();
  try {
    return { raw, plan: validatePlan(raw) };
  } catch (err) {
    if (!(err instanceof InvalidPlanError)) throw err;
    const located = err.issues.map((i) => {
      const { line, col } = position(parsed, i.path, i.message.startsWith('unknown key'));
      return { line, col, text: `${path}:${line}:${col}: ${i.field}: ${i.message}` };
    });
    located.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new PlanError(located.map((l) => l.text));
  }
}

/** The plan as written, unvalidated (the workflow validates it again). Throws PlanError. */
export function readPlanFile(path: string): unknown {
  return parse(path).doc.toJS();
}
