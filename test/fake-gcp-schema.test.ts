// The gcp fake holds requests to Google's definitions: each API's requests, sent by the REAL client
// libraries, are checked against the protos (schema/), request ids against their proto comments,
// and errors come back in each API's own shape, read by the clients as they read Google's.
// The routes here are minimal stand-ins registered on a bare FakeGcp, so these tests do not depend
// on the fake's resource routes or on the platform code.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { AlloyDBAdminClient } from '@google-cloud/alloydb';
import { CloudCatalogClient } from '@google-cloud/billing';
import { FutureReservationsClient } from '@google-cloud/compute';
import { MetricServiceClient } from '@google-cloud/monitoring';
import { DashboardsServiceClient } from '@google-cloud/monitoring-dashboards';
import { ProjectsClient } from '@google-cloud/resource-manager';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { ServiceUsageClient } from '@google-cloud/service-usage';
import { SqlInstancesServiceClient } from '@google-cloud/sql';
import { datamigration } from 'googleapis/build/src/apis/datamigration';
import { httpStatus } from '../activities/platforms/gcp/errors';
import { fakeAuth } from './fakes/gcp';
import { ApiError, FakeGcp, ok, renderOp, type Ctx, type Reply } from './fakes/gcp/server';
import { loadDiscovery } from './fakes/gcp/discovery';
import { checkRequest } from './fakes/gcp/schema/validate';

// Client errors are untyped (GoogleError, GaxiosError); the tests read them as Google's clients do.
/* eslint-disable @typescript-eslint/no-explicit-any */

const P = 'proj';
const LOC = `projects/${P}/locations/us-central1`;
const SEG = '([^/:]+)';

let fake: FakeGcp;
let base: string;
let gaxOpts: any;
let dms: ReturnType<typeof datamigration>;

function createOnce(f: FakeGcp, key: (ctx: Ctx) => string, make: (ctx: Ctx) => Reply, conflict: ApiError) {
  return (ctx: Ctx) =>
    f.idempotent(ctx, () => {
      const k = key(ctx);
      if (f.resources.has(k)) throw conflict;
      f.resources.set(k, ctx.body);
      return make(ctx);
    });
}

function stubRoutes(f: FakeGcp): void {
  const lro = (parent: string) =>
    ok(renderOp(f.operation('longrunning', undefined, { prefix: `${parent}/operations/` })));
  f.route(
    'POST',
    new RegExp(`^/v1/projects/${SEG}/instances$`),
    'sql.instances.insert',
    createOnce(
      f,
      (c) => `sql/${c.params[0]}/${c.body?.name}`,
      () => ok(renderOp(f.operation('sql'))),
      new ApiError(409, 'The Cloud SQL instance already exists.', { reason: 'instanceAlreadyExists' }),
    ),
  );
  f.route('GET', new RegExp(`^/v1/projects/${SEG}/instances/${SEG}$`), 'sql.instances.get', ({ params: [, i] }) => {
    // Cloud SQL answers 403 notAuthorized, not 404, for an instance that does not exist.
    throw new ApiError(403, 'The client is not authorized to make this request.', { reason: 'notAuthorized' });
    return ok({ name: i });
  });
  f.route(
    'POST',
    new RegExp(`^/v1/(projects/${SEG}/locations/${SEG})/clusters$`),
    'alloydb.projects.locations.clusters.create',
    createOnce(
      f,
      (c) => `alloydb/${c.params[0]}/clusters/${c.query.get('clusterId')}`,
      (c) => lro(c.params[0]),
      ApiError.of('ALREADY_EXISTS', 'Resource already exists'),
    ),
  );
  f.route(
    'POST',
    new RegExp(`^/compute/v1/projects/${SEG}/zones/${SEG}/futureReservations$`),
    'compute.futureReservations.insert',
    createOnce(
      f,
      (c) => `fr/${c.params[1]}/${c.body?.name}`,
      (c) => ok(renderOp(f.operation('compute', undefined, { zone: c.params[1] }))),
      new ApiError(409, "The resource 'futureReservations/fr' already exists"),
    ),
  );
  f.route('GET', new RegExp(`^/v3/projects/${SEG}/timeSeries$`), 'monitoring.projects.timeSeries.list', () =>
    ok({ timeSeries: [] }),
  );
  f.route('POST', new RegExp(`^/v1/projects/${SEG}/dashboards$`), 'monitoring.projects.dashboards.create', (c) =>
    ok({ ...c.body, name: `projects/${c.params[0]}/dashboards/d1` }),
  );
  f.route(
    'GET',
    new RegExp(`^/v1/(projects/${SEG}/secrets/${SEG})/versions/${SEG}:access$`),
    'secretmanager.projects.secrets.versions.access',
    (c) => ok({ name: `${c.params[0]}/versions/1`, payload: { data: Buffer.from('x').toString('base64') } }),
  );
  f.route('GET', new RegExp(`^/v1/services/${SEG}/skus$`), 'cloudbilling.services.skus.list', () => ok({ skus: [] }));
  f.route('GET', new RegExp(`^/v1/projects/${SEG}/services/${SEG}$`), 'serviceusage.services.get', (c) =>
    ok({ name: c.path.slice(4), state: 'ENABLED' }),
  );
  f.route(
    'POST',
    new RegExp(`^/v3/projects/${SEG}:testIamPermissions$`),
    'cloudresourcemanager.projects.testIamPermissions',
    (c) => ok({ permissions: c.body?.permissions ?? [] }),
  );
  f.route(
    'POST',
    new RegExp(`^/v1/(projects/${SEG}/locations/${SEG})/migrationJobs$`),
    'datamigration.projects.locations.migrationJobs.create',
    createOnce(
      f,
      (c) => `dms/${c.params[0]}/migrationJobs/${c.query.get('migrationJobId')}`,
      (c) => lro(c.params[0]),
      ApiError.of('ALREADY_EXISTS', 'Resource already exists'),
    ),
  );
}

