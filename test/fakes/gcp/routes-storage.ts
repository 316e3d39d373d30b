// Cloud Storage JSON API v1 (https://cloud.google.com/storage/docs/json_api/v1): the bucket and
// object methods the SQL Server source side reads and writes (its backup files, which DMS restores
// from), checked against Google's discovery document (definitions/storage-v1.json) by server.ts
// before any route runs. Resources: `gcs/b/<bucket>` (a Bucket) and `gcs/o/<bucket>/<object>`
// (an Object's metadata and data). Tests put buckets and files in with `putBucket` and
// `putObject`: that is the operator's backup shipper, not a request the platform sends, so it is
// not logged as one.
import { createHash } from 'node:crypto';
import { CRC32C } from '@google-cloud/storage';
import { ApiError, ok, type Ctx, type FakeGcp, type Reply } from './server';

export interface FakeBucket {
  name: string;
  location: string;
}

export interface FakeObject {
  meta: Record<string, unknown>;
  data: Buffer;
}

const bucketKey = (b: string) => `gcs/b/${b}`;
const objectKey = (b: string, o: string) => `gcs/o/${b}/${o}`;

/** A bucket, as a test's project has it (buckets.insert is not a method the platform calls). */
export function putBucket(f: FakeGcp, name: string, location = 'US-CENTRAL1'): void {
  f.resources.set(bucketKey(name), { name, location } satisfies FakeBucket);
}

/**
 * An object, as the operator's backup shipper uploads it; `at` is its creation time (the fake's
 * clock by default). Each write is a new generation (https://cloud.google.com/storage/docs/metadata#generation-number).
 */
export function putObject(
  f: FakeGcp,
  bucket: string,
  name: string,
  data: Buffer | string,
  opts: { at?: number; contentType?: string } = {},
): Record<string, unknown> {
  if (!f.resources.has(bucketKey(bucket))) throw new Error(`fake: bucket ${bucket} does not exist (putBucket first)`);
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const at = opts.at ?? f.now();
  const previous = f.resources.get(objectKey(bucket, name)) as FakeObject | undefined;
  const generation = String(Math.max(at * 1000, Number(previous?.meta.generation ?? 0) + 1));
  const crc = new CRC32C();
  crc.update(bytes);
  const time = new Date(at).toISOString();
  const meta = {
    kind: 'storage#object',
    id: `${bucket}/${name}/${generation}`,
    selfLink: `https://www.googleapis.com/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}`,
    mediaLink: `https://storage.googleapis.com/download/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}?generation=${generation}&alt=media`,
    name,
    bucket,
    generation,
    metageneration: '1',
    contentType: opts.contentType ?? 'application/octet-stream',
    storageClass: 'STANDARD',
    size: String(bytes.length),
    md5Hash: createHash('md5').update(bytes).digest('base64'),
    crc32c: crc.toString(),
    etag: createHash('md5').update(`${bucket}/${name}/${generation}`).digest('base64').slice(0, 12),
    timeCreated: time,
    updated: time,
    timeStorageClassUpdated: time,
    timeFinalized: time,
  };
  f.resources.set(objectKey(bucket, name), { meta, data: bytes } satisfies FakeObject);
  return meta;
}

/** The objects of a bucket, by name (a test reads what was uploaded). */
export function objectsOf(f: FakeGcp, bucket: string): Map<string, FakeObject> {
  const out = new Map<string, FakeObject>();
  const head = `gcs/o/${bucket}/`;
  for (const [k, v] of f.resources) if (k.startsWith(head)) out.set(k.slice(head.length), v as FakeObject);
  return out;
}

/** 404 for a bucket: https://cloud.google.com/storage/docs/json_api/v1/status-codes#404-not-found */
function bucketOf(f: FakeGcp, name: string): FakeBucket {
  const b = f.resources.get(bucketKey(name)) as FakeBucket | undefined;
  if (!b) throw new ApiError(404, 'The specified bucket does not exist.', { reason: 'notFound' });
  return b;
}

/** 404 for an object: https://cloud.google.com/storage/docs/json_api/v1/status-codes#404-not-found */
function objectOf(f: FakeGcp, bucket: string, name: string): FakeObject {
  bucketOf(f, bucket);
  const o = f.resources.get(objectKey(bucket, name)) as FakeObject | undefined;
  if (!o) throw new ApiError(404, `No such object: ${bucket}/${name}`, { reason: 'notFound' });
  return o;
}

/**
 * ifGenerationMatch / ifGenerationNotMatch (https://cloud.google.com/storage/docs/request-preconditions):
 * a condition that does not hold answers 412 conditionNotMet; ifGenerationMatch=0 means "only if
 * no live object has this name".
 */
function preconditions(ctx: Ctx, current: FakeObject | undefined): void {
  const gen = current ? String(current.meta.generation) : '0';
  const match = ctx.query.get('ifGenerationMatch');
  const notMatch = ctx.query.get('ifGenerationNotMatch');
  if ((match !== null && match !== gen) || (notMatch !== null && notMatch === gen))
    throw new ApiError(412, 'At least one of the pre-conditions you specified did not hold.', {
      status: 'FAILED_PRECONDITION',
      reason: 'conditionNotMet',
    });
}

