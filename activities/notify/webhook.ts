// Generic webhook: POST a JSON event to the receiver's URL, signed with a shared secret, in the
// scheme Stripe and Slack use for theirs (a timestamp inside the signed text, so a captured request
// cannot be replayed later with a fresh timestamp).
//
//   X-Dbmig-Timestamp: <unix seconds>
//   X-Dbmig-Signature: sha256=<hex HMAC-SHA256(secret, `${timestamp}.${raw body}`)>
//   X-Dbmig-Delivery:  <stable delivery id: the same on every retry and re-run; dedupe on it>
//   X-Dbmig-Event:     <event name>
//
// A receiver verifies before it parses:
//   1. read the raw body bytes (not a re-serialised JSON: any change of whitespace breaks the HMAC);
//   2. refuse when |now - timestamp| > 5 minutes (replay);
//   3. compute the HMAC over `${timestamp}.${body}` with the secret and compare it to the header's
//      hex with a constant-time comparison (crypto.timingSafeEqual, hmac.compare_digest);
//   4. then treat X-Dbmig-Delivery it has already seen as a duplicate and answer 2xx.
// verifyWebhookSignature() below is that check, for receivers written in TypeScript (and the tests).
// Prior art: https://docs.stripe.com/webhooks#verify-manually,
// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ChannelConfig } from '../../common/notify-plan';
import { ChannelError, excerpt, postJson, transientStatus, type ChannelSender, type Delivery } from './channel';

type WebhookConfig = Extract<ChannelConfig, { type: 'webhook' }>;

/** How old a signed timestamp a receiver accepts. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The receiver's check: whether `signature` signs `body` at `timestamp` and the timestamp is recent. */
export function verifyWebhookSignature(
  secret: string,
  headers: { timestamp?: string; signature?: string },
  body: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): boolean {
  const { timestamp, signature } = headers;
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > WEBHOOK_TOLERANCE_SECONDS) return false;
  const expected = Buffer.from(webhookSignature(secret, timestamp, body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function webhookBody(d: Delivery): string {
  const { input, message } = d;
  return JSON.stringify({
    id: d.id,
    event: input.event,
    migrationId: input.migrationId,
    database: input.database ?? null,
    occurredAt: d.occurredAt,
    severity: message.severity,
    title: message.title,
    text: message.text,
    link: message.link.href,
    facts: input.facts,
  });
}

export const sendWebhook: ChannelSender<WebhookConfig> = async (config, d) => {
  const [url, secret] = [await d.secret(config.urlRef), await d.secret(config.secretRef)];
  const body = webhookBody(d);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const res = await postJson(
    url,
    undefined,
    d.signal,
    {
      'x-dbmig-timestamp': timestamp,
      'x-dbmig-signature': webhookSignature(secret, timestamp, body),
      'x-dbmig-delivery': d.id,
      'x-dbmig-event': d.input.event,
    },
    body,
  );
  if (res.status >= 200 && res.status < 300) return;
  throw new ChannelError(
    `the webhook answered HTTP ${res.status}: ${excerpt(res.body) || '(no body)'}`,
    !transientStatus(res.status),
  );
};
