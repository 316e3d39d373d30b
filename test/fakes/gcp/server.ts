// A local HTTP fake of exactly the Google Cloud REST endpoints the gcp platform calls. It keeps
// resources and long-running operations, honours request ids, and can inject 429/503 answers
// and slow answers. The real client libraries are pointed at it. Every route names the API method
// it serves (its id in the service's discovery document), and every request is logged with that
// method and the resource it acts on, so a test can compare what was sent with what was planned.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

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
}

export type Reply = { status: number; body: unknown };
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
  const verb = rpc.split('.').pop()!;
  const bare = ctx.path.replace(/^\/(compute\/)?v\d+\//, '').replace(/:[A-Za-z]+$/, '');
  if (verb === 'create' || verb === 'insert') {
    const id = [...ctx.query.entries()].find(([k]) => k.endsWith('Id') && k !== 'requestId')?.[1] ?? ctx.body?.name;
    return `${bare}/${id}`;
  }
  return ctx.method === 'POST' && bare.endsWith(`/${verb}`) ? bare.slice(0, -verb.length - 1) : bare;
}

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

export class ApiError {
  constructor(
    readonly status: number,
    readonly message: string,
  ) {}
}

const STATUS_NAME: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  503: 'UNAVAILABLE',
};

export class FakeGcp {
  readonly resources = new Map<string, any>(); // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly ops = new Map<string, FakeOp>();
  readonly log: LoggedRequest[] = [];
  readonly requestIds = new Map<string, Reply>();
  faults: Faults = { rate: 0, slowRate: 0, slowMs: 0 };
  /** Polls an operation needs before it is done. */
  opPolls = 2;
  private routes: { method: string; pattern: RegExp; rpc: string; handler: Handler }[] = [];
  private server?: http.Server;
  private seed = 42;
  private opCounter = 0;

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
    if (!op) throw new ApiError(404, `operation ${name} not found`);
    if (++op.polls >= this.opPolls) this.complete(op);
    return op;
  }

  /** Replays the answer of an earlier request with the same request id. */
  idempotent(ctx: Ctx, make: () => Reply): Reply {
    const id = ctx.query.get('requestId');
    const key = id ? `${ctx.method} ${ctx.path} ${id}` : undefined;
    if (key && this.requestIds.has(key)) return this.requestIds.get(key)!;
    const reply = make();
    if (key && reply.status < 300) this.requestIds.set(key, reply);
    return reply;
  }

  count(method: string, pathPattern: RegExp): number {
    return this.log.filter((r) => !r.faulted && r.method === method && pathPattern.test(r.path)).length;
  }

  /**
   * Every request that asks for a change (any HTTP method but GET: creates, inserts, job actions,
   * cancels, deletes, validateOnly creates) and reached a route, in arrival order. Injected faults
   * are left out: they never reach the API. Reads and operation polls are GETs, so never listed.
   */
  changes(from = 0): RecordedCall[] {
    return this.log
      .slice(from)
      .filter((r) => r.method !== 'GET' && !r.faulted && r.rpc)
      .map((r) => ({ method: r.rpc!, resource: r.resource!, ...(r.validateOnly ? { validateOnly: true } : {}) }));
  }

  async start(): Promise<{ host: string; port: number; protocol: 'http' }> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((ok) => this.server!.listen(0, '127.0.0.1', ok));
    return { host: '127.0.0.1', port: (this.server.address() as AddressInfo).port, protocol: 'http' };
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((ok) => this.server?.close(ok));
  }

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
    const send = (r: Reply) => {
      entry.status = r.status;
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(r.body));
    };
    const error = (status: number, message: string) =>
      send({ status, body: { error: { code: status, message, status: STATUS_NAME[status] ?? 'UNKNOWN' } } });
    if (this.faults.slowRate && this.random() < this.faults.slowRate)
      await new Promise((r) => setTimeout(r, this.faults.slowMs));
    if (this.faults.rate && this.random() < this.faults.rate) {
      entry.faulted = this.random() < 0.5 ? 429 : 503;
      return error(
        entry.faulted,
        entry.faulted === 429 ? 'Quota exceeded (injected)' : 'Service unavailable (injected)',
      );
    }
    const route = this.routes.find((r) => r.method === entry.method && r.pattern.test(entry.path));
    if (!route) return error(404, `fake: no route for ${entry.method} ${entry.path}`);
    try {
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      const ctx: Ctx = {
        method: entry.method,
        path: entry.path,
        params: entry.path.match(route.pattern)!.slice(1),
        query: url.searchParams,
        body,
      };
      entry.rpc = route.rpc;
      entry.resource = resourceOf(route.rpc, ctx);
      if (url.searchParams.get('validateOnly') === 'true') entry.validateOnly = true;
      send(route.handler(ctx));
    } catch (err) {
      if (err instanceof ApiError) return error(err.status, err.message);
      error(500, String(err));
    }
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