/**
 * objects.list (https://cloud.google.com/storage/docs/json_api/v1/objects/list): names in
 * lexicographic order; with a delimiter, names that hold it after the prefix are rolled up into
 * `prefixes` (each once); `maxResults` (default and most 1,000) bounds items plus prefixes of a
 * page, `nextPageToken` continues it.
 */
function listObjects(f: FakeGcp, ctx: Ctx): Reply {
  const bucket = ctx.params[0];
  bucketOf(f, bucket);
  // Listing options the fake does not implement are refused rather than ignored (a wrong list
  // would pass silently); their meaning is on https://cloud.google.com/storage/docs/json_api/v1/objects/list.
  for (const p of ['matchGlob', 'startOffset', 'endOffset', 'versions', 'includeTrailingDelimiter', 'softDeleted'])
    if (ctx.query.has(p)) throw new ApiError(501, `fake: objects.list ${p} is not modelled`);
  const prefix = ctx.query.get('prefix') ?? '';
  const delimiter = ctx.query.get('delimiter') ?? '';
  const max = Math.min(Number(ctx.query.get('maxResults') ?? 1000) || 1000, 1000);
  const after = ctx.query.get('pageToken') ? Buffer.from(ctx.query.get('pageToken')!, 'base64url').toString() : '';
  const entries = new Map<string, Record<string, unknown> | undefined>();
  for (const [name, o] of [...objectsOf(f, bucket)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!name.startsWith(prefix)) continue;
    const cut = delimiter ? name.indexOf(delimiter, prefix.length) : -1;
    if (cut >= 0) entries.set(name.slice(0, cut + delimiter.length), undefined);
    else entries.set(name, o.meta);
  }
  const ordered = [...entries].filter(([k]) => k > after);
  const page = ordered.slice(0, max);
  const items = page.filter(([, m]) => m).map(([, m]) => m);
  const prefixes = page.filter(([, m]) => !m).map(([k]) => k);
  return ok({
    kind: 'storage#objects',
    ...(prefixes.length ? { prefixes } : {}),
    ...(items.length ? { items } : {}),
    ...(ordered.length > max ? { nextPageToken: Buffer.from(page[page.length - 1][0]).toString('base64url') } : {}),
  });
}

/**
 * objects.insert by upload (https://cloud.google.com/storage/docs/json_api/v1/objects/insert):
 * the name from the `name` parameter or the metadata; the data is the media or the multipart
 * body's second part (schema/storage.ts). The Object resource is the answer.
 */
function insertObject(f: FakeGcp, ctx: Ctx): Reply {
  const bucket = ctx.params[0];
  bucketOf(f, bucket);
  const kind = ctx.query.get('uploadType');
  // Resumable sessions (https://cloud.google.com/storage/docs/resumable-uploads) are not modelled.
  if (kind !== 'media' && kind !== 'multipart')
    throw new ApiError(501, `fake: uploadType=${kind} is not modelled (send resumable: false)`);
  const name = ctx.query.get('name') ?? (ctx.body?.name as string | undefined);
  // "name: Required if not specified by URL parameter" (the Object resource's name, objects/insert).
  if (!name) throw ApiError.invalid('name', 'Required');
  preconditions(ctx, f.resources.get(objectKey(bucket, name)) as FakeObject | undefined);
  const meta = putObject(f, bucket, name, ctx.media ?? Buffer.alloc(0), {
    contentType: (ctx.body?.contentType as string | undefined) ?? undefined,
  });
  return ok(meta);
}

export function storageRoutes(f: FakeGcp): void {
  const B = '([^/]+)';
  f.route('GET', new RegExp(`^/storage/v1/b/${B}$`), 'storage.buckets.get', (ctx) => {
    const b = bucketOf(f, ctx.params[0]);
    return ok({
      kind: 'storage#bucket',
      id: b.name,
      name: b.name,
      location: b.location,
      locationType: 'region',
      storageClass: 'STANDARD',
      metageneration: '1',
    });
  });
  f.route('GET', new RegExp(`^/storage/v1/b/${B}/o$`), 'storage.objects.list', (ctx) => listObjects(f, ctx));
  f.route('GET', new RegExp(`^/storage/v1/b/${B}/o/(.+)$`), 'storage.objects.get', (ctx) => {
    const [bucket, name] = ctx.params;
    const o = objectOf(f, bucket, name);
    preconditions(ctx, o);
    // alt=media answers the data (https://cloud.google.com/storage/docs/json_api/v1/objects/get).
    if (ctx.query.get('alt') === 'media')
      return { status: 200, body: undefined, raw: { data: o.data, contentType: String(o.meta.contentType) } };
    return ok(o.meta);
  });
  f.route('POST', new RegExp(`^/upload/storage/v1/b/${B}/o$`), 'storage.objects.insert', (ctx) => insertObject(f, ctx));
  // objects.delete answers 204 with no body (https://cloud.google.com/storage/docs/json_api/v1/objects/delete).
  f.route('DELETE', new RegExp(`^/storage/v1/b/${B}/o/(.+)$`), 'storage.objects.delete', (ctx) => {
    const [bucket, name] = ctx.params;
    preconditions(ctx, objectOf(f, bucket, name));
    f.resources.delete(objectKey(bucket, name));
    return { status: 204, body: undefined };
  });
}
