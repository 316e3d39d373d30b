// One least-squares line for the two places that fit one: a lag's trend over time (anomaly.ts) and
// a step's time over the bytes it copied (forecast-calibration.ts). Pure, so workflow code may use it.

/** The line's slope (y per unit of x) and R²; null under `minPoints` points or when x does not vary. */
export function linearFit(
  points: readonly { x: number; y: number }[],
  minPoints = 3,
): { slope: number; r2: number } | null {
  if (points.length < minPoints || points.length === 0) return null;
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (const p of points) {
    sxy += (p.x - mx) * (p.y - my);
    sxx += (p.x - mx) ** 2;
    syy += (p.y - my) ** 2;
  }
  if (sxx === 0) return null;
  // A flat series is explained perfectly by a flat line: R² 1 with slope 0.
  return { slope: sxy / sxx, r2: syy === 0 ? 1 : (sxy * sxy) / (sxx * syy) };
}
