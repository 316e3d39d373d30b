// Local stand-ins for the notification vendors, each enforcing the vendor's documented request and
// answering the way the vendor does, so a notifier that passes here sends what the vendor accepts:
// - Slack incoming webhook: POST JSON {text | blocks}; 200 "ok", 400 invalid_payload / no_text,
//   404 no_service for an unknown hook (api.slack.com/messaging/webhooks, changelog 2016-05-17).
// - PagerDuty Events API v2: POST /v2/enqueue; required fields, enums, limits; 202 {status, message,
//   dedup_key}, 400 {status: "invalid event", message, errors} (developer.pagerduty.com, events-api-v2).
// - A signed webhook: checks X-Dbmig-Signature (HMAC-SHA256 over `${timestamp}.${body}`), written here
//   independently of the notifier's own signing code.
// - SMTP: smtp-server with AUTH (PLAIN/LOGIN) checking user and password, no TLS (loopback only).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Answer {
  status: number;
  body: string;
  contentType?: string;
}

/** What a receiver does with the next requests, besides checking them: answer like the vendor, or fail. */
export interface Failing {
  /** Answer every request with this, until cleared (undefined). */
  failWith?: Answer;
}

interface HttpReceiver extends Failing {
  port: number;
  /** Every request that reached the handler (after failWith), in order. */
  requests: { path: string; headers: IncomingMessage['headers']; body: string }[];
  close(): Promise<void>;
}

async function listen(
  handle: (path: string, headers: IncomingMessage['headers'], body: string) => Answer,
): Promise<HttpReceiver> {
  const r: HttpReceiver = {
    port: 0,
    requests: [],
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let a: Answer;
      if (r.failWith) a = r.failWith;
      else if (req.method !== 'POST') a = { status: 405, body: 'method_not_allowed' };
      else {
        r.requests.push({ path: req.url ?? '', headers: req.headers, body });
        a = handle(req.url ?? '', req.headers, body);
      }
      res.writeHead(a.status, { 'content-type': a.contentType ?? 'text/plain' });
      res.end(a.body);
    });
  });
  server.keepAliveTimeout = 100;
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  r.port = (server.address() as AddressInfo).port;
  const close = r.close;
  r.close = () => {
    server.closeAllConnections();
    return close();
  };
  return r;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const json = (status: number, body: object): Answer => ({
  status,
  body: JSON.stringify(body),
  contentType: 'application/json',
});

// ─── Slack ────────────────────────────────────────────────────────────────────────────────────────

export interface SlackReceiver extends HttpReceiver {
  /** The incoming webhook's URL: the secret the plan refers to. */
  url: string;
  messages: { text?: string; blocks?: unknown[] }[];
}

/** Block Kit limits for the blocks the notifier uses (api.slack.com/reference/block-kit/blocks). */
function slackBlockError(b: unknown): string | undefined {
  if (!isObject(b) || typeof b.type !== 'string') return 'invalid_blocks';
  const t = b.text;
  if (b.type === 'header')
    return isObject(t) && t.type === 'plain_text' && typeof t.text === 'string' && t.text.length <= 150
      ? undefined
      : 'invalid_blocks';
  if (b.type === 'section')
    return isObject(t) &&
      (t.type === 'mrkdwn' || t.type === 'plain_text') &&
      typeof t.text === 'string' &&
      t.text.length > 0 &&
      t.text.length <= 3000
      ? undefined
      : 'invalid_blocks';
  return ['divider', 'context', 'actions', 'image', 'rich_text'].includes(b.type) ? undefined : 'invalid_blocks';
}

