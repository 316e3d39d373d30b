// The health check after a cutover (activity): while reverse replication keeps a rollback possible,
// it reads the plan's check (a Prometheus query or an HTTP endpoint the application exposes) every
// `every`, and returns only when a breach has held for `for` (every reading since breaching) or the
// window has ended. Each reading travels in heartbeat details, never in the history (safety rule 4);
// a retry resumes the breach it was timing from the last heartbeat. The URL may be a secret's: no
// message here names it (safety rule 8).
import { Context } from '@temporalio/activity';
import { describeHealthCheck, type HealthCheckSettings } from '../common/health-check-plan';
import { resolveSecret } from './secrets';
import type { DatabaseTask } from './steps';

/** What the watch returns: a breach held long enough, or the window's end. */
export interface HealthVerdict {
  breached: boolean;
  /** Why, in words for the status and the notification (no URL). */
  reason: string;
}

/** One reading: a breach, healthy, or nothing could be read (never counts towards a breach). */
export interface HealthReading {
  breach: boolean | undefined;
  detail: string;
}

interface HealthProgress {
  /** When the breach being timed began (ms); undefined while healthy. */
  since?: number;
  last?: string;
  at: string;
}

const READ_TIMEOUT_MS = 5_000;

export async function watchHealth(
  _task: DatabaseTask,
  check: HealthCheckSettings,
  until: string,
): Promise<HealthVerdict> {
  const ctx = Context.current();
  const p: HealthProgress = (ctx.info.heartbeatDetails as HealthProgress | undefined) ?? {
    at: new Date().toISOString(),
  };
  const end = Date.parse(until);
  const url = await urlOf(check);
  const beat = setInterval(() => ctx.heartbeat(p), 5_000);
  try {
    for (;;) {
      const now = Date.now();
      if (now >= end) return { breached: false, reason: `the window ended at ${until} without a breach` };
      const r = await readHealth(check, url);
      p.last = r.detail;
      p.at = new Date().toISOString();
      if (r.breach === true) p.since ??= now;
      else if (r.breach === false) p.since = undefined;
      else p.since = undefined; // no reading: never roll back on what cannot be seen
      ctx.heartbeat(p);
      if (p.since !== undefined && now - p.since >= check.forMs)
        return {
          breached: true,
          reason:
            `health check breached for ${Math.round((now - p.since) / 1000)}s (${describeHealthCheck(check)}): ` +
            `${r.detail}, since ${new Date(p.since).toISOString()}`,
        };
      await ctx.sleep(Math.min(check.everyMs, Math.max(end - Date.now(), 0)));
    }
  } finally {
    clearInterval(beat);
  }
}

async function urlOf(check: HealthCheckSettings): Promise<string> {
  const e = check.prometheus ?? check.http!;
  return e.urlRef ? resolveSecret(e.urlRef) : e.url!;
}

/** One reading of the check; exported for its unit test. */
export async function readHealth(check: HealthCheckSettings, url: string): Promise<HealthReading> {
  if (check.prometheus) {
    const q = new URL('api/v1/query', url.endsWith('/') ? url : `${url}/`);
    q.searchParams.set('query', check.prometheus.query);
    const got = await get(q.toString());
    if ('error' in got) return { breach: undefined, detail: `prometheus not read: ${got.error}` };
    const values = promValues(got.body);
    if (values === undefined) return { breach: undefined, detail: `prometheus answered ${got.status} with no value` };
    if (!values.length) return { breach: undefined, detail: 'the query returned no samples' };
    const breaching = values.filter((v) => crosses(check, v));
    const shown = values.slice(0, 5).join(', ');
    return { breach: breaching.length === values.length, detail: `query value ${shown}` };
  }
  const h = check.http!;
  const expect = h.expectStatus ?? 200;
  const got = await get(url);
  if ('error' in got) return { breach: true, detail: `the application did not answer: ${got.error}` };
  if (got.status !== expect) return { breach: true, detail: `the application answered ${got.status}, not ${expect}` };
  if (!h.jsonPath) return { breach: false, detail: `the application answered ${got.status}` };
  const v = Number(at(safeJson(got.body), h.jsonPath));
  if (!Number.isFinite(v)) return { breach: undefined, detail: `no number at ${h.jsonPath}` };
  return { breach: crosses(check, v), detail: `${h.jsonPath} = ${v}` };
}

function crosses(check: HealthCheckSettings, v: number): boolean {
  if (check.above !== undefined) return v > check.above;
  if (check.below !== undefined) return v < check.below;
  return false;
}

async function get(url: string): Promise<{ status: number; body: string } | { error: string }> {
  try {
    // fetch refuses a URL with credentials in it: they travel as Basic authorization instead.
    const u = new URL(url);
    const headers: Record<string, string> = {};
    if (u.username || u.password) {
      const user = decodeURIComponent(u.username);
      const pass = decodeURIComponent(u.password);
      headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
      u.username = '';
      u.password = '';
    }
    const res = await fetch(u, { headers, signal: AbortSignal.timeout(READ_TIMEOUT_MS), redirect: 'error' });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    // The message of a fetch error can hold the URL: only its code is told.
    const e = err as { name?: string; cause?: { code?: string } };
    return { error: e.cause?.code ?? (e.name === 'TimeoutError' ? 'timed out' : 'request failed') };
  }
}

/** The values of a Prometheus instant query: a scalar, or every sample of a vector. */
function promValues(body: string): number[] | undefined {
  const j = safeJson(body) as { status?: string; data?: { resultType?: string; result?: unknown } } | undefined;
  if (j?.status !== 'success' || !j.data) return undefined;
  const { resultType, result } = j.data;
  if (resultType === 'scalar') return [Number((result as [number, string])[1])].filter(Number.isFinite);
  if (resultType === 'vector')
    return (result as { value: [number, string] }[]).map((s) => Number(s.value[1])).filter(Number.isFinite);
  return undefined;
}

function safeJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

function at(v: unknown, path: string): unknown {
  for (const part of path.match(/[A-Za-z_][A-Za-z0-9_]*|\d+/g) ?? []) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}
