// One reading of the health check (activities/health-watch.ts readHealth) against real HTTP servers:
// what is a breach, what is healthy, and what is no reading at all (which never counts towards a
// rollback); and that no reading's words name the URL, which may be a secret's.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { readHealth } from '../activities/health-watch';
import type { HealthCheckSettings } from '../common/health-check-plan';

let server: Server;
let base: string;
/** What the server answers next, by path. */
const answers = new Map<string, { status: number; body: unknown }>();

before(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const a = answers.get(path) ?? { status: 404, body: {} };
    res.writeHead(a.status, { 'content-type': 'application/json' });
    res.end(typeof a.body === 'string' ? a.body : JSON.stringify(a.body));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => server.close());

/** A URL nothing listens at (a port just closed; fetch refuses the well-known ones like 1). */
async function closedPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', () => ok()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((ok) => s.close(() => ok()));
  return `http://127.0.0.1:${port}`;
}

const http = (extra: Partial<HealthCheckSettings> = {}, jsonPath?: string): HealthCheckSettings => ({
  http: { url: 'unused', ...(jsonPath ? { jsonPath } : {}) },
  forMs: 1_000,
  everyMs: 500,
  ...extra,
});
const prom: HealthCheckSettings = { prometheus: { query: 'up' }, above: 0.05, forMs: 1_000, everyMs: 500 };
const vector = (...values: string[]) => ({
  status: 'success',
  data: { resultType: 'vector', result: values.map((v) => ({ metric: {}, value: [1, v] })) },
});

test('http: the expected status is healthy, any other status or no answer is a breach', async () => {
  answers.set('/ok', { status: 200, body: {} });
  answers.set('/down', { status: 503, body: {} });
  assert.deepEqual(await readHealth(http(), `${base}/ok`), { breach: false, detail: 'the application answered 200' });
  assert.equal((await readHealth(http(), `${base}/down`)).breach, true);
  const gone = await readHealth(http(), `${await closedPort()}/health`);
  assert.equal(gone.breach, true);
  assert.match(gone.detail, /did not answer: ECONNREFUSED/);
  assert.doesNotMatch(gone.detail, /127\.0\.0\.1/, 'the URL is not told');
});

test('http jsonPath: the number at the path against the threshold; no number is no reading', async () => {
  answers.set('/stats', { status: 200, body: { checks: [{ errorRate: 0.2 }] } });
  const check = http({ above: 0.1 }, 'checks[0].errorRate');
  assert.deepEqual(await readHealth(check, `${base}/stats`), { breach: true, detail: 'checks[0].errorRate = 0.2' });
  assert.equal((await readHealth(http({ above: 0.5 }, 'checks[0].errorRate'), `${base}/stats`)).breach, false);
  assert.equal((await readHealth(http({ above: 0.1 }, 'checks[1].errorRate'), `${base}/stats`)).breach, undefined);
});

test('prometheus: a vector breaches only when every sample does; empty or failed is no reading', async () => {
  answers.set('/all/api/v1/query', { status: 200, body: vector('0.2', '0.3') });
  answers.set('/some/api/v1/query', { status: 200, body: vector('0.2', '0.01') });
  answers.set('/none/api/v1/query', { status: 200, body: vector() });
  answers.set('/scalar/api/v1/query', {
    status: 200,
    body: { status: 'success', data: { resultType: 'scalar', result: [1, '0.01'] } },
  });
  answers.set('/bad/api/v1/query', { status: 400, body: { status: 'error', error: 'parse error' } });
  assert.equal((await readHealth(prom, `${base}/all`)).breach, true);
  assert.equal((await readHealth(prom, `${base}/some/`)).breach, false);
  assert.equal((await readHealth(prom, `${base}/none`)).breach, undefined);
  assert.equal((await readHealth(prom, `${base}/scalar`)).breach, false);
  assert.equal((await readHealth(prom, `${base}/bad`)).breach, undefined);
  assert.equal(
    (await readHealth(prom, 'http://127.0.0.1:1')).breach,
    undefined,
    'an unreachable Prometheus is no reading',
  );
});