before(async () => {
  fake = new FakeGcp();
  stubRoutes(fake);
  const ep = await fake.start();
  base = `http://${ep.host}:${ep.port}`;
  gaxOpts = { fallback: true, apiEndpoint: ep.host, port: ep.port, protocol: 'http', authClient: fakeAuth() };
  dms = datamigration({ version: 'v1', auth: fakeAuth() as any, rootUrl: `${base}/` });
});
after(async () => fake?.stop());

/** The error a call rejects with. */
async function failure(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail('expected the call to fail');
}

/** A raw request, for what the gax clients cannot send (they drop unknown fields and enum values). */
async function raw(method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const violationsOf = (body: any) =>
  (body.error.details ?? [])
    .filter((d: any) => d['@type'] === 'type.googleapis.com/google.rpc.BadRequest')
    .flatMap((d: any) => d.fieldViolations.map((v: any) => v.field));

const dmsJob = (extra: Record<string, unknown> = {}) => ({
  type: 'CONTINUOUS',
  source: `${LOC}/connectionProfiles/src`,
  destination: `${LOC}/connectionProfiles/dst`,
  ...extra,
});

test('a valid request of each API, sent by its real client, passes the schema check', async () => {
  const from = fake.log.length;
  const sql = new SqlInstancesServiceClient(gaxOpts);
  await sql.insert({
    project: P,
    body: { name: 'inst-a', databaseVersion: 'POSTGRES_15', settings: { tier: 'db-custom-2-7680' } },
  });
  const alloy = new AlloyDBAdminClient(gaxOpts);
  await alloy.createCluster({
    parent: LOC,
    clusterId: 'c-a',
    cluster: { networkConfig: { network: `projects/${P}/global/networks/default` }, databaseVersion: 'POSTGRES_15' },
    requestId: randomUUID(),
  });
  const compute = new FutureReservationsClient(gaxOpts);
  await compute.insert({
    project: P,
    zone: 'us-central1-a',
    requestId: randomUUID(),
    futureReservationResource: {
      name: 'fr-a',
      reservationMode: 'CALENDAR',
      planningStatus: 'SUBMITTED',
      specificSkuProperties: { totalCount: '2', instanceProperties: { machineType: 'a3-highgpu-8g' } },
      timeWindow: { startTime: '2026-12-01T00:00:00Z', endTime: '2026-12-08T00:00:00Z' },
    },
  });
  const metrics = new MetricServiceClient(gaxOpts);
  await metrics.listTimeSeries(
    {
      name: `projects/${P}`,
      filter: 'metric.type = "datamigration.googleapis.com/migration_job/max_replica_sec_lag"',
      interval: { endTime: { seconds: 1_800_000_000 }, startTime: { seconds: 1_799_999_000 } },
      view: 'FULL',
    },
    { autoPaginate: false },
  );
  await new DashboardsServiceClient(gaxOpts).createDashboard({
    parent: `projects/${P}`,
    dashboard: { displayName: 'dbmig', mosaicLayout: { columns: 12, tiles: [] } },
  });
  await new SecretManagerServiceClient(gaxOpts).accessSecretVersion({
    name: `projects/${P}/secrets/s/versions/latest`,
  });
  await new CloudCatalogClient(gaxOpts).listSkus({ parent: 'services/6F81-5844-456A' }, { autoPaginate: false });
  await new ServiceUsageClient(gaxOpts).getService({ name: `projects/${P}/services/datamigration.googleapis.com` });
  await new ProjectsClient(gaxOpts).testIamPermissions({
    resource: `projects/${P}`,
    permissions: ['datamigration.migrationjobs.create'],
  });
  await dms.projects.locations.migrationJobs.create({
    parent: LOC,
    migrationJobId: 'job-a',
    requestId: 'job-a-create-1',
    requestBody: dmsJob({ vpcPeeringConnectivity: { vpc: `projects/${P}/global/networks/default` } }),
  });
  const sent = fake.log.slice(from);
  assert.deepEqual(
    sent.filter((r) => r.status !== 200),
    [],
  );
  assert.deepEqual(
    sent.map((r) => r.protoRpc),
    [
      'google.cloud.sql.v1.SqlInstancesService.Insert',
      'google.cloud.alloydb.v1.AlloyDBAdmin.CreateCluster',
      'google.cloud.compute.v1.FutureReservations.Insert',
      'google.monitoring.v3.MetricService.ListTimeSeries',
      'google.monitoring.dashboard.v1.DashboardsService.CreateDashboard',
      'google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion',
      'google.cloud.billing.v1.CloudCatalog.ListSkus',
      'google.api.serviceusage.v1.ServiceUsage.GetService',
      'google.cloud.resourcemanager.v3.Projects.TestIamPermissions',
      'datamigration.projects.locations.migrationJobs.create', // DMS: its discovery document's method id
    ],
  );
  await Promise.all([sql.close(), alloy.close(), compute.close(), metrics.close()]);
});

test('DMS (googleapis): unknown field, bad enum, missing REQUIRED field, two of a oneof: 400s naming it', async () => {
  const create = (requestBody: Record<string, unknown>, id: string) =>
    failure(dms.projects.locations.migrationJobs.create({ parent: LOC, migrationJobId: id, requestBody }));
  const unknown = await create(dmsJob({ dumpFile: 'gs://b/x' }), 'j1');
  assert.equal(unknown.response.status, 400);
  assert.equal(httpStatus(unknown), 400);
  assert.equal(unknown.response.data.error.status, 'INVALID_ARGUMENT');
  // DMS is checked against its discovery document: fields are named from the request body.
  assert.deepEqual(violationsOf(unknown.response.data), ['dumpFile']);
  const badEnum = await create(dmsJob({ sourceDatabase: { provider: 'DATABASE_ENGINE', engine: 'MYSQL' } }), 'j2');
  assert.equal(badEnum.response.status, 400);
  assert.deepEqual(violationsOf(badEnum.response.data), ['sourceDatabase.provider']);
  assert.match(badEnum.message, /DATABASE_PROVIDER_UNSPECIFIED, CLOUDSQL/);
  const missing = await create({ source: dmsJob().source, destination: dmsJob().destination }, 'j3');
  assert.equal(missing.response.status, 400);
  assert.deepEqual(violationsOf(missing.response.data), ['type']);
  const twoOfOneof = await create(dmsJob({ vpcPeeringConnectivity: { vpc: 'v' }, staticIpConnectivity: {} }), 'j4');
  assert.equal(twoOfOneof.response.status, 400);
  assert.deepEqual(violationsOf(twoOfOneof.response.data), ['connectivity']);
});

test('AlloyDB (gax 6): missing REQUIRED field is INVALID_ARGUMENT; unknown names, enums refused', async () => {
  const alloy = new AlloyDBAdminClient(gaxOpts);
  const err = await failure(
    alloy.createCluster({ parent: LOC, clusterId: 'c-missing', cluster: { databaseVersion: 'POSTGRES_15' } }),
  );
  assert.equal(err.code, 3);
  assert.equal(httpStatus(err), 400);
  assert.match(err.message, /cluster\.network/);
  await alloy.close();
  // The gax clients drop unknown names and enum values before sending; raw JSON shows the check.
  const path = `/v1/${LOC}/clusters?clusterId=c-raw`;
  const unknown = await raw('POST', path, { network: 'n', netwrk: 'n' });
  assert.equal(unknown.status, 400);
  assert.deepEqual(violationsOf(unknown.body), ['cluster.netwrk']);
  const badEnum = await raw('POST', path, { network: 'n', databaseVersion: 'POSTGRES_99' });
  assert.deepEqual(violationsOf(badEnum.body), ['cluster.databaseVersion']);
  const badQuery = await raw('POST', `${path}&clusterID=x`, { network: 'n' });
  assert.deepEqual(violationsOf(badQuery.body), ['clusterID']);
  const wrongType = await raw('POST', path, { network: 'n', labels: ['a'] });
  assert.deepEqual(violationsOf(wrongType.body), ['cluster.labels']);
  // Output-only fields are ignored on input (AIP-203).
  assert.equal(
    (await raw('POST', `/v1/${LOC}/clusters?clusterId=c-out`, { network: 'n', state: 'READY' })).status,
    200,
  );
});

test('Compute (gax 6): string-encoded enums checked against their nested enum; errors in the v1 shape', async () => {
  const compute = new FutureReservationsClient(gaxOpts);
  const insert = (name: string, extra: Record<string, unknown>, requestId = randomUUID()) =>
    compute.insert({
      project: P,
      zone: 'us-central1-a',
      requestId,
      futureReservationResource: { name, timeWindow: { startTime: '2026-12-01T00:00:00Z' }, ...extra },
    });
  const bad = await failure(insert('fr-bad', { reservationMode: 'CALENDAR_MODE' }));
  // gax 6 (compute, sql, alloydb, monitoring, secret-manager) maps the HTTP status to a gRPC code
  // and keeps the status it received as httpStatusCode.
  assert.equal(bad.code, 3);
  assert.equal(bad.httpStatusCode, 400);
  assert.equal(httpStatus(bad), 400);
  assert.match(bad.message, /futureReservationResource\.reservationMode/);
  const onWire = await raw('POST', `/compute/v1/projects/${P}/zones/z/futureReservations`, {
    name: 'x',
    reservationMode: 'CALENDAR_MODE',
  });
  assert.equal(onWire.body.error.code, 400);
  assert.equal(onWire.body.error.errors[0].domain, 'global');
  assert.equal(onWire.body.error.errors[0].reason, 'invalid');
  await insert('fr-dup', {});
  const dup = await failure(insert('fr-dup', {}));
  assert.equal(dup.httpStatusCode, 409);
  assert.equal(httpStatus(dup), 409);
  const dupOnWire = await raw('POST', `/compute/v1/projects/${P}/zones/us-central1-a/futureReservations`, {
    name: 'fr-dup',
  });
  assert.equal(dupOnWire.status, 409);
  assert.equal(dupOnWire.body.error.errors[0].reason, 'alreadyExists');
  await compute.close();
});

test('Cloud SQL (gax 6 client): v1 error shape; 409 and 403 reach errors.ts with their HTTP status', async () => {
  const sql = new SqlInstancesServiceClient(gaxOpts);
  const insert = () => sql.insert({ project: P, body: { name: 'inst-dup', settings: { tier: 'db-f1-micro' } } });
  await insert();
  const dup = await failure(insert());
  // The v1 error shape has no canonical status: gax 6 maps the HTTP 409 alone, to ABORTED (10).
  assert.equal(dup.code, 10);
  assert.equal(dup.httpStatusCode, 409);
  assert.equal(httpStatus(dup), 409);
  assert.match(dup.message, /already exists/);
  const missing = await failure(sql.get({ project: P, instance: 'nope' }));
  assert.equal(missing.httpStatusCode, 403);
  assert.equal(httpStatus(missing), 403);
  const onWire = await raw('GET', `/v1/projects/${P}/instances/nope`);
  assert.deepEqual(onWire.body.error.errors, [
    { message: 'The client is not authorized to make this request.', domain: 'global', reason: 'notAuthorized' },
  ]);
  const unknown = await raw('POST', `/v1/projects/${P}/instances`, { name: 'i', settings: { tier: 't', teir: 't' } });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error.errors[0].location, 'body.settings.teir');
  await sql.close();
});

