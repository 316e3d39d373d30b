// Cloud Storage JSON API requests as the fake reads them before the schema check: which requests
// are Storage's, and what an upload's body holds. Storage is checked against its discovery document
// (definitions/storage-v1.json, ../discovery.ts), not a proto: its JSON API has no google.api.http
// rules. Uploads are not JSON: https://cloud.google.com/storage/docs/uploads-downloads and
// https://cloud.google.com/storage/docs/json_api/v1/objects/insert define three kinds, by
// `uploadType`:
// - media:     the body is the object's data; the name is the `name` query parameter;
// - multipart: a multipart/related body whose first part is the object's metadata (JSON, an
//              Object resource) and whose second part is its data
//              (https://cloud.google.com/storage/docs/uploading-objects#uploading-an-object);
// - resumable: a session (https://cloud.google.com/storage/docs/resumable-uploads); the fake does
//              not model sessions, and the platform never starts one.

/** Paths the Storage JSON API serves: its servicePath and its media upload paths. */
export const isStoragePath = (rawPath: string): boolean =>
  /^\/(upload\/|resumable\/upload\/)?storage\/v1\//.test(rawPath);

export interface StorageBody {
  /** The JSON the schema check reads: the metadata part, or a JSON body. */
  json?: unknown;
  /** The object's data, for an upload. */
  media?: Buffer;
  /** Why the body could not be read, answered as Google answers a malformed body (400). */
  error?: string;
}

/** Splits a multipart/related body (RFC 2387) into its parts' headers and bytes. */
function multipartParts(contentType: string, raw: Buffer): { type: string; data: Buffer }[] | undefined {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!boundary) return undefined;
  const text = raw.toString('latin1');
  const out: { type: string; data: Buffer }[] = [];
  for (const chunk of text.split(`--${boundary}`).slice(1)) {
    if (chunk.startsWith('--')) break;
    const body = chunk.replace(/^\r?\n/, '');
    const split = body.search(/\r?\n\r?\n/);
    if (split < 0) return undefined;
    const head = body.slice(0, split);
    const gap = /\r?\n\r?\n/.exec(body.slice(split))![0].length;
    const data = body.slice(split + gap).replace(/\r?\n$/, '');
    const type = /content-type:\s*([^\r\n]+)/i.exec(head)?.[1] ?? '';
    out.push({ type, data: Buffer.from(data, 'latin1') });
  }
  return out;
}

/** Reads a Storage request's body by its upload type (see above). */
export function storageBody(rawPath: string, query: URLSearchParams, contentType: string, raw: Buffer): StorageBody {
  const upload = /^\/(resumable\/)?upload\//.test(rawPath);
  const kind = query.get('uploadType');
  if (upload && kind === 'media') return { media: raw };
  if (upload && kind === 'multipart') {
    const parts = /^multipart\//i.test(contentType) ? multipartParts(contentType, raw) : undefined;
    if (!parts || parts.length !== 2)
      return { error: 'Metadata part is too large or the multipart body is malformed.' };
    try {
      return { json: JSON.parse(parts[0].data.toString('utf8')), media: parts[1].data };
    } catch {
      return { error: 'Invalid JSON in the metadata part.' };
    }
  }
  if (!raw.length) return {};
  try {
    return { json: JSON.parse(raw.toString('utf8')) };
  } catch (err) {
    return { error: `Invalid JSON payload received. ${(err as Error).message}` };
  }
}
