// The PromQL the deployment files hold (every dashboard's panel and variable queries, every alert's
// expr) and the metric names a query reads, for the tests that hold them to what the worker exports.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const DEPLOY = join(__dirname, '..', '..', 'deploy');

/** PromQL words that are not metric names (operators and modifiers written as words). */
const WORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const WORDS_TOO = new Set(['offset', 'bool', 'inf', 'nan', 'atan2']);

/**
 * The metric names `query` reads: identifiers that are not a function call, a keyword, a label
 * (inside {…} or a by/without/on/ignoring/group_* list), a string, a duration or a number.
 * Grafana's `label_values(metric, label)` reads `metric`.
 */
export function metricNames(query: string): string[] {
  const s = query
    .replace(/\blabel_values\(\s*([^,()]+?)\s*,\s*\w+\s*\)/g, ' $1 ')
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const m of s.matchAll(/(?<![\w.$])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const word = m[1].toLowerCase();
    if (m[2] || WORDS.has(word) || WORDS_TOO.has(word)) continue;
    names.push(m[1]);
  }
  return [...new Set(names)];
}

interface Panel {
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Every query of every dashboard in deploy/grafana/dashboards: panels (rows included) and variables. */
export function dashboardQueries(): string[] {
  const dir = join(DEPLOY, 'grafana', 'dashboards');
  const out: string[] = [];
  const walk = (panels: Panel[] = []) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push(t.expr);
      walk(p.panels);
    }
  };
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const d = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    walk(d.panels);
    for (const v of d.templating?.list ?? []) {
      const q = typeof v.query === 'string' ? v.query : v.query?.query;
      if (v.type === 'query' && q) out.push(q);
    }
  }
  return out;
}

/** Every alert's (and recording rule's) expr in deploy/prometheus/alerts.yml, by rule name. */
export function alertExprs(): { name: string; expr: string }[] {
  const doc = parse(readFileSync(join(DEPLOY, 'prometheus', 'alerts.yml'), 'utf8'));
  return doc.groups.flatMap((g: { rules: { alert?: string; record?: string; expr: string }[] }) =>
    g.rules.map((r) => ({ name: r.alert ?? r.record ?? '?', expr: r.expr })),
  );
}