export async function startSlackReceiver(): Promise<SlackReceiver> {
  const path = `/services/T0DBMIG00/B0NOTIFY0/${Math.random().toString(36).slice(2, 14)}`;
  const messages: SlackReceiver['messages'] = [];
  const r = await listen((p, headers, body) => {
    if (p !== path) return { status: 404, body: 'no_service' };
    if (!String(headers['content-type']).startsWith('application/json'))
      return { status: 400, body: 'invalid_payload' };
    let m: unknown;
    try {
      m = JSON.parse(body);
    } catch {
      return { status: 400, body: 'invalid_payload' };
    }
    if (!isObject(m)) return { status: 400, body: 'invalid_payload' };
    const hasText = typeof m.text === 'string' && m.text.trim().length > 0;
    if (m.blocks !== undefined) {
      if (!Array.isArray(m.blocks) || m.blocks.length > 50) return { status: 400, body: 'invalid_blocks' };
      const bad = m.blocks.map(slackBlockError).find(Boolean);
      if (bad) return { status: 400, body: bad };
    }
    if (!hasText && !(Array.isArray(m.blocks) && m.blocks.length)) return { status: 400, body: 'no_text' };
    messages.push(m as SlackReceiver['messages'][number]);
    return { status: 200, body: 'ok' };
  });
  return Object.assign(r, { url: `http://127.0.0.1:${r.port}${path}`, messages });
}

// ─── PagerDuty ────────────────────────────────────────────────────────────────────────────────────

export interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key?: string;
  payload?: {
    summary: string;
    source: string;
    severity: 'critical' | 'error' | 'warning' | 'info';
    timestamp?: string;
    component?: string;
    group?: string;
    class?: string;
    custom_details?: Record<string, unknown>;
  };
  links?: { href: string; text?: string }[];
  images?: { src: string; href?: string; alt?: string }[];
  client?: string;
  client_url?: string;
}

export interface PagerDutyReceiver extends HttpReceiver {
  url: string;
  /** Every accepted event. */
  events: PagerDutyEvent[];
  /** Alerts by dedup_key: open until resolved; `triggers` counts the triggers folded into each. */
  alerts: Map<string, { open: boolean; triggers: number; severity: string }>;
  /** How many alerts were opened: how many times someone was paged. */
  opened: number;
}

const TOP_KEYS = new Set([
  'routing_key',
  'event_action',
  'dedup_key',
  'payload',
  'images',
  'links',
  'client',
  'client_url',
]);
const PAYLOAD_KEYS = new Set([
  'summary',
  'source',
  'severity',
  'timestamp',
  'component',
  'group',
  'class',
  'custom_details',
]);
const SEVERITIES = ['critical', 'error', 'warning', 'info'];

/** The Events API v2 rules (developer.pagerduty.com/docs/events-api-v2/trigger-events/): what is wrong, or []. */
export function pagerDutyErrors(e: unknown, routingKey: string): string[] {
  if (!isObject(e)) return ['Event object is not an object'];
  const errs: string[] = [];
  for (const k of Object.keys(e)) if (!TOP_KEYS.has(k)) errs.push(`'${k}' is not a recognized field`);
  if (typeof e.routing_key !== 'string' || e.routing_key.length !== 32)
    errs.push("'routing_key' must be 32 characters");
  else if (e.routing_key !== routingKey) errs.push("'routing_key' is not an integration key of this account");
  if (!['trigger', 'acknowledge', 'resolve'].includes(e.event_action as string))
    errs.push("'event_action' must be one of trigger, acknowledge, resolve");
  if (e.dedup_key !== undefined && (typeof e.dedup_key !== 'string' || e.dedup_key.length > 255 || !e.dedup_key))
    errs.push("'dedup_key' must be a string of at most 255 characters");
  if (e.event_action !== 'trigger') {
    if (typeof e.dedup_key !== 'string') errs.push(`'dedup_key' is required for ${String(e.event_action)}`);
    return errs;
  }
  const p = e.payload;
  if (!isObject(p)) return [...errs, "'payload' is required"];
  for (const k of Object.keys(p)) if (!PAYLOAD_KEYS.has(k)) errs.push(`'payload.${k}' is not a recognized field`);
  if (typeof p.summary !== 'string' || !p.summary || p.summary.length > 1024)
    errs.push("'payload.summary' is required, at most 1024 characters");
  if (typeof p.source !== 'string' || !p.source) errs.push("'payload.source' is required");
  if (!SEVERITIES.includes(p.severity as string))
    errs.push("'payload.severity' must be critical, error, warning or info");
  if (p.timestamp !== undefined && (typeof p.timestamp !== 'string' || Number.isNaN(Date.parse(p.timestamp))))
    errs.push("'payload.timestamp' must be an ISO 8601 timestamp");
  for (const k of ['component', 'group', 'class'])
    if (p[k] !== undefined && typeof p[k] !== 'string') errs.push(`'payload.${k}' must be a string`);
  if (p.custom_details !== undefined && !isObject(p.custom_details))
    errs.push("'payload.custom_details' must be an object");
  if (
    e.links !== undefined &&
    (!Array.isArray(e.links) || e.links.some((l) => !isObject(l) || typeof l.href !== 'string'))
  )
    errs.push("'links' must be objects with an 'href'");
  if (
    e.images !== undefined &&
    (!Array.isArray(e.images) || e.images.some((i) => !isObject(i) || typeof i.src !== 'string'))
  )
    errs.push("'images' must be objects with a 'src'");
  return errs;
}

