// The cost estimate of `dbmig plan`: deterministic from the dated table, from the Cloud Billing
// Catalog (the fake's SKUs) when asked and reachable, and back to the table, saying so, when not.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { costReport, PRICES_TIMEOUT_ENV, pricesTimeoutMs } from '../cli/plan-cost';
import { DATED_PRICES, estimateCost } from '../common/cost';
import { validatePlan } from '../common/plan';
import { fakeAuth } from './fakes/gcp';
import { fakeSku, healthyWorld, preflightRoutes } from './fakes/gcp/routes-preflight';
import { FakeGcp } from './fakes/gcp/server';
import { gcpPlan, PROJECT } from './helpers/gcp-plan';

const p = (key: string) => DATED_PRICES.prices[key].usd;
const round2 = (n: number) => Math.round(n * 100) / 100;
const plan = validatePlan(gcpPlan());

let fake: FakeGcp;
let endpoint: { host: string; port: number; protocol: 'http' };

before(async () => {
  fake = new FakeGcp();
  const world = healthyWorld({ project: PROJECT, region: 'us-central1', zone: 'us-central1-a', network: 'n' });
  world.billingServices = [
    { name: 'services/6F81-5844-456A', serviceId: '6F81-5844-456A', displayName: 'Compute Engine' },
  ];
  world.skus.set('6F81-5844-456A', [
    fakeSku('E2-CORE', 'E2 Instance Core running in Americas', 'CPU', 'h', 0.03),
    fakeSku('E2-RAM', 'E2 Instance Ram running in Americas', 'RAM', 'GiBy.h', 0.004),
    fakeSku('E2-CORE-EU', 'E2 Instance Core running in EMEA', 'CPU', 'h', 9, ['europe-west1']),
  ]);
  preflightRoutes(fake, world);
  endpoint = await fake.start();
});
after(() => fake?.stop());

/**
 * Deadlines for lookups that should succeed: two calls to a fake on this machine, given a minute so
 * that a loaded machine cannot miss it (the 5 s default once did); a lookup that hangs still fails.
 */
const ANSWERS = 60_000;