test('409 ALREADY_EXISTS: gax 6 (AlloyDB) reads ALREADY_EXISTS (6) from the body, gaxios HTTP 409', async () => {
  const alloy = new AlloyDBAdminClient(gaxOpts);
  const create = () =>
    alloy.createCluster({ parent: LOC, clusterId: 'c-dup', cluster: { network: 'n' }, requestId: randomUUID() });
  await create();
  const dup = await failure(create());
  // google-gax 6 reads the canonical status of the body (google.rpc.Status) and keeps the HTTP
  // status beside it; errors.ts reads that status (gax 4 had turned any 409 into ABORTED).
  assert.equal(dup.code, 6);
  assert.equal(dup.httpStatusCode, 409);
  assert.equal(httpStatus(dup), 409);
  await alloy.close();
  const job = (requestId: string) =>
    dms.projects.locations.migrationJobs.create({
      parent: LOC,
      migrationJobId: 'job-dup',
      requestId,
      requestBody: dmsJob(),
    });
  await job('dup-1');
  const again = await failure(job('dup-2'));
  assert.equal(again.response.status, 409);
  assert.equal(again.response.data.error.status, 'ALREADY_EXISTS');
  assert.equal(httpStatus(again), 409);
});

test('request ids follow each API’s proto: UUID for AlloyDB and Compute, ≤40 of [A-Za-z0-9_-] for DMS', async () => {
  const alloy = new AlloyDBAdminClient(gaxOpts);
  for (const requestId of ['not-a-uuid', '00000000-0000-0000-0000-000000000000']) {
    const err = await failure(
      alloy.createCluster({ parent: LOC, clusterId: 'c-rid', cluster: { network: 'n' }, requestId }),
    );
    assert.equal(err.code, 3);
    assert.match(err.message, /requestId/);
  }
  await alloy.close();
  const compute = new FutureReservationsClient(gaxOpts);
  const cerr = await failure(
    compute.insert({ project: P, zone: 'z', requestId: 'abc', futureReservationResource: { name: 'fr-rid' } }),
  );
  assert.equal(httpStatus(cerr), 400);
  assert.match(cerr.message, /requestId/);
  await compute.close();
  for (const requestId of ['x'.repeat(41), 'has.dot']) {
    const err = await failure(
      dms.projects.locations.migrationJobs.create({
        parent: LOC,
        migrationJobId: 'job-rid',
        requestId,
        requestBody: dmsJob(),
      }),
    );
    assert.equal(err.response.status, 400);
    assert.deepEqual(violationsOf(err.response.data), ['requestId']);
  }
  const fine = await dms.projects.locations.migrationJobs.create({
    parent: LOC,
    migrationJobId: 'job-rid',
    requestId: 'x'.repeat(40),
    requestBody: dmsJob(),
  });
  assert.equal(fine.status, 200);
});