export async function startPagerDutyReceiver(routingKey: string): Promise<PagerDutyReceiver> {
  const events: PagerDutyEvent[] = [];
  const alerts: PagerDutyReceiver['alerts'] = new Map();
  const r = await listen((path, _headers, body) => {
    if (path !== '/v2/enqueue') return json(404, { status: 'not found' });
    if (Buffer.byteLength(body) > 512 * 1024) return json(413, { status: 'invalid event', message: 'too large' });
    let e: unknown;
    try {
      e = JSON.parse(body);
    } catch {
      return json(400, { status: 'invalid event', message: 'Event object is invalid', errors: ['Invalid JSON'] });
    }
    const errors = pagerDutyErrors(e, routingKey);
    if (errors.length) return json(400, { status: 'invalid event', message: 'Event object is invalid', errors });
    const ev = e as PagerDutyEvent;
    const key = ev.dedup_key ?? `pd-${events.length}-${Date.now()}`;
    events.push(ev);
    const alert = alerts.get(key);
    if (ev.event_action === 'trigger') {
      if (alert?.open) alert.triggers++;
      else {
        alerts.set(key, { open: true, triggers: 1, severity: ev.payload!.severity });
        out.opened++;
      }
    } else if (ev.event_action === 'resolve' && alert) alert.open = false;
    return json(202, { status: 'success', message: 'Event processed', dedup_key: key });
  });
  const out: PagerDutyReceiver = Object.assign(r, {
    url: `http://127.0.0.1:${r.port}/v2/enqueue`,
    events,
    alerts,
    opened: 0,
  });
  return out;
}

// ─── Signed webhook ───────────────────────────────────────────────────────────────────────────────

export interface WebhookReceiver extends HttpReceiver {
  url: string;
  /** Verified deliveries, one per X-Dbmig-Delivery (a repeat is acknowledged, not stored again). */
  deliveries: Map<string, { event: string; body: Record<string, unknown>; times: number }>;
  refused: number;
}

export async function startWebhookReceiver(secret: string): Promise<WebhookReceiver> {
  const deliveries: WebhookReceiver['deliveries'] = new Map();
  const r = await listen((path, headers, body) => {
    if (path !== '/hooks/dbmig') return { status: 404, body: 'not found' };
    const ts = String(headers['x-dbmig-timestamp'] ?? '');
    const sig = String(headers['x-dbmig-signature'] ?? '');
    const expected = `sha256=${createHmac('sha256', secret).update(`${ts}.${body}`, 'utf8').digest('hex')}`;
    const fresh = /^\d+$/.test(ts) && Math.abs(Date.now() / 1000 - Number(ts)) <= 300;
    const ok = fresh && sig.length === expected.length && timingSafeEqual(Buffer.from(sig), Buffer.from(expected));
    if (!ok) {
      out.refused++;
      return { status: 401, body: 'bad signature' };
    }
    const id = String(headers['x-dbmig-delivery'] ?? '');
    const parsed = JSON.parse(body) as Record<string, unknown>;
    if (!id || parsed.id !== id) return { status: 400, body: 'delivery id missing or not the body id' };
    const seen = deliveries.get(id);
    if (seen) seen.times++;
    else deliveries.set(id, { event: String(headers['x-dbmig-event']), body: parsed, times: 1 });
    return { status: 204, body: '' };
  });
  const out: WebhookReceiver = Object.assign(r, {
    url: `http://127.0.0.1:${r.port}/hooks/dbmig`,
    deliveries,
    refused: 0,
  });
  return out;
}

