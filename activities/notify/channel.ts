// What every channel shares: the send signature, the one error type a failed send throws, and an
// HTTP POST whose failures name the status and the vendor's words, never the URL (a Slack webhook's
// URL is its secret) or a key.
import type { ChannelConfig } from '../../common/notify-plan';
import type { NotifyInput, NotifyMessage } from '../../common/notify-message';
import { MigrationError } from '../../common/failures';
import { ALLOWED_HOSTS_VAR, hostAllowed, secretPolicy } from '../secrets';

/** Every send gives up after this long; the activity's retry tries again. */
export const SEND_TIMEOUT_MS = 10_000;

export interface Delivery {
  input: NotifyInput;
  message: NotifyMessage;
  /** The stable id of this event's delivery (deliveryId()). */
  id: string;
  /** When the event happened (ISO). */
  occurredAt: string;
  /** Resolves a secret reference; the value must go nowhere but the request. */
  secret: (ref: string) => Promise<string>;
  /** Aborts on timeout or the activity's cancellation. */
  signal: AbortSignal;
}

export type ChannelSender<C extends ChannelConfig = ChannelConfig> = (config: C, delivery: Delivery) => Promise<void>;

/**
 * A send that failed. `permanent`: the vendor refused the request as such (4xx other than 408/429,
 * bad credentials), so the same request cannot succeed on a retry.
 */
export class ChannelError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'ChannelError';
  }
}

/**
 * The plan names some destinations itself (the SMTP relay, PagerDuty's URL override) and a secret
 * that goes there: like a source's password, it goes only to a host the worker's operator allows.
 */
export function checkDestination(host: string, what: string): void {
  const { hosts } = secretPolicy();
  if (hostAllowed(host, hosts)) return;
  throw new MigrationError(
    'SecretUnavailable',
    `${what} ${host} is not allowed on this worker, so no secret is sent to it: add it (or a pattern like ` +
      `*.example.com) to ${ALLOWED_HOSTS_VAR} on the worker (now: ${hosts.join(',')})`,
  );
}

/** HTTP statuses a vendor answers for a request that may pass later (rate limits, its own trouble). */
export function transientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Why a request did not get an answer, in words that name no URL (fetch's own messages may). */
export function networkReason(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) {
    const r = signal.reason as Error | undefined;
    return r?.name === 'TimeoutError' ? `no answer within ${SEND_TIMEOUT_MS / 1000} s` : 'cancelled';
  }
  const cause = (err as { cause?: { code?: string } }).cause;
  return `no connection (${cause?.code ?? (err as Error).name ?? 'network error'})`;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

export async function postJson(
  url: string,
  payload: unknown,
  signal: AbortSignal,
  headers: Record<string, string> = {},
  body: string = JSON.stringify(payload),
): Promise<HttpAnswer> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'dbmig-notifier', ...headers },
      body,
      signal,
      redirect: 'error',
    });
  } catch (err) {
    throw new ChannelError(networkReason(err, signal), false);
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw new ChannelError(networkReason(err, signal), false);
  }
  return { status: res.status, body: text };
}

/** The start of a vendor's answer, on one line, for an error message. */
export function excerpt(text: string, max = 200): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}
