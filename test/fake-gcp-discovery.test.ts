// The DMS half of the fake's fidelity: requests are checked against Google's datamigration v1
// discovery document (test/fakes/gcp/discovery.ts). These cases are the ones issue 10 found the
// platform sending, each refused as Google refuses it.
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { loadDiscovery } from './fakes/gcp/discovery';
import { FakeGcp } from './fakes/gcp/server';

const dms = loadDiscovery();
const PARENT = '/v1/projects/p/locations/us-central1';

function check(httpMethod: string, path: string, query: string, body: unknown) {
  const m = dms.match(httpMethod, path);
  assert.ok(m, `${httpMethod} ${path} is a DMS method`);
  return { id: m.id, violations: dms.validate(m, new URLSearchParams(query), body) };
}

test('the discovery document is the current one: it has demoteDestination and alloydbClusterId', () => {
  assert.equal(dms.name, 'datamigration');
  assert.ok(Number(dms.revision) >= 20261015);
  assert.equal(check('POST', `${PARENT}/migrationJobs/j:demoteDestination`, '', {}).violations.length, 0);
  const body = {
    postgresql: { host: '10.0.0.5', port: 5432, username: 'postgres', password: 'x', alloydbClusterId: 'c' },
  };
  assert.deepEqual(check('POST', `${PARENT}/connectionProfiles`, 'connectionProfileId=dst', body).violations, []);
});

test('sourceDatabase.provider DATABASE_ENGINE is not a DatabaseProvider: Google answers 400', () => {
  const body = {
    type: 'CONTINUOUS',
    source: 's',
    destination: 'd',
    sourceDatabase: { engine: 'MYSQL', provider: 'DATABASE_ENGINE' },
  };
  const { violations } = check('POST', `${PARENT}/migrationJobs`, 'migrationJobId=j', body);
  assert.deepEqual(
    violations.map((v) => v.field),
    ['sourceDatabase.provider'],
  );
});

test('a destination profile with only cloudSqlId lacks the credentials Google marks Required', () => {
  const { violations } = check('POST', `${PARENT}/connectionProfiles`, 'connectionProfileId=dst', {
    mysql: { cloudSqlId: 'orders-mysql' },
  });
  assert.deepEqual(violations.map((v) => v.field).sort(), [
    'mysql.host',
    'mysql.password',
    'mysql.port',
    'mysql.username',
  ]);
});

test('unknown fields, unknown query parameters, missing required ids and long request ids are refused', () => {
  const { violations } = check('POST', `${PARENT}/migrationJobs`, `requestId=${'x'.repeat(41)}&colour=red`, {
    type: 'CONTINUOUS',
    source: 's',
    destination: 'd',
    dumpPathh: 'gs://b/f',
  });
  assert.deepEqual(violations.map((v) => v.field).sort(), ['colour', 'dumpPathh', 'migrationJobId', 'requestId']);
});

test('output-only fields are ignored and wrong JSON types are refused', () => {
  const { violations } = check('POST', `${PARENT}/migrationJobs`, 'migrationJobId=j', {
    type: 'CONTINUOUS',
    source: 's',
    destination: 'd',
    state: 'RUNNING',
    labels: { a: 1 },
  });
  assert.deepEqual(
    violations.map((v) => v.field),
    ['labels[a]'],
  );
});

test('a DMS definition that cannot be loaded fails the fake at start, not each request at a timeout', async () => {
  const fake = new FakeGcp();
  fake.dmsDefinition = join(tmpdir(), 'dbmig-no-such-definition.json');
  await assert.rejects(fake.start(), /dbmig-no-such-definition\.json is missing/);
});

test('an error inside the fake answers the request with 500 and the error, at once', async () => {
  const fake = new FakeGcp();
  const { port } = await fake.start();
  try {
    // The definition goes missing after start: the next request's look-up throws inside the
    // fake's handler, which once left the request unanswered.
    fake.dmsDefinition = join(tmpdir(), 'dbmig-gone-definition.json');
    const res = await fetch(`http://127.0.0.1:${port}/v1/${PARENT.slice(4)}/migrationJobs`, {
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(res.status, 500);
    const body = (await res.json()) as { error: { message: string; status: string } };
    assert.equal(body.error.status, 'INTERNAL');
    assert.match(body.error.message, /dbmig-gone-definition\.json is missing/);
  } finally {
    await fake.stop();
  }
});
