// Durations in plans are human strings ("90s", "5m", "24h"); workflows need milliseconds.
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration as a plan writes it: a number and a unit. The plan's schema checks it with this too. */
export const DURATION = /^\d+(\.\d+)?(ms|s|m|h|d)$/;

export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  const m = DURATION.exec(t);
  if (!m) return undefined;
  return Math.round(parseFloat(t) * UNITS[m[2]]);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${Math.round(s - m * 60)}s`;
}