// ─── SMTP ─────────────────────────────────────────────────────────────────────────────────────────

export interface ReceivedMail {
  envelope: { from: string; to: string[] };
  user?: string;
  headers: Map<string, string>;
  subject: string;
  messageId: string;
  text: string;
}

export interface SmtpReceiver extends Failing {
  port: number;
  mails: ReceivedMail[];
  /** Failed logins. */
  refusedLogins: number;
  close(): Promise<void>;
}

/** The body of a single-part message, decoded from its Content-Transfer-Encoding. */
function decodeBody(body: string, encoding: string | undefined): string {
  const enc = (encoding ?? '7bit').toLowerCase();
  if (enc === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (enc === 'quoted-printable') return qp(body.replace(/=\r?\n/g, ''));
  return body;
}

/** Quoted-printable (RFC 2045 §6.7) to text: =XX are the bytes of UTF-8. */
function qp(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const hex = s.slice(i + 1, i + 3);
    if (s[i] === '=' && /^[0-9A-F]{2}$/i.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(s.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** RFC 2047 encoded words (=?UTF-8?Q?...?= / ?B?) in a header. */
function decodeWords(v: string): string {
  return v.replace(/=\?utf-8\?([QB])\?([^?]*)\?=\s*/gi, (_, kind: string, text: string) =>
    kind.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : qp(text.replace(/_/g, ' ')),
  );
}

export function parseMail(raw: string): { headers: Map<string, string>; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), decodeWords(line.slice(i + 1).trim()));
  }
  const text = decodeBody(raw.slice(split + 4), headers.get('content-transfer-encoding')).replace(/\r\n/g, '\n');
  return { headers, text: text.replace(/\n$/, '') };
}

export async function startSmtpReceiver(user: string, password: string, host = '127.0.0.1'): Promise<SmtpReceiver> {
  const r: SmtpReceiver = { port: 0, mails: [], refusedLogins: 0, close: async () => {} };
  const server = new SMTPServer({
    // Plain SMTP on loopback: what the notifier allows only there.
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === user && auth.password === password) return cb(null, { user: auth.username });
      r.refusedLogins++;
      return cb(new Error('Invalid username or password'));
    },
    onMailFrom(_address, session, cb) {
      if (!session.user) return cb(Object.assign(new Error('Authentication required'), { responseCode: 530 }));
      if (r.failWith) return cb(Object.assign(new Error(r.failWith.body), { responseCode: r.failWith.status }));
      return cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const { headers, text } = parseMail(Buffer.concat(chunks).toString('utf8'));
        r.mails.push({
          envelope: {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((t) => t.address),
          },
          user: session.user as string | undefined,
          headers,
          subject: headers.get('subject') ?? '',
          messageId: headers.get('message-id') ?? '',
          text,
        });
        cb();
      });
    },
  });
  await new Promise<void>((ok) => server.listen(0, host, () => ok()));
  r.port = (server.server.address() as AddressInfo).port;
  r.close = () => new Promise<void>((done) => server.close(() => done()));
  return r;
}

/** The plan's channel to the receiver startWebhookChannel started (the secrets it put in the environment). */
export const TEST_HOOK_CHANNEL = {
  type: 'webhook',
  urlRef: 'env:DBMIG_TEST_HOOK_URL',
  secretRef: 'env:DBMIG_TEST_HOOK_SECRET',
} as const;

/**
 * A signed webhook receiver for a worker in this process, which TEST_HOOK_CHANNEL reaches: its URL
 * and secret are put in DBMIG_TEST_HOOK_URL and DBMIG_TEST_HOOK_SECRET, and DBMIG_ALLOWED_SECRETS
 * lets the worker read every env:DBMIG_TEST_* secret the test sets (these, a migration user's password).
 */
export async function startWebhookChannel(secret: string): Promise<WebhookReceiver> {
  const hook = await startWebhookReceiver(secret);
  process.env.DBMIG_TEST_HOOK_URL = hook.url;
  process.env.DBMIG_TEST_HOOK_SECRET = secret;
  process.env.DBMIG_ALLOWED_SECRETS = 'env:DBMIG_TEST_*';
  return hook;
}