test('a request id is remembered for the window: a repeat replays, after the window it is a new request', async () => {
  const create = () =>
    dms.projects.locations.migrationJobs.create({
      parent: LOC,
      migrationJobId: 'job-window',
      requestId: 'window-1',
      requestBody: dmsJob(),
    });
  const first = await create();
  const hits = fake.deduplicated.length;
  const replay = await create();
  assert.equal(replay.data.name, first.data.name);
  assert.equal(fake.deduplicated.length, hits + 1);
  assert.equal(fake.deduplicated.at(-1)!.requestId, 'window-1');
  assert.equal(fake.log.at(-1)!.deduplicated, true);
  fake.clock.advance(61 * 60_000);
  // After the window the id is new: the create runs again and meets the job it made.
  const late = await failure(create());
  assert.equal(late.response.status, 409);
  assert.equal(fake.deduplicated.length, hits + 1);
});

test('a lost response: the effect is applied once, the retry with the same request id gets the replay', async () => {
  const alloy = new AlloyDBAdminClient(gaxOpts);
  const requestId = randomUUID();
  const create = () => alloy.createCluster({ parent: LOC, clusterId: 'c-lost', cluster: { network: 'n' }, requestId });
  fake.loseResponse('google.cloud.alloydb.v1.AlloyDBAdmin.CreateCluster');
  const from = fake.log.length;
  const err = await failure(create());
  const status = httpStatus(err);
  assert.ok(status === undefined || status >= 500, `a lost response must look transient, got ${status}`);
  assert.ok(fake.resources.has(`alloydb/${LOC}/clusters/c-lost`));
  const [op] = await create();
  assert.ok(op.name);
  assert.deepEqual(
    fake.log.slice(from).map((r) => [r.lost ?? false, r.deduplicated ?? false]),
    [
      [true, false],
      [false, true],
    ],
  );
  assert.deepEqual(fake.changes(from), [
    { method: 'alloydb.projects.locations.clusters.create', resource: `${LOC}/clusters/c-lost` },
  ]);
  await alloy.close();
});

