// Rollback on a broken promise, end to end on the local platform (real PostgreSQL clusters, a real
// Temporal dev server): after the cutover, while reverse replication keeps a rollback possible, the
// plan's health check is read by one long-running activity.
//   - An HTTP endpoint the "application" exposes (behind a URL with credentials: a secret reference)
//     turns unhealthy after the cutover: the database rolls back by the path `dbmig rollback` takes,
//     the writes made on the target are back on the source (counted), the health-rollback webhook
//     arrives, and the status says why; the watch scheduled one activity however many readings it
//     made, and the URL's password is nowhere in the history.
//   - A Prometheus query that stays under its threshold: nothing rolls back, the window ends and the
//     database is finalized.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { childWorkflowId } from '../common/naming';
import { type PlanInput } from '../common/plan';
import { withClient, type ConnectionParams } from '../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../activities/platforms/local/clusters';
import { planFor, type SourceDb } from './fixtures/fleet';
import { createHarness, eventually, SOURCE_PASSWORD_ENV, type Harness } from './helpers/harness';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/receivers';

const BREACH: SourceDb = { name: 'promise_broken', rows: 2_000, priority: 'high', sizeGb: 1 };
const HEALTHY: SourceDb = { name: 'promise_kept', rows: 2_000, priority: 'high', sizeGb: 1 };
const ENV = {
  health: 'DBMIG_TEST_HEALTH_URL',
  hookUrl: 'DBMIG_TEST_PROMISE_HOOK_URL',
  hookSecret: 'DBMIG_TEST_PROMISE_HOOK_SECRET',
};
const TOKEN = 's3cret-health-token';
const FOR_MS = 3_000;
const EVERY_MS = 500;

let h: Harness;
let target: ClusterInfo;
let hook: WebhookReceiver;

/** The application's health endpoint: 200 while healthy, 503 after the flip; it wants the secret's credentials. */
const app = { healthy: true, served: 0, unhealthySince: undefined as number | undefined, unauthorized: 0 };
/** A Prometheus server whose error-rate query stays at 0.01. */
const prom = { queries: [] as string[] };
let appServer: Server;
let promServer: Server;

const onSource = (name: string): ConnectionParams => ({ ...h.source, database: name });
const onTarget = (name: string): ConnectionParams => ({ ...target, database: name });
const count = (p: ConnectionParams, where: string) =>
  withClient(p, async (c) => Number((await c.query(`select count(*) as n from items where ${where}`)).rows[0].n));

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  server.keepAliveTimeout = 100;
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  return { server, port: (server.address() as { port: number }).port };
}

before(async () => {
  process.env.DBMIG_ALLOWED_SECRETS = 'env:DBMIG_TEST_*';
  h = await createHarness('health-rollback', { databases: [BREACH, HEALTHY] });
  target = await h.platform.clusters.ensure('fleet-target', {});
  hook = await startWebhookReceiver('promise-hook-secret');
  process.env[ENV.hookUrl] = hook.url;
  process.env[ENV.hookSecret] = 'promise-hook-secret';
  const a = await serve((req, res) => {
    const want = `Basic ${Buffer.from(`probe:${TOKEN}`).toString('base64')}`;
    if (req.headers.authorization !== want) {
      app.unauthorized++;
      res.writeHead(401).end();
      return;
    }
    app.served++;
    if (!app.healthy) app.unhealthySince ??= Date.now();
    res.writeHead(app.healthy ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: app.healthy }));
  });
  appServer = a.server;
  process.env[ENV.health] = `http://probe:${TOKEN}@127.0.0.1:${a.port}/health`;
  const p = await serve((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x');
    prom.queries.push(`${q.pathname}?${q.searchParams.get('query')}`);
    res.writeHead(200, { 'content-type': 'application/json' });
    const value = [Date.now() / 1000, '0.01'];
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value }] } }));
  });
  promServer = p.server;
  process.env.DBMIG_TEST_PROM_PORT = String(p.port);
});

