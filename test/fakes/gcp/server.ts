// A local HTTP fake of exactly the Google Cloud REST endpoints the gcp platform calls. It keeps
// resources and long-running operations, honours request ids, and can inject 429/503 answers
// and slow answers. The real client libraries are pointed at it. Every route names the API method
// it serves (its id in the service's discovery document), and every request is logged with that
// method and the resource it acts on, so a test can compare what was sent with what was planned.
// Before any route runs, every request is checked against Google's own definitions
// (check-definitions.ts, schema/): the method is found by its google.api.http rule, the request
// message is validated (unknown fields, enums, REQUIRED fields, oneofs), the request id is checked
// against its proto comment and deduplicated within Google's window, and errors are answered in
// each API's own shape.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError } from './api-error';
import { checkAgainstDefinitions, type ErrorShape } from './check-definitions';
import { readBody } from './read-body';
import { bindings } from './schema/http-rules';
import { DEDUPE_WINDOW_MS, FakeClock } from './schema/request-ids';
import { errorBody, type FieldViolation, type PreconditionViolation } from './schema/status';
import { DMS_DISCOVERY, loadDiscovery } from './discovery';
import { isStoragePath } from './schema/storage';

export type { FieldViolation, PreconditionViolation };
export { ApiError, type ApiErrorOptions } from './api-error';

export interface Faults {
  /** Share of requests answered with 429 or 503 before any effect (0..1). */
  rate: number;
  /** Share of requests answered only after `slowMs`. */
  slowRate: number;
  slowMs: number;
}

export interface Ctx {
  method: string;
  path: string;
  params: string[];
  query: URLSearchParams;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The API the request was matched to by its HTTP rule (schema/protos.ts APIS), when known. */
  api?: string;
  /** The proto method, e.g. google.cloud.clouddms.v1.DataMigrationService.CreateMigrationJob. */
  protoRpc?: string;
  /** The request id the request carries (query or body), as the proto's request_id field. */
  requestId?: string;
  /** An upload's data (Cloud Storage media and multipart uploads, schema/storage.ts). */
  media?: Buffer;
}

/** `raw` answers bytes (a Cloud Storage media download) instead of `body` as JSON. */
export type Reply = { status: number; body: unknown; raw?: { data: Buffer; contentType: string } };
export type Handler = (ctx: Ctx) => Reply;

export interface LoggedRequest {
  method: string;
  path: string;
  query: string;
  faulted?: number;
  /** The API method the route serves, e.g. sql.instances.insert; absent when no route matched. */
  rpc?: string;
  /** The full resource name acted on; for a create, the name of the new resource. */
  resource?: string;
  /** A create with validateOnly=true (AIP-163), which creates nothing. */
  validateOnly?: boolean;
  /** The HTTP status answered. */
  status?: number;
  /** The proto method matched by the request's HTTP rule. */
  protoRpc?: string;
  /** Why the schema check refused the request. */
  violations?: FieldViolation[];
  /** Answered with the reply of an earlier request with the same request id; nothing was applied. */
  deduplicated?: boolean;
  /** The handler ran, then the connection was dropped without an answer (see `refused`). */
  lost?: boolean;
  /**
   * The handler refused the request (an error, answered or lost): nothing was applied. A lost
   * answer took effect only when this is unset.
   */
  refused?: boolean;
}

/** A request answered from the request-id memory instead of being applied. */
export interface DedupeHit {
  api: string;
  requestId: string;
  rpc?: string;
  path: string;
  at: number;
}

/** A request that asks for a change, as `FakeGcp.changes()` lists it. */
export interface RecordedCall {
  method: string;
  resource: string;
  validateOnly?: boolean;
}

/**
 * The resource a request acts on, as an AIP-122 full name without the service: the path without
 * its version and custom verb. For a create, the collection plus the new id, taken from the
 * `<resource>Id` query parameter (AIP-133) or from the body's `name` (Cloud SQL, Compute).
 * Compute writes custom methods as a last path segment (…/resizeRequests/r/cancel), not `:cancel`.
 */