test('a lost answer to a refused request is no effect: the log says refused, effects() leaves it out', async () => {
  const alloy = new AlloyDBAdminClient(gaxOpts);
  const create = () =>
    alloy.createCluster({ parent: LOC, clusterId: 'c-refused', cluster: { network: 'n' }, requestId: randomUUID() });
  await create();
  // A second create of the same cluster (a new request id) is refused as ALREADY_EXISTS, and that
  // answer is dropped.
  fake.loseResponse('google.cloud.alloydb.v1.AlloyDBAdmin.CreateCluster');
  const from = fake.log.length;
  const err = await failure(create());
  const status = httpStatus(err);
  assert.ok(status === undefined || status >= 500, `a lost answer must look transient, got ${status}`);
  const [first] = fake.log.slice(from);
  assert.deepEqual([first.lost, first.refused], [true, true]);
  const sent = { method: 'alloydb.projects.locations.clusters.create', resource: `${LOC}/clusters/c-refused` };
  assert.deepEqual(fake.changes(from).slice(0, 1), [sent], 'it was sent');
  assert.deepEqual(fake.effects(from), [], 'and took no effect');
  // The same lost answer after an accepted request is an effect.
  fake.loseResponse('google.cloud.alloydb.v1.AlloyDBAdmin.CreateCluster');
  const mark = fake.log.length;
  await failure(
    alloy.createCluster({ parent: LOC, clusterId: 'c-took', cluster: { network: 'n' }, requestId: randomUUID() }),
  );
  assert.equal(fake.log[mark].refused, undefined);
  assert.deepEqual(fake.effects(mark), [
    { method: 'alloydb.projects.locations.clusters.create', resource: `${LOC}/clusters/c-took` },
  ]);
  await alloy.close();
});

