// The docs a newcomer walks stay walkable: every relative link in README.md and docs/*.md reaches a
// file (and, for a markdown file, a heading) that exists, the README stays a front door rather than
// a manual, and no source file cites a design document that is not in the repository.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(__dirname, '..');
const README_MAX_LINES = 260;

const docFiles = (): string[] => [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Markdown without code: links inside fences or backticks are examples, not links. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/** The targets of inline links and images, `[text](target)` and `![alt](target)`. */
export function linkTargets(markdown: string): string[] {
  return [...prose(markdown).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]);
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Headings' anchors, and explicit `<a id="...">` ones (GitHub keeps those; the plan reference uses them). */
function anchors(markdown: string): Set<string> {
  const noFences = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return new Set([
    ...[...noFences.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1])),
    ...[...noFences.matchAll(/<a id="([^"]+)"><\/a>/g)].map((m) => m[1]),
  ]);
}

const isExternal = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target);

test('the link checker reads links and anchors as GitHub does', () => {
  const md = 'see [a](docs/a.md#the-b) and ![i](x.png)\n```\n[not](a link)\n```\n`[nor](this)` [web](https://x.y)';
  assert.deepEqual(linkTargets(md), ['docs/a.md#the-b', 'x.png', 'https://x.y']);
  assert.equal(slug('Pre-flight: `dbmig gcp check`'), 'pre-flight-dbmig-gcp-check');
  assert.equal(slug('NEEDS_ATTENTION'), 'needs_attention');
});

test('every relative link in README.md and docs/*.md resolves', () => {
  const broken: string[] = [];
  for (const file of docFiles()) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const target of linkTargets(text)) {
      if (isExternal(target)) continue;
      const [path, anchor] = target.split('#');
      const abs = path ? resolve(ROOT, dirname(file), decodeURIComponent(path)) : join(ROOT, file);
      const rel = relative(ROOT, abs);
      if (!existsSync(abs)) {
        broken.push(`${file}: ${target} (no ${rel})`);
        continue;
      }
      if (anchor && abs.endsWith('.md') && !anchors(readFileSync(abs, 'utf8')).has(anchor))
        broken.push(`${file}: ${target} (no heading #${anchor} in ${rel})`);
    }
  }
  assert.deepEqual(broken, [], `broken links:\n${broken.join('\n')}`);
});

test(`README.md is a front door: at most ${README_MAX_LINES} lines`, () => {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').length;
  assert.ok(lines <= README_MAX_LINES, `README.md has ${lines} lines; move detail into docs/`);
});

const SKIP_DIRS = new Set(['node_modules', '.git', '.tools', 'dist']);
const SOURCE = /\.(ts|mjs|js|json|ya?ml|sh|md)$|^Dockerfile$|^run$|^install-/;

function* sourceFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name) || name.startsWith('.local-platform')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (SOURCE.test(name)) yield path;
  }
}

test('no file cites a design document that is not in the repository', () => {
  const missing = ['DESIGN', 'md'].join('.'); // spelled so that this file does not cite it
  assert.ok(!existsSync(join(ROOT, missing)));
  const citing = [...sourceFiles(ROOT)]
    .filter((f) => f !== __filename && readFileSync(f, 'utf8').includes(missing))
    .map((f) => relative(ROOT, f));
  assert.deepEqual(citing, [], `cite docs/architecture.md instead of ${missing} in: ${citing.join(', ')}`);
});