function resourceOf(rpc: string, ctx: Ctx): string {
  // Cloud Storage names objects b/{bucket}/o/{object}; an upload names its object by the `name`
  // query parameter or the metadata's name (https://cloud.google.com/storage/docs/json_api/v1/objects/insert).
  if (rpc.startsWith('storage.')) {
    const at = ctx.path.replace(/^\/(upload\/)?storage\/v1\//, '');
    if (rpc === 'storage.objects.insert') return `${at}/${ctx.query.get('name') ?? ctx.body?.name ?? '*'}`;
    return at;
  }
  const verb = rpc.split('.').pop()!;
  const bare = ctx.path.replace(/^\/(compute\/)?v\d+\//, '').replace(/:[A-Za-z]+$/, '');
  if (verb === 'create' || verb === 'insert') {
    const id = [...ctx.query.entries()].find(([k]) => k.endsWith('Id') && k !== 'requestId')?.[1] ?? ctx.body?.name;
    // A body name that is already a full name under the collection (dashboards) is the resource;
    // a server-assigned name (alert policies) is not known to the caller: `*`.
    if (typeof id === 'string' && id.startsWith(`${bare}/`)) return id;
    return `${bare}/${id ?? '*'}`;
  }
  return ctx.method === 'POST' && bare.endsWith(`/${verb}`) ? bare.slice(0, -verb.length - 1) : bare;
}

/**
 * Methods sent as POST that only read: testIamPermissions, getIamPolicy (as `dbmig gcp check` uses
 * them), Compute's advice (compute.proto service Advice).
 */
const READ_POSTS = /\.(testIamPermissions|getIamPolicy)$|^compute\.advice\./;

export type OpKind = 'longrunning' | 'sql' | 'compute';

export interface FakeOp {
  name: string;
  kind: OpKind;
  polls: number;
  done: boolean;
  error?: string;
  finish?: () => unknown;
  zone?: string;
  /** The type of a long-running operation's response, as real APIs send it in `@type`. */
  typeUrl?: string;
}

export class FakeGcp {
  readonly resources = new Map<string, any>(); // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly ops = new Map<string, FakeOp>();
  readonly log: LoggedRequest[] = [];
  /** Answers remembered by request id, keyed by API and id (see dedupeKey). */
  readonly requestIds = new Map<string, Reply>();
  private readonly requestIdTimes = new Map<string, number>();
  /** Requests answered from that memory, in order: a test can assert a re-run was not among them. */
  readonly deduplicated: DedupeHit[] = [];
  faults: Faults = { rate: 0, slowRate: 0, slowMs: 0 };
  /** Polls an operation needs before it is done. */
  opPolls = 2;
  /** Check every request against Google's protos. Off only to debug a test, never in a committed one. */
  strict = true;
  /** Google's DMS discovery document that DMS requests are checked against (discovery.ts). */
  dmsDefinition = DMS_DISCOVERY;
  /** The time request ids are remembered; the request_id comments promise "at least 60 minutes". */
  dedupeWindowMs = DEDUPE_WINDOW_MS;
  /** The fake's clock (request-id windows); tests move it with `clock.advance(ms)`. */
  readonly clock = new FakeClock();
  private lose: { match: string | ((r: LoggedRequest) => boolean); left: number }[] = [];
  private routes: { method: string; pattern: RegExp; rpc: string; handler: Handler }[] = [];
  private server?: http.Server;
  private seed = 42;
  private opCounter = 0;

  private dmsDiscovery() {
    return loadDiscovery(this.dmsDefinition);
  }

  /** Serves `rpc` (the API method's discovery id) at `method` and `pattern`. */
  route(method: string, pattern: RegExp, rpc: string, handler: Handler): void {
    this.routes.push({ method, pattern, rpc, handler });
  }

  /** Deterministic pseudo-random numbers, so a faulty run can be repeated. */
  random(): number {
    this.seed = (Math.imul(this.seed ^ (this.seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return this.seed / 2 ** 32;
  }

  /** A new operation; `prefix` makes long-running names resource-style (projects/.../operations/). */
  operation(kind: OpKind, finish?: () => unknown, extra: Partial<FakeOp> & { prefix?: string } = {}): FakeOp {
    const { prefix = '', ...rest } = extra;
    const op: FakeOp = { name: `${prefix}op-${++this.opCounter}`, kind, polls: 0, done: false, finish, ...rest };
    this.ops.set(op.name, op);
    if (this.opPolls === 0) this.complete(op);
    return op;
  }

  complete(op: FakeOp): void {
    if (op.done) return;
    op.done = true;
    if (!op.error) op.finish?.();
  }

  /** One poll of an operation: it finishes after `opPolls` polls. */
  poll(name: string): FakeOp {
    const op = this.ops.get(name);
    // https://cloud.google.com/apis/design/errors (404 NOT_FOUND)
    if (!op) throw new ApiError(404, `operation ${name} not found`);
    if (++op.polls >= this.opPolls) this.complete(op);
    return op;
  }

  now(): number {
    return this.clock.now();
  }

  /**
   * Request ids are remembered per API (the service that received them), not per path: the proto
   * comments say a second request with the same id is ignored, whatever it asks.
   */
  private dedupeKey(ctx: Ctx): string | undefined {
    const id = ctx.requestId ?? ctx.query.get('requestId') ?? undefined;
    return id ? `${ctx.api ?? 'unknown'}/${id}` : undefined;
  }

  private remembered(key: string | undefined): Reply | undefined {
    if (!key || !this.requestIds.has(key)) return undefined;
    if (this.now() - (this.requestIdTimes.get(key) ?? 0) < this.dedupeWindowMs) return this.requestIds.get(key);
    this.requestIds.delete(key);
    this.requestIdTimes.delete(key);
    return undefined;
  }

  private remember(key: string | undefined, reply: Reply): void {
    if (!key || reply.status >= 300 || this.requestIds.has(key)) return;
    this.requestIds.set(key, reply);
    this.requestIdTimes.set(key, this.now());
  }

  /**
   * Replays the answer of an earlier request with the same request id within the window. The
   * server already does this for every request carrying a request id; routes keep calling it so a
   * handler used without the server (or with `strict` off) behaves the same.
   */
  idempotent(ctx: Ctx, make: () => Reply): Reply {
    const key = this.dedupeKey(ctx);
    const earlier = this.remembered(key);
    if (earlier) return earlier;
    const reply = make();
    this.remember(key, reply);
    return reply;
  }

  /**
   * The next `times` requests that match (the route's rpc id, the proto method name, or a
   * predicate) are applied, then their connection is dropped before any answer: the client sees a
   * reset, as when a response is lost on the network, and must retry (with the same request id).
   */
  loseResponse(match: string | ((r: LoggedRequest) => boolean), times = 1): void {
    this.lose.push({ match, left: times });
  }

  private shouldLose(entry: LoggedRequest): boolean {
    const rule = this.lose.find(
      (l) =>
        l.left > 0 &&
        (typeof l.match === 'function' ? l.match(entry) : l.match === entry.rpc || l.match === entry.protoRpc),
    );
    if (rule) rule.left--;
    return !!rule;
  }

  count(method: string, pathPattern: RegExp): number {
    return this.log.filter((r) => !r.faulted && r.method === method && pathPattern.test(r.path)).length;
  }

  /**
   * Every request that asks for a change (any HTTP method but GET: creates, inserts, job actions,
   * cancels, deletes, validateOnly creates) and reached a route, in arrival order. Injected faults
   * are left out: they never reach the API; so are requests answered from the request-id memory
   * (nothing was applied). Requests the handler refused are listed too (they were sent); what took
   * effect is `effects()`.
   * Reads and operation polls are GETs, so never listed.
   */
  changes(from = 0): RecordedCall[] {
    return this.changesWhere(from, () => true);
  }

  /** The changes that took effect: applied by a handler (answered 2xx, or its answer lost), not refused. */
  effects(from = 0): RecordedCall[] {
    return this.changesWhere(from, (r) => !r.refused && (!!r.lost || (r.status !== undefined && r.status < 300)));
  }

  private changesWhere(from: number, keep: (r: LoggedRequest) => boolean): RecordedCall[] {
    return (
      this.log
        .slice(from)
        // testIamPermissions and Compute's advice are POSTs that change nothing (reads).
        .filter((r) => r.method !== 'GET' && !r.faulted && !r.deduplicated && r.rpc && !READ_POSTS.test(r.rpc))
        .filter(keep)
        .map((r) => ({ method: r.rpc!, resource: r.resource!, ...(r.validateOnly ? { validateOnly: true } : {}) }))
    );
  }

  async start(): Promise<{ host: string; port: number; protocol: 'http' }> {
    // Parse the protos now (about 3 s, once per process) rather than inside a client's first call,
    // and load the DMS definition every request is matched against: a definition that cannot be
    // loaded fails start() at once, not each request after a client's retries.
    if (this.strict) bindings();
    this.dmsDiscovery();
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.crashed(res, err));
    });
    await new Promise<void>((ok) => this.server!.listen(0, '127.0.0.1', ok));
    return { host: '127.0.0.1', port: (this.server.address() as AddressInfo).port, protocol: 'http' };
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((ok) => this.server?.close(ok));
  }

  /**
   * One request, in order: it is logged, faults are injected, its body is read (read-body.ts) and
   * checked against Google's definitions (check-definitions.ts), and it is dispatched to its route.
   */
  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake');
    const entry: LoggedRequest = {
      method: req.method ?? 'GET',
      path: decodeURIComponent(url.pathname),
      query: url.search,
    };
    this.log.push(entry);
    // Errors take google.rpc's shape until the request is known to be an API's with another.
    let shape: ErrorShape = { style: 'rpc' };
    const send = (r: Reply) => {
      entry.status = r.status;
      res.writeHead(r.status, { 'content-type': r.raw?.contentType ?? 'application/json' });
      res.end(r.raw ? r.raw.data : JSON.stringify(r.body));
    };
    const fail = (e: ApiError) => {
      const { status: canonical, ...opts } = e.opts;
      const body = errorBody(shape.style, {
        httpStatus: e.status,
        message: e.message,
        status: canonical,
        domain: shape.domain,
        ...opts,
      });
      send({ status: e.status, body });
    };
    if (this.faults.slowRate && this.random() < this.faults.slowRate)
      await new Promise((r) => setTimeout(r, this.faults.slowMs));
    if (this.faults.rate && this.random() < this.faults.rate) {
      entry.faulted = this.random() < 0.5 ? 429 : 503;
      // The transient answers Google's APIs give, RESOURCE_EXHAUSTED and UNAVAILABLE, to be retried
      // (https://cloud.google.com/apis/design/errors#handling_errors).
      return fail(
        new ApiError(
          entry.faulted,
          entry.faulted === 429 ? 'Quota exceeded (injected)' : 'Service unavailable (injected)',
        ),
      );
    }
    // Cloud Storage uploads carry data, not JSON (read-body.ts); its errors have the v1 shape
    // (https://cloud.google.com/storage/docs/json_api/v1/status-codes).
    const storage = isStoragePath(url.pathname);
    if (storage) shape = { style: 'v1' };
    const read = readBody(url, req.headers['content-type'] ?? '', chunks, storage);
    if (read.refusal) return fail(read.refusal);
    const { body, media } = read;
    const ctx: Ctx = { method: entry.method, path: entry.path, params: [], query: url.searchParams, body, media };
    const checked = checkAgainstDefinitions(
      { method: entry.method, path: entry.path, rawPath: url.pathname, query: url.searchParams, body, storage },
      { strict: this.strict, dmsDefinition: this.dmsDefinition },
    );
    if (checked.errors) shape = checked.errors;
    Object.assign(ctx, checked.matched);
    if (checked.matched.protoRpc !== undefined) entry.protoRpc = checked.matched.protoRpc;
    if (checked.violations) entry.violations = checked.violations;
    if (checked.refusal) return fail(checked.refusal);
    this.dispatch(ctx, entry, res, send, fail);
  }

  /**
   * Runs the route that serves the request, unless the request id was seen within the window (its
   * earlier answer is replayed), and answers, or drops the answer as `loseResponse` asks.
   */
  private dispatch(
    ctx: Ctx,
    entry: LoggedRequest,
    res: http.ServerResponse,
    send: (r: Reply) => void,
    fail: (e: ApiError) => void,
  ): void {
    const route = this.routes.find((r) => r.method === entry.method && r.pattern.test(entry.path));
    // Not a Google rule: a method Google defines that the fake does not serve says so with
    // UNIMPLEMENTED (google/rpc/code.proto) rather than passing for Google's answer.
    if (!route)
      return fail(
        ApiError.of('UNIMPLEMENTED', `fake: ${entry.protoRpc ?? `${entry.method} ${entry.path}`} is not served`),
      );
    ctx.params = entry.path.match(route.pattern)!.slice(1);
    entry.rpc = route.rpc;
    entry.resource = resourceOf(route.rpc, ctx);
    if (ctx.query.get('validateOnly') === 'true') entry.validateOnly = true;
    const key = this.dedupeKey(ctx);
    const earlier = this.remembered(key);
    let reply: Reply;
    if (earlier) {
      entry.deduplicated = true;
      this.deduplicated.push({
        api: ctx.api ?? 'unknown',
        requestId: key!.split('/').slice(1).join('/'),
        rpc: route.rpc,
        path: entry.path,
        at: this.now(),
      });
      reply = earlier;
    } else {
      try {
        reply = route.handler(ctx);
        this.remember(key, reply);
      } catch (err) {
        // The fake's own fault (not a Google answer): a 500 "fake: internal error".
        if (!(err instanceof ApiError)) return this.crashed(res, err);
        // Refused: nothing was applied, whether or not its answer is then lost.
        entry.refused = true;
        if (this.shouldLose(entry)) return this.drop(entry, res);
        return fail(err);
      }
    }
    if (this.shouldLose(entry)) return this.drop(entry, res);
    send(reply);
  }

  /**
   * Any error the fake itself throws answers the request: 500 with the error, so the client and
   * the test see it, instead of a request that is never answered and a test that waits for its
   * timeout.
   */
  private crashed(res: http.ServerResponse, err: unknown): void {
    const message = `fake: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
    process.stderr.write(`${message}\n`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify(errorBody('rpc', { httpStatus: 500, message, status: 'INTERNAL' })));
  }

  /** Closes the connection without an answer (the request's effect, if any, stays applied). */
  private drop(entry: LoggedRequest, res: http.ServerResponse): void {
    entry.lost = true;
    res.socket?.destroy();
  }
}

export const ok = (body: unknown): Reply => ({ status: 200, body });

export function renderOp(op: FakeOp): unknown {
  if (op.kind === 'sql')
    return {
      kind: 'sql#operation',
      name: op.name,
      status: op.done ? 'DONE' : 'RUNNING',
      ...(op.error ? { error: { errors: [{ code: 'FAILED', message: op.error }] } } : {}),
    };
  if (op.kind === 'compute')
    return {
      kind: 'compute#operation',
      name: op.name,
      zone: op.zone,
      status: op.done ? 'DONE' : 'RUNNING',
      ...(op.error ? { error: { errors: [{ code: 'FAILED', message: op.error }] } } : {}),
    };
  const response = { '@type': op.typeUrl ?? 'type.googleapis.com/google.protobuf.Empty' };
  return {
    name: op.name,
    done: op.done,
    ...(op.done && op.error ? { error: { code: 9, message: op.error } } : {}),
    ...(op.done && !op.error ? { response } : {}),
  };
}