test('the dated table gives the numbers worked out by hand', () => {
  const e = estimateCost(plan);
  const [orders, ledger, billing] = e.databases;
  // e2-standard-4: 4 vCPUs, 16 GiB; held 7 days (168 h); e2 has no calendar mode, so flex-start.
  const worker = 4 * p('compute.e2.vcpu') + 16 * p('compute.e2.ram');
  assert.equal(orders.capacity.mode, 'flex-start');
  assert.equal(orders.capacity.workers, 8); // 400 GB / 50
  assert.equal(orders.capacity.usd, round2(8 * worker * 168));
  assert.equal(orders.capacity.usd, 180.11);
  // orders: db-custom-4-16384 HA (regional), 400 GB x 1.5 = 600 GB SSD.
  const ordersTarget =
    (4 * p('cloudsql.regional.vcpu') + 16 * p('cloudsql.regional.ram')) * 730 + 600 * p('cloudsql.regional.ssd');
  assert.equal(orders.target.monthlyUsd, round2(ordersTarget));
  assert.equal(orders.target.monthlyUsd, 608.71);
  assert.equal(orders.target.spec, 'db-custom-4-16384 HA, 600 GB SSD');
  // ledger: AlloyDB 8 vCPUs, 64 GiB, two nodes, 120 GB stored.
  const ledgerTarget = 2 * 8 * (p('alloydb.vcpu') + 8 * p('alloydb.ram')) * 730 + 120 * p('alloydb.storage');
  assert.equal(ledger.target.monthlyUsd, round2(ledgerTarget));
  assert.equal(ledger.target.monthlyUsd, 1854.34);
  assert.equal(billing.capacity.workers, 1);
  assert.equal(
    e.total.targetsMonthlyUsd,
    round2(orders.target.monthlyUsd! + ledger.target.monthlyUsd! + billing.target.monthlyUsd!),
  );
  assert.deepEqual(e.unpriced, []);
  for (const price of Object.values(DATED_PRICES.prices)) assert.match(price.source, /^https:\/\/cloud\.google\.com\//);
  assert.match(DATED_PRICES.read, /^\d{4}-\d{2}-\d{2}$/);
});

test('with --prices-online the catalog prices what it matched, in the plan region only', async () => {
  const from = fake.log.length;
  const text = await costReport(plan, { online: true, endpoint, authClient: fakeAuth(), timeoutMs: ANSWERS });
  assert.match(
    text,
    /prices from the Cloud Billing Catalog API \(2 of \d+ prices; the rest from common\/prices\/gcp-2026-11\.json/,
  );
  // 8 workers x (4 x 0.03 + 16 x 0.004) x 168 h, not the EMEA SKU's price.
  assert.match(
    text,
    new RegExp(`orders .*flex-start 8 x e2-standard-4, 7d +${round2(8 * (4 * 0.03 + 16 * 0.004) * 168)}`),
  );
  const rpcs = fake.log.slice(from).map((r) => `${r.method} ${r.rpc}`);
  assert.deepEqual(rpcs, ['GET cloudbilling.services.list', 'GET cloudbilling.services.skus.list']);
});

test('an unreachable catalog falls back to the table and says why', async () => {
  const stopped = new FakeGcp();
  const gone = await stopped.start();
  await stopped.stop();
  const text = await costReport(plan, { online: true, endpoint: gone, authClient: fakeAuth(), timeoutMs: ANSWERS });
  assert.match(
    text,
    /gcp-2026-11\.json \(read 2026-11-22\): the Cloud Billing Catalog API was not used \(.*ECONNREFUSED/,
  );
  assert.match(text, /orders .* 180\.11 /);
});

test('a catalog that never answers is given up at the deadline, which DBMIG_PRICES_TIMEOUT_MS sets', async (t) => {
  // Accepts connections and never answers: only the deadline can end the lookup.
  const sockets: net.Socket[] = [];
  const silent = net.createServer((s) => sockets.push(s));
  await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', ok));
  const hung = { host: '127.0.0.1', port: (silent.address() as net.AddressInfo).port, protocol: 'http' as const };
  const saved = process.env[PRICES_TIMEOUT_ENV];
  try {
    process.env[PRICES_TIMEOUT_ENV] = '1500';
    const started = Date.now();
    const text = await costReport(plan, { online: true, endpoint: hung, authClient: fakeAuth() });
    const took = Date.now() - started;
    t.diagnostic(`gave up after ${took} ms with a 1.5 s deadline`);
    assert.match(text, /the Cloud Billing Catalog API was not used \(no answer within 1\.5s\)/);
    assert.match(text, /orders .* 180\.11 /);
    // Not before the deadline; after it only by what a loaded machine adds (without a deadline the
    // lookup would wait for the socket, minutes).
    assert.ok(took >= 1_400 && took < 1_500 + 30_000, `gave up after ${took} ms`);
  } finally {
    if (saved === undefined) delete process.env[PRICES_TIMEOUT_ENV];
    else process.env[PRICES_TIMEOUT_ENV] = saved;
    for (const s of sockets) s.destroy();
    silent.close();
  }
  assert.equal(pricesTimeoutMs({}), 5_000, 'the default');
  assert.equal(pricesTimeoutMs({ [PRICES_TIMEOUT_ENV]: '60000' }), 60_000);
  for (const bad of ['5s', '0', '-1', '1.5'])
    assert.throws(() => pricesTimeoutMs({ [PRICES_TIMEOUT_ENV]: bad }), /DBMIG_PRICES_TIMEOUT_MS=.*milliseconds/);
});

test('dbmig plan prints the estimate per database and in total, from the table, calling nothing', () => {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(__dirname, '..', 'cli', 'main.ts'),
      'plan',
      '--plan',
      join(__dirname, '..', 'examples', 'plans', 'gcp-fleet.yaml'),
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1', DBMIG_GCP_ENDPOINT: 'http://127.0.0.1:1' },
    },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /cost estimate, USD list prices, approximate: prices from the dated price table common\/prices\/gcp-2026-11\.json/,
  );
  for (const db of ['orders', 'catalog', 'ledger'])
    assert.match(r.stdout, new RegExp(`^${db} +flex-start \\d x e2-standard-4, 7d +\\d+\\.\\d\\d`, 'm'));
  assert.match(r.stdout, /^total +\d+\.\d\d +\d+\.\d\d +\d+\.\d\d$/m);
});