test('a path no API defines is a 404 naming it; strict=false lets anything through', async () => {
  const res = await raw('GET', `/v1/${LOC}/widgets/w`);
  assert.equal(res.status, 404);
  assert.match(res.body.error.message, /GET \/v1\/projects\/proj\/locations\/us-central1\/widgets\/w/);
  fake.strict = false;
  try {
    const loose = await raw('POST', `/v1/${LOC}/clusters?clusterId=c-loose`, { network: 'n', netwrk: 'n' });
    assert.equal(loose.status, 200);
  } finally {
    fake.strict = true;
  }
});

test('per-request validation is cheap: nothing is re-read or re-parsed per request', (t) => {
  const q = new URLSearchParams(`requestId=${randomUUID()}`);
  const fr = { name: 'fr', reservationMode: 'CALENDAR', specificSkuProperties: { totalCount: '1' } };
  const job = dmsJob({ sourceDatabase: { provider: 'CLOUDSQL', engine: 'POSTGRESQL' } });
  const dmsQ = new URLSearchParams('migrationJobId=j&requestId=r');
  const start = performance.now();
  const n = 200;
  for (let i = 0; i < n; i++) {
    assert.equal(checkRequest('POST', `/compute/v1/projects/${P}/zones/z/futureReservations`, q, fr).kind, 'ok');
    const m = loadDiscovery().match('POST', `/v1/${LOC}/migrationJobs`)!;
    assert.deepEqual(loadDiscovery().validate(m, dmsQ, job), []);
  }
  const each = (performance.now() - start) / (2 * n);
  t.diagnostic(`${each.toFixed(3)} ms a request`);
  // 0.2 ms a request on a 2-core machine at a load of 8 (two suites at once): the bound leaves a
  // loaded machine a 40-fold margin and still catches work per request that belongs to start-up.
  assert.ok(each < 10, `validation took ${each.toFixed(3)} ms a request`);
});
