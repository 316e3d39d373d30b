// The fake's Cloud Storage JSON API (test/fakes/gcp/routes-storage.ts), driven by the REAL
// @google-cloud/storage client as the platform creates it (activities/platforms/gcp/clients.ts),
// and every request checked against Google's storage v1 discovery document.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GcpClients } from '../activities/platforms/gcp/clients';
import { createFakeGcp, fakeAuth, objectsOf, putBucket, putObject, type FakeGcp } from './fakes/gcp';
import { loadDiscovery, STORAGE_DISCOVERY } from './fakes/gcp/discovery';

let fake: FakeGcp;
let clients: GcpClients;
let base: string;

before(async () => {
  fake = createFakeGcp().fake;
  const endpoint = await fake.start();
  base = `http://${endpoint.host}:${endpoint.port}`;
  clients = new GcpClients({ endpoint, authClient: fakeAuth() });
  putBucket(fake, 'backups');
  for (const name of [
    'sales/full/sales.1700000000.bak',
    'sales/log/sales.1700000300.trn',
    'sales/log/sales.1700000600.trn',
    'sales/log/sales.1700000900.trn',
    'hr/full/hr.1700000000.bak',
  ])
    putObject(fake, 'backups', name, `data of ${name}`);
});

after(async () => {
  await clients.close();
  await fake.stop();
});

const bucket = () => clients.storage.bucket('backups');

test('the storage discovery document is the committed one and knows the methods the fake serves', () => {
  const d = loadDiscovery(STORAGE_DISCOVERY);
  assert.equal(d.name, 'storage');
  for (const [verb, path, id] of [
    ['GET', '/storage/v1/b/x', 'storage.buckets.get'],
    ['GET', '/storage/v1/b/x/o', 'storage.objects.list'],
    ['GET', '/storage/v1/b/x/o/a%2Fb.bak', 'storage.objects.get'],
    ['POST', '/upload/storage/v1/b/x/o', 'storage.objects.insert'],
    ['DELETE', '/storage/v1/b/x/o/a%2Fb.bak', 'storage.objects.delete'],
  ])
    assert.equal(d.match(verb, path)?.id, id, `${verb} ${path}`);
});

test('buckets.get answers the bucket; an unknown bucket is 404 notFound', async () => {
  const [meta] = await bucket().getMetadata();
  assert.equal(meta.name, 'backups');
  assert.equal(meta.location, 'US-CENTRAL1');
  const err = await clients.storage
    .bucket('missing')
    .getMetadata()
    .catch((e: unknown) => e);
  assert.equal((err as { code: number }).code, 404);
  assert.match((err as Error).message, /bucket does not exist/);
});

test('objects.list: prefix and delimiter roll folders up; pages continue by token', async () => {
  const [, , folders] = await bucket().getFiles({ delimiter: '/', autoPaginate: false });
  assert.deepEqual((folders as { prefixes?: string[] }).prefixes, ['hr/', 'sales/']);
  const [files, next] = await bucket().getFiles({ prefix: 'sales/log/', maxResults: 2, autoPaginate: false });
  assert.deepEqual(
    files.map((f) => f.name),
    ['sales/log/sales.1700000300.trn', 'sales/log/sales.1700000600.trn'],
  );
  assert.ok(next, 'a second page is announced');
  const [rest, last] = await bucket().getFiles({ ...(next as object), autoPaginate: false });
  assert.deepEqual(
    rest.map((f) => f.name),
    ['sales/log/sales.1700000900.trn'],
  );
  assert.equal(last, null);
  const [all] = await bucket().getFiles({ prefix: 'sales/' });
  assert.equal(all.length, 4);
});

test('objects.insert (multipart and media), get, download and delete round-trip what the client sent', async () => {
  const file = bucket().file('sales/log/sales.1700001200.trn');
  // The client checks the answer's crc32c/md5 against what it sent: a wrong hash fails the save.
  await file.save(Buffer.from('tail-log bytes'), { resumable: false, contentType: 'application/octet-stream' });
  const [meta] = await file.getMetadata();
  assert.equal(meta.size, '14');
  assert.equal(meta.name, 'sales/log/sales.1700001200.trn');
  assert.equal((await file.download())[0].toString(), 'tail-log bytes');
  const media = await fetch(`${base}/upload/storage/v1/b/backups/o?uploadType=media&name=hr%2Flog%2Fhr.1.trn`, {
    method: 'POST',
    headers: { authorization: 'Bearer fake-token', 'content-type': 'application/octet-stream' },
    body: 'raw',
  });
  assert.equal(media.status, 200);
  assert.equal(objectsOf(fake, 'backups').get('hr/log/hr.1.trn')?.data.toString(), 'raw');
  await file.delete();
  assert.deepEqual(await file.exists(), [false]);
  const gone = await file.delete().catch((e: unknown) => e);
  assert.equal((gone as { code: number }).code, 404);
});

test('ifGenerationMatch=0 refuses to overwrite an object with 412 conditionNotMet', async () => {
  const file = bucket().file('sales/full/sales.1700000000.bak');
  const err = await file
    .save('other', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } })
    .catch((e: unknown) => e);
  assert.equal((err as { code: number }).code, 412);
  assert.equal(
    objectsOf(fake, 'backups').get('sales/full/sales.1700000000.bak')?.data.toString(),
    'data of sales/full/sales.1700000000.bak',
  );
});

test('requests Google would refuse are refused by the discovery document', async () => {
  const get = (q: string) => fetch(`${base}/storage/v1/b/backups/o${q}`, { headers: { authorization: 'Bearer x' } });
  const unknown = await get('?colour=blue');
  assert.equal(unknown.status, 400);
  const body = (await unknown.json()) as { error: { errors: { reason: string; message: string }[] } };
  assert.equal(body.error.errors[0].reason, 'invalid');
  assert.match(body.error.errors[0].message, /unknown query parameter "colour"/);
  assert.equal((await get('?projection=everything')).status, 400);
  // An Object resource has no field "owner_email": the metadata part of a multipart upload is refused.
  const boundary = 'b0undary';
  const multipart =
    `--${boundary}\r\ncontent-type: application/json\r\n\r\n{"name":"x.bak","owner_email":"a@b"}\r\n` +
    `--${boundary}\r\ncontent-type: application/octet-stream\r\n\r\ndata\r\n--${boundary}--`;
  const bad = await fetch(`${base}/upload/storage/v1/b/backups/o?uploadType=multipart`, {
    method: 'POST',
    headers: { authorization: 'Bearer x', 'content-type': `multipart/related; boundary=${boundary}` },
    body: multipart,
  });
  assert.equal(bad.status, 400);
  assert.ok(!objectsOf(fake, 'backups').has('x.bak'), 'nothing was written');
  const violations = fake.log.filter((r) => r.violations?.length).map((r) => r.violations![0].field);
  assert.deepEqual(violations, ['colour', 'projection', 'owner_email']);
});
