// The notifier activity: tells every channel an event is routed to, once. Channels that took the
// event go into the heartbeat details, so Temporal's retry of a partly failed notify sends only to
// the rest; each delivery carries a stable id, so a receiver that dedupes never pages twice. Secrets
// are resolved here, per send, and appear in no log, result or error.
import { Context, log } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MigrationError } from '../../common/failures';
import { buildMessage, deliveryId, type NotifyInput, type NotifyResult } from '../../common/notify-message';
import { channelsFor, type ChannelConfig } from '../../common/notify-plan';
import { resolveSecret, type SecretContext } from '../secrets';
import { ChannelError, SEND_TIMEOUT_MS, type ChannelSender, type Delivery } from './channel';
import { sendEmail } from './email';
import { sendPagerDuty } from './pagerduty';
import { sendSlack } from './slack';
import { sendWebhook } from './webhook';

export type { NotifyInput, NotifyResult } from '../../common/notify-message';
export { verifyWebhookSignature, webhookSignature } from './webhook';

/** The failure type of a notify that some channel did not take, and may take on a retry. */
export const NOTIFY_FAILED = 'NotifyFailed';
/**
 * The failure type when every channel that failed cannot succeed unchanged: an unknown channel, a
 * secret the worker cannot resolve, a vendor refusing the request as such (4xx, bad credentials).
 */
export const NOTIFY_MISCONFIGURED = 'NotifyMisconfigured';

const SENDERS: { [T in ChannelConfig['type']]: ChannelSender<Extract<ChannelConfig, { type: T }>> } = {
  slack: sendSlack,
  pagerduty: sendPagerDuty,
  email: sendEmail,
  webhook: sendWebhook,
};

/** What notify heartbeats: the channels that have the event, and when it happened (kept across retries). */
export interface NotifyProgress {
  delivered: string[];
  occurredAt?: string;
}

export interface NotifierOptions {
  /** For secret schemes that need it (gcpsm: short names take the plan's project). */
  secretContext?: SecretContext;
}

interface ChannelFailure {
  channel: string;
  reason: string;
  permanent: boolean;
}

function progressBefore(details: unknown): { delivered: Set<string>; occurredAt?: string } {
  const d = details as Partial<NotifyProgress> | undefined;
  return {
    delivered: new Set(Array.isArray(d?.delivered) ? d.delivered.filter((c) => typeof c === 'string') : []),
    ...(typeof d?.occurredAt === 'string' ? { occurredAt: d.occurredAt } : {}),
  };
}

/** Every resolved value out of a text: the last guard, should a vendor or library echo one back. */
function redact(text: string, secrets: Set<string>): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

function failureOf(channel: string, err: unknown): ChannelFailure {
  if (err instanceof ChannelError) return { channel, reason: err.message, permanent: err.permanent };
  if (err instanceof MigrationError)
    return { channel, reason: `${err.type}: ${err.message}`, permanent: !err.retryable };
  return { channel, reason: (err as Error)?.message ?? String(err), permanent: false };
}

export function createNotifier(options: NotifierOptions = {}) {
  /**
   * Sends `input.event` to every channel channelsFor() routes it to. Returns the channels that have
   * it; throws when one did not: retryable unless every failure is one a retry cannot fix (a vendor's
   * 4xx, a missing secret, an unknown channel).
   */
  async function notify(input: NotifyInput): Promise<NotifyResult> {
    const ctx = Context.current();
    const targets = channelsFor(input.notifications, input.event);
    const before = progressBefore(ctx.info.heartbeatDetails);
    const delivered = targets.filter((c) => before.delivered.has(c));
    const pending = targets.filter((c) => !before.delivered.has(c));
    const where = `${input.migrationId}${input.database ? `/${input.database}` : ''}`;
    if (pending.length === 0) return { delivered };

    const secrets = new Set<string>();
    const secret = async (ref: string) => {
      const value = await resolveSecret(ref, options.secretContext);
      secrets.add(value);
      return value;
    };
    // A retry says the time of the first attempt: receivers see one event, not one per attempt.
    const occurredAt = input.occurredAt ?? before.occurredAt ?? new Date().toISOString();
    const message = buildMessage(
      { ...input, occurredAt },
      { namespace: ctx.info.workflowNamespace ?? ctx.info.activityNamespace, now: Date.now() },
    );
    const base = { input, message, id: deliveryId(input), occurredAt, secret };
    const failures: ChannelFailure[] = [];
    const beat = () => ctx.heartbeat({ delivered: [...delivered], occurredAt } satisfies NotifyProgress);
    beat();

    await Promise.all(
      pending.map(async (channel) => {
        const config = input.notifications.channels[channel];
        if (!config) {
          failures.push({ channel, reason: 'no such channel in notifications.channels', permanent: true });
          return;
        }
        // A controller and a timer of our own: Node 20's AbortSignal.any over AbortSignal.timeout
        // can be garbage-collected before it fires, and then a silent receiver holds the send for
        // undici's 300 s instead of SEND_TIMEOUT_MS (seen in CI under load).
        const abort = new AbortController();
        const timer = setTimeout(
          () => abort.abort(new DOMException('send timed out', 'TimeoutError')),
          SEND_TIMEOUT_MS,
        );
        const onCancel = () => abort.abort(ctx.cancellationSignal.reason);
        ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
        const delivery: Delivery = { ...base, signal: abort.signal };
        try {
          await (SENDERS[config.type] as ChannelSender)(config, delivery);
          delivered.push(channel);
          beat();
        } catch (err) {
          failures.push(failureOf(channel, err));
        } finally {
          clearTimeout(timer);
          ctx.cancellationSignal.removeEventListener('abort', onCancel);
        }
      }),
    );

    if (ctx.cancellationSignal.aborted) throw new CancelledFailure('notify was cancelled');
    const sent = targets.filter((c) => delivered.includes(c));
    if (failures.length === 0) {
      log.info('notified', { event: input.event, migration: where, channels: sent });
      return { delivered: sent };
    }
    failures.sort((a, b) => targets.indexOf(a.channel) - targets.indexOf(b.channel));
    const nonRetryable = failures.every((f) => f.permanent);
    const text = redact(
      `notify ${input.event} for ${where}: ` +
        failures.map((f) => `channel ${f.channel} failed: ${f.reason}`).join('; ') +
        (sent.length ? ` (delivered to ${sent.join(', ')})` : ''),
      secrets,
    );
    throw ApplicationFailure.create({
      type: nonRetryable ? NOTIFY_MISCONFIGURED : NOTIFY_FAILED,
      message: text,
      nonRetryable,
      details: [{ failed: failures.map((f) => f.channel), delivered: sent }],
    });
  }

  return { notify };
}
