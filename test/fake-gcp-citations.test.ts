// Rule 7: the fake of Google's APIs enforces Google's published definitions, and every rule it
// writes by hand names the page (or proto, or discovery document) it follows, so a reader can check
// the rule against Google and a rule Google does not publish has nowhere to hide.
//
// A rule is any refusal the fake makes, in any of the forms the fake uses (found in its syntax
// tree, not by text):
// - a `throw` (of an ApiError, a factory's result, anything), except `throw new Error('fake: …')`:
//   the fake's own faults (a missing definition file, a test misusing it), answered as a 500
//   "fake: internal error", never as a Google answer;
// - `new ApiError(…)`, `ApiError.of(…)`, `ApiError.invalid(…)` wherever they appear (also when
//   passed to the server's `fail(…)` or returned);
// - a field violation: `<list>.push({ …, description })` (schema checks, answered as 400);
// - a failure written as data: a reply `{ status: 409, … }`, an operation's `{ error: '…' }`;
// - a call of a factory: a function whose whole body is one of the above (`const bad = (m) => new
//   ApiError(400, m)`, `function invalid(ctx, …) { ctx.violations.push({…}) }`, a factory calling a
//   factory). The factory's own body is not a rule; each call of it is.
// A rule is cited when a citation is in a comment directly above its statement (no blank line
// between), inside the statement, directly above a statement enclosing it in the same function,
// or in the doc comment of the nearest enclosing function (for an arrow or function expression:
// the comment above the statement that holds it, e.g. the `f.route(…)` a handler is passed to).
// A citation is a Google doc URL, a .proto path, or a committed discovery document (CITATION).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

const FAKE = path.join(__dirname, 'fakes', 'gcp');

/** Google's doc sites, a proto file, or a discovery document committed under definitions/. */
const CITATION = new RegExp(
  [
    String.raw`https://(cloud\.google\.com|google\.aip\.dev|developers\.google\.com|protobuf\.dev)/\S+`,
    String.raw`[\w./-]+\.proto\b`,
    String.raw`\b[a-z]+-v\d+\.json\b`,
  ].join('|'),
);

/**
 * Files another helper is citing in parallel (issue 20, item 5): their rules are skipped here, and
 * listed in this test's output, until the lead merges their branches and empties this list. Not an
 * exemption: a file leaves the list once cited, and nothing new may be added to it.
 */
const PENDING: string[] = [];

export interface Rule {
  line: number;
  text: string;
  cited: boolean;
}

const isFunction = (n: ts.Node): n is ts.FunctionLikeDeclaration =>
  ts.isArrowFunction(n) || ts.isFunctionExpression(n) || ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n);

const unwrap = (e: ts.Expression): ts.Expression =>
  ts.isParenthesizedExpression(e) || ts.isVoidExpression(e) ? unwrap(e.expression) : e;

/** The name a function is called by: its declaration's, or the variable's it is assigned to. */
function nameOf(fn: ts.FunctionLikeDeclaration): string | undefined {
  if ((ts.isFunctionDeclaration(fn) || ts.isMethodDeclaration(fn)) && fn.name) return fn.name.getText();
  if (ts.isVariableDeclaration(fn.parent) && ts.isIdentifier(fn.parent.name)) return fn.parent.name.text;
  return undefined;
}

/** The expression a function's whole body is, when it is one: `=> e`, `{ return e; }`, `{ e; }`. */
function bodyExpression(fn: ts.FunctionLikeDeclaration): ts.Expression | undefined {
  const body = fn.body;
  if (!body) return undefined;
  if (!ts.isBlock(body)) return unwrap(body);
  if (body.statements.length !== 1) return undefined;
  const only = body.statements[0];
  if (ts.isReturnStatement(only) && only.expression) return unwrap(only.expression);
  if (ts.isExpressionStatement(only)) return unwrap(only.expression);
  return undefined;
}