after(async () => {
  await h?.close();
  await hook?.close();
  appServer?.close();
  promServer?.close();
  for (const v of [...Object.values(ENV), 'DBMIG_ALLOWED_SECRETS', 'DBMIG_TEST_PROM_PORT']) delete process.env[v];
});

const planOf = (d: SourceDb, cutover: NonNullable<PlanInput['cutover']>): PlanInput =>
  planFor(h.source, [{ ...d, rows: 0 }], `env:${SOURCE_PASSWORD_ENV}`, {
    approval: { policy: 'auto', timeout: '1h' },
    cutover,
    notifications: {
      channels: { app: { type: 'webhook', urlRef: `env:${ENV.hookUrl}`, secretRef: `env:${ENV.hookSecret}` } },
      routes: [{ events: ['health-rollback', 'cutover-done'], channels: ['app'] }],
    },
  });

const delivered = (name: string, event: string) =>
  [...hook.deliveries.values()].filter((d) => d.event === event && d.body.database === name);

async function history(id: string, name: string) {
  const events = (await h.env.client.workflow.getHandle(childWorkflowId(id, name)).fetchHistory()).events ?? [];
  const scheduled = events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
  const raw = JSON.stringify(events);
  // Payloads are base64 JSON: read them as the UI would show them.
  const payloads = [...raw.matchAll(/"data":"([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1], 'base64').toString());
  return { events, scheduled, json: `${raw}\n${payloads.join('\n')}` };
}

describe('rollback on a broken promise (local platform)', () => {
  test('an unhealthy application after the cutover rolls the database back, notifies and says why', async (t) => {
    const id = 'promise-broken';
    const name = BREACH.name;
    const handle = await h.startFleet(
      id,
      planOf(BREACH, {
        reverseReplicationFor: '1h',
        healthCheck: { http: { urlRef: `env:${ENV.health}` }, for: `${FOR_MS}ms`, every: `${EVERY_MS}ms` },
      }),
    );
    const completed = await h.reach(id, name, 'COMPLETED');
    assert.ok(completed.rollbackUntil, 'reverse replication keeps a rollback possible');

    // The application works on the target for a while, and the check reads it healthy meanwhile.
    await withClient(onTarget(name), async (c) => {
      await c.query(`insert into items (sku, qty, price) select 'on-target-' || g, g, 2 from generate_series(1, 25) g`);
      await c.query(`update items set qty = 4242 where id = 1`);
    });
    await eventually('healthy readings', async () => app.served >= 4 || undefined, 60_000);
    assert.equal((await h.statusOf(id, name)).state, 'COMPLETED', 'a healthy application keeps the target');
    const healthyReads = app.served;

    app.healthy = false;
    const rolled = await h.reach(id, name, ['ROLLED_BACK', 'FAILED', 'NEEDS_ATTENTION'], 180_000);
    assert.equal(rolled.state, 'ROLLED_BACK', rolled.lastError);
    t.diagnostic(`status: ${rolled.state}; lastError: ${rolled.lastError}; next: ${rolled.nextAction}`);
    assert.match(
      rolled.lastError ?? '',
      /^rollback asked by health check: health check breached for \d+s \(http status/,
    );
    assert.match(rolled.lastError ?? '', /the application answered 503, not 200/);
    assert.equal(rolled.writesOn, 'source');

    // Effects: the target's writes are on the source, which takes writes again; the target is kept.
    assert.equal(await count(onSource(name), `sku like 'on-target-%'`), 25);
    assert.equal(await count(onSource(name), `id = 1 and qty = 4242`), 1);
    await withClient(onSource(name), (c) => c.query(`insert into items (sku, qty, price) values ('back', 1, 1)`));
    assert.equal(await count(onTarget(name), `sku like 'on-target-%'`), 25, 'the target is kept, with its rows');

    // The breach held for `for` before the rollback, and was seen within one reading after that.
    const { events, scheduled, json } = await history(id, name);
    const watched = events.find(
      (e) =>
        e.activityTaskCompletedEventAttributes &&
        events.find((s) => Number(s.eventId) === Number(e.activityTaskCompletedEventAttributes!.scheduledEventId))
          ?.activityTaskScheduledEventAttributes?.activityType?.name === 'watchHealth',
    );
    assert.ok(watched, 'the health watch completed (with its verdict)');
    const verdictAt = Number(watched.eventTime!.seconds) * 1000 + Math.floor((watched.eventTime!.nanos ?? 0) / 1e6);
    const held = verdictAt - app.unhealthySince!;
    t.diagnostic(`first unhealthy answer to verdict: ${held} ms (for ${FOR_MS} ms, every ${EVERY_MS} ms)`);
    assert.ok(held >= FOR_MS, `rolled back after ${held} ms, before the breach held for ${FOR_MS} ms`);
    assert.ok(held <= FOR_MS + EVERY_MS + 10_000, `the breach took ${held} ms to be acted on`);

    // Rule 4: one watch activity, however many readings; the same rollback step `dbmig rollback` runs.
    t.diagnostic(
      `readings: ${app.served} (${healthyReads} healthy before the flip); scheduled: ${scheduled.join(',')}`,
    );
    assert.equal(scheduled.filter((s) => s === 'watchHealth').length, 1);
    assert.ok(app.served >= healthyReads + FOR_MS / EVERY_MS, `${app.served} readings`);
    assert.equal(scheduled.filter((s) => s === 'rollbackAfterCutover').length, 1);
    assert.equal(scheduled.includes('deleteTarget'), false, 'nothing deletes the target');
    // Rule 8: the URL's credentials never reach the history.
    assert.doesNotMatch(json, new RegExp(TOKEN));
    assert.match(json, /env:DBMIG_TEST_HEALTH_URL/, 'the history carries the reference');
    assert.match(json, /health check breached/, 'the history records why');
    assert.equal(app.unauthorized, 0, 'the worker read the URL, credentials included, from the secret');

    const told = await eventually(
      'the health-rollback webhook',
      async () => (delivered(name, 'health-rollback').length ? true : undefined),
      60_000,
    );
    assert.ok(told);
    const body = delivered(name, 'health-rollback')[0].body;
    t.diagnostic(`webhook: ${JSON.stringify(body).slice(0, 400)}`);
    assert.match(JSON.stringify(body), /health check breached/);
    await handle.result();
    // `dbmig status` reads the child once the fleet has ended: it says why, as the history does.
    const shown = await h.statusOf(id, name);
    assert.equal(shown.state, 'ROLLED_BACK');
    assert.match(shown.lastError ?? '', /^rollback asked by health check: health check breached/);
  });

  test('a healthy Prometheus query lets the window end: finalized, nothing rolled back', async (t) => {
    const id = 'promise-kept';
    const name = HEALTHY.name;
    const handle = await h.startFleet(
      id,
      planOf(HEALTHY, {
        reverseReplicationFor: '15s',
        healthCheck: {
          prometheus: {
            url: `http://127.0.0.1:${process.env.DBMIG_TEST_PROM_PORT}`,
            query: 'sum(rate(app_errors_total[1m]))',
          },
          above: 0.05,
          for: '1s',
          every: '500ms',
        },
      }),
    );
    await h.reach(id, name, 'COMPLETED');
    const end = await h.reach(id, name, ['FINALIZED', 'ROLLING_BACK', 'ROLLED_BACK', 'FAILED'], 120_000);
    assert.equal(end.state, 'FINALIZED', end.lastError);
    await handle.result();
    const { scheduled } = await history(id, name);
    t.diagnostic(`queries read: ${prom.queries.length}; scheduled: ${scheduled.join(',')}`);
    assert.ok(prom.queries.length >= 3, `${prom.queries.length} queries`);
    assert.equal(prom.queries[0], '/api/v1/query?sum(rate(app_errors_total[1m]))');
    assert.equal(scheduled.filter((s) => s === 'watchHealth').length, 1);
    assert.equal(scheduled.includes('rollbackAfterCutover'), false);
    assert.equal(delivered(name, 'health-rollback').length, 0);
    assert.equal(await count(onSource(name), 'true'), await count(onTarget(name), 'true'));
  });
});
