// A request's body as the routes read it (Ctx.body): JSON for every API but Cloud Storage's
// uploads, which carry data, not JSON (schema/storage.ts). A body that cannot be read is refused
// before the schema check, as Google refuses it.
import { ApiError } from './api-error';
import { storageBody } from './schema/storage';

/** The body and an upload's data (Ctx.body, Ctx.media), or why the body is refused. */
export type ReadBody = { body: unknown; media?: Buffer; refusal?: undefined } | { refusal: ApiError };

/** Reads the body of a request to `url`; `storage`: a Cloud Storage request (isStoragePath). */
export function readBody(url: URL, contentType: string, chunks: Buffer[], storage: boolean): ReadBody {
  let body: unknown;
  let media: Buffer | undefined;
  if (storage) {
    const read = storageBody(url.pathname, url.searchParams, contentType, Buffer.concat(chunks));
    // A body that is not the upload its uploadType says: 400
    // (https://cloud.google.com/storage/docs/json_api/v1/status-codes#400-bad-request).
    if (read.error) return { refusal: new ApiError(400, read.error) };
    body = read.json;
    media = read.media;
  } else
    try {
      body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    } catch (err) {
      // A body that is not JSON: INVALID_ARGUMENT (https://cloud.google.com/apis/design/errors).
      return { refusal: new ApiError(400, `Invalid JSON payload received. ${(err as Error).message}`) };
    }
  // gax's REST transport sends the JSON string "" as the body of a body-less POST (a Compute
  // cancel, for one): that is no body.
  if (body === '') body = undefined;
  return { body, media };
}