/** The statements of a function that are not rules but the fake's own faults (see the file comment). */
const ownFault = (n: ts.ThrowStatement) =>
  ts.isNewExpression(n.expression) &&
  n.expression.expression.getText() === 'Error' &&
  /^[`'"]fake: /.test(n.expression.arguments?.[0]?.getText() ?? '');

/**
 * A failure written as data: a reply `{ status: 4xx/5xx, … }` built by hand, or an operation
 * that fails, `{ error: 'text' }` (a long-running operation's error, as a DMS action returns it).
 */
function failsByHand(o: ts.ObjectLiteralExpression): boolean {
  return o.properties.some((p) => {
    if (!ts.isPropertyAssignment(p)) return false;
    const name = p.name.getText();
    const v = p.initializer;
    if (name === 'status') return ts.isNumericLiteral(v) && Number(v.text) >= 400;
    return (
      name === 'error' && (ts.isStringLiteral(v) || ts.isTemplateExpression(v) || ts.isNoSubstitutionTemplateLiteral(v))
    );
  });
}

/** The rules in one file's source text, each with its line and whether it is cited. */
export function rulesIn(fileName: string, text: string): Rule[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const factories = new Set<string>(['of', 'invalid']);
  const all: ts.Node[] = [];
  (function walk(n: ts.Node) {
    all.push(n);
    n.forEachChild(walk);
  })(sf);
  const calledName = (c: ts.CallExpression) => {
    const callee = c.expression;
    if (ts.isIdentifier(callee)) return callee.text;
    return ts.isPropertyAccessExpression(callee) ? callee.name.text : undefined;
  };
  const isRefusal = (n: ts.Node): boolean => {
    if (ts.isNewExpression(n)) return n.expression.getText() === 'ApiError';
    if (ts.isObjectLiteralExpression(n)) return failsByHand(n);
    if (!ts.isCallExpression(n)) return false;
    const callee = n.expression;
    if (ts.isPropertyAccessExpression(callee) && callee.expression.getText() === 'ApiError')
      return ['of', 'invalid'].includes(callee.name.text);
    if (ts.isPropertyAccessExpression(callee) && callee.name.text === 'push') {
      const arg = n.arguments[0];
      return (
        !!arg && ts.isObjectLiteralExpression(arg) && arg.properties.some((p) => p.name?.getText() === 'description')
      );
    }
    const name = calledName(n);
    return !!name && factories.has(name) && !ts.isPropertyAccessExpression(callee);
  };
  // Factories, to a fixed point: a factory may call a factory.
  for (let grew = true; grew;) {
    grew = false;
    for (const n of all)
      if (isFunction(n)) {
        const name = nameOf(n);
        const e = bodyExpression(n);
        if (name && e && !factories.has(name) && isRefusal(e)) {
          factories.add(name);
          grew = true;
        }
      }
  }
  const enclosingFunction = (n: ts.Node) => {
    for (let p = n.parent; p; p = p.parent) if (isFunction(p)) return p;
    return undefined;
  };
  // A factory's body is not a rule: its calls are.
  const inFactoryBody = (n: ts.Node) => {
    const fn = enclosingFunction(n);
    return !!fn && factories.has(nameOf(fn) ?? '') && bodyExpression(fn) === unwrap(n as ts.Expression);
  };
  const statementOf = (n: ts.Node): ts.Node => {
    let s: ts.Node = n;
    while (!ts.isStatement(s) && !ts.isClassElement(s) && s.parent && !ts.isSourceFile(s.parent)) s = s.parent;
    return s;
  };
  /** The comments directly above `n`: those with no blank line between them and `n`. */
  const commentsAbove = (n: ts.Node): string => {
    const ranges = ts.getLeadingCommentRanges(text, n.pos) ?? [];
    const kept: string[] = [];
    let next = n.getStart(sf);
    for (const r of [...ranges].reverse()) {
      if (/\n[ \t]*\r?\n/.test(text.slice(r.end, next))) break;
      kept.unshift(text.slice(r.pos, r.end));
      next = r.pos;
    }
    return kept.join('\n');
  };
  /** The doc comment of a function: above it, or above the statement an anonymous one is in. */
  const docOf = (fn: ts.FunctionLikeDeclaration): string => {
    if (ts.isFunctionDeclaration(fn) || ts.isMethodDeclaration(fn)) return commentsAbove(fn);
    let holder: ts.Node = fn;
    while (holder.parent && !ts.isStatement(holder) && !ts.isPropertyAssignment(holder)) holder = holder.parent;
    return commentsAbove(holder);
  };
  const rules = new Map<ts.Node, Rule>();
  for (const n of all) {
    const rule =
      (ts.isThrowStatement(n) && !ownFault(n)) || (isRefusal(n) && !inFactoryBody(n) && !ts.isThrowStatement(n.parent));
    if (!rule) continue;
    const statement = ts.isThrowStatement(n) ? n : statementOf(n);
    if (rules.has(statement)) continue;
    const fn = enclosingFunction(statement);
    const said = [commentsAbove(statement), statement.getText(sf), fn ? docOf(fn) : ''];
    for (let p = statement.parent; p && p !== fn; p = p.parent) if (ts.isStatement(p)) said.push(commentsAbove(p));
    const { line } = sf.getLineAndCharacterOfPosition(statement.getStart(sf));
    rules.set(statement, {
      line: line + 1,
      text: statement.getText(sf).split('\n')[0].trim(),
      cited: said.some((s) => CITATION.test(s)),
    });
  }
  return [...rules.values()].sort((a, b) => a.line - b.line);
}

function fakeFiles(dir = FAKE): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? fakeFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
    );
}

test('every hand-written rule of the gcp fake names the Google definition it follows', (t) => {
  const uncited: string[] = [];
  const pending: string[] = [];
  let checked = 0;
  const files = fakeFiles();
  const present = new Set(files.map((f) => path.relative(FAKE, f).split(path.sep).join('/')));
  for (const rel of PENDING.filter((p) => !present.has(p))) pending.push(`${rel} (not in this tree yet)`);
  for (const file of files) {
    const rel = path.relative(FAKE, file).split(path.sep).join('/');
    const rules = rulesIn(file, fs.readFileSync(file, 'utf8'));
    if (PENDING.includes(rel)) {
      pending.push(`${rel} (${rules.filter((r) => !r.cited).length} of ${rules.length} uncited)`);
      continue;
    }
    checked += rules.length;
    for (const r of rules.filter((x) => !x.cited))
      uncited.push(`test/fakes/gcp/${rel}:${r.line}: ${r.text.slice(0, 100)}`);
  }
  t.diagnostic(`${checked} rules checked; pending (cited by their owners, skipped): ${pending.join(', ') || 'none'}`);
  assert.ok(checked > 0, 'the scan found rules');
  assert.deepEqual(uncited, [], `rules without a citation:\n${uncited.join('\n')}`);
});

// The check itself, on a small sample: what it must report and what it must accept.
const SAMPLE = `import { ApiError } from './server';
const bad = (m: string) => new ApiError(400, m);
function invalid(out: { field: string; description: string }[], field: string): void {
  out.push({ field, description: 'invalid' });
}

export function routes(f: any, out: any[]): void {
  // https://cloud.google.com/sql/docs/mysql/admin-api/rest/v1/instances/insert
  if (f.a) throw new ApiError(409, 'exists');
  if (f.b) throw bad('uncited throw');

  // A comment that cites nothing, after a citation separated by a blank line:
  // https://cloud.google.com/not-directly-above

  if (f.c) throw ApiError.of('FAILED_PRECONDITION', 'uncited');
  invalid(out, 'x');
  // google/cloud/clouddms/v1/clouddms.proto MigrationJob
  invalid(out, 'y');
  if (f.d) throw new Error('fake: definitions missing');
  if (f.e) throw new Error('a refusal in disguise');
  f.route('GET', /x/, 'x.get', () => {
    if (f.g) throw ApiError.invalid('g', 'uncited in a handler');
    if (f.i) return { status: 409, body: 'an uncited reply by hand' };
    return { error: 'an uncited operation failure' };
  });
  /** Handler per https://google.aip.dev/131 */
  f.route('GET', /y/, 'y.get', () => {
    if (f.h) throw ApiError.invalid('h', 'cited by the doc comment above f.route');
  });
}
`;

test('the check reports an uncited rule by file and line, in every form the fake uses', () => {
  const rules = rulesIn('sample.ts', SAMPLE);
  const lines = SAMPLE.split('\n');
  const at = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
  assert.deepEqual(
    rules.filter((r) => !r.cited).map((r) => r.line),
    [
      at("throw bad('uncited throw')"),
      at("ApiError.of('FAILED_PRECONDITION'"),
      at("invalid(out, 'x')"),
      at('a refusal in disguise'),
      at('uncited in a handler'),
      at('an uncited reply by hand'),
      at('an uncited operation failure'),
    ],
  );
  assert.deepEqual(
    rules.filter((r) => r.cited).map((r) => r.line),
    [at("new ApiError(409, 'exists')"), at("invalid(out, 'y')"), at('cited by the doc comment')],
  );
  // Factories' own bodies are not rules, and the fake's own faults are not refusals.
  for (const body of ['new ApiError(400, m)', "description: 'invalid'", 'fake: definitions missing'])
    assert.ok(!rules.some((r) => r.line === at(body)), `${body} is not a rule`);
});
