// Tables that fit a terminal: the widest columns wrap, at spaces and then after / , _ or -, so
// a row of resource names and details stays readable at 120 columns instead of running to 600.
import { table } from './format';

/** The width `dbmig plan` keeps to unless --wide: a terminal's common width. */
export const TERMINAL_COLUMNS = 120;

/** Breaks one word longer than `width`, preferring a place just after a separator. */
function breakWord(word: string, width: number): string[] {
  const parts: string[] = [];
  let rest = word;
  while (rest.length > width) {
    const head = rest.slice(0, width);
    const at = Math.max(...['/', ',', '_', '-', '.'].map((c) => head.lastIndexOf(c)));
    const cut = at >= width / 2 ? at + 1 : width;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  return [...parts, rest];
}

/** The text in lines of at most `width` characters. */
export function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ').flatMap((w) => breakWord(w, width))) {
    if (!line) line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  return [...lines, line];
}

export interface FitOptions {
  max?: number;
  /** The columns that may wrap (default all): a number and its unit read badly on two lines. */
  wrap?: number[];
}

/** Like table(), but no wider than `max`: the widest columns give way first and their cells wrap. */
export function fitTable(headers: string[], rows: string[][], opts: FitOptions = {}): string {
  const max = opts.max ?? TERMINAL_COLUMNS;
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const floor = widths.map((w, i) =>
    opts.wrap && !opts.wrap.includes(i) ? w : Math.max(headers[i].length, Math.min(w, 12)),
  );
  const total = () => widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
  if (total() <= max) return table(headers, rows);
  while (total() > max) {
    let widest = -1;
    widths.forEach((w, i) => {
      if (w > floor[i] && (widest < 0 || w > widths[widest])) widest = i;
    });
    if (widest < 0) break;
    widths[widest]--;
  }
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  const out = [line(headers), line(widths.map((w) => '-'.repeat(w)))];
  for (const row of rows) {
    const cells = widths.map((w, i) => wrapText(row[i] ?? '', w));
    const height = Math.max(...cells.map((c) => c.length));
    for (let k = 0; k < height; k++) out.push(line(cells.map((c) => c[k] ?? '')));
  }
  return out.join('\n');
}
