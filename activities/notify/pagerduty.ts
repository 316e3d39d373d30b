// PagerDuty Events API v2: POST an alert event to /v2/enqueue with the integration's routing key.
// Accepted is 202 {status: "success", message, dedup_key}; 400 is an invalid event (do not retry);
// 429 and 5xx pass later (retry). A trigger with the dedup_key of an open alert adds to it instead of
// paging again, which is what makes a retried or re-run notify safe; a resolve for an alert that is
// not open is dropped, which is what makes resolving on cutover-done safe.
// https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ (fields, limits, dedup)
// https://developer.pagerduty.com/docs/events-api-v2/overview/ (response codes and retry logic)
import { deliveryId, type NotifyEvent, type NotifyInput } from '../../common/notify-message';
import type { ChannelConfig } from '../../common/notify-plan';
import {
  ChannelError,
  checkDestination,
  excerpt,
  postJson,
  transientStatus,
  type ChannelSender,
  type Delivery,
} from './channel';

type PagerDutyConfig = Extract<ChannelConfig, { type: 'pagerduty' }>;

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';
const SUMMARY_MAX = 1024;

/**
 * Events that describe a condition of a database, which stays one PagerDuty alert however often it
 * is told (a second escalation round, a retried database failing again): while the alert is open a
 * trigger adds to it instead of paging again, and PagerDuty's own escalation policy takes it from
 * there. Once someone resolves it, the next trigger opens a new alert.
 */
const CONDITIONS: NotifyEvent[] = [
  'approval-needed',
  'approval-overdue',
  'replication-broken',
  'lag-rising',
  'failure',
];
/** The conditions an event ends: once the target has taken over, none of them needs anyone. */
const RESOLVED_BY: Partial<Record<NotifyEvent, NotifyEvent[]>> = { 'cutover-done': CONDITIONS };

/** The alert an event goes to: one per database and condition, one per delivery for the rest. */
export function pagerDutyDedupKey(
  input: Pick<NotifyInput, 'migrationId' | 'database' | 'event' | 'occurrence'> & { facts?: NotifyInput['facts'] },
) {
  // An anomaly is a condition per kind: its detection opens the alert, its clearing resolves it.
  if (input.event === 'anomaly')
    return `${deliveryId({ ...input, occurrence: undefined })}:${input.facts?.anomaly ?? 'unknown'}`;
  return CONDITIONS.includes(input.event) ? deliveryId({ ...input, occurrence: undefined }) : deliveryId(input);
}

export function pagerDutyTrigger(routingKey: string, d: Delivery) {
  const { input, message } = d;
  const db = input.database;
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: pagerDutyDedupKey(input),
    payload: {
      summary: message.title.length > SUMMARY_MAX ? `${message.title.slice(0, SUMMARY_MAX - 1)}…` : message.title,
      source: db ? `${input.migrationId}/${db}` : input.migrationId,
      severity: message.severity,
      timestamp: d.occurredAt,
      ...(db ? { component: db } : {}),
      group: input.migrationId,
      class: input.event,
      custom_details: { message: message.text, ...input.facts },
    },
    links: [message.link],
    client: 'dbmig',
  };
}

async function enqueue(url: string, event: object, signal: AbortSignal): Promise<void> {
  const res = await postJson(url, event, signal);
  if (res.status === 202) return;
  let why = excerpt(res.body);
  try {
    const b = JSON.parse(res.body) as { status?: string; message?: string; errors?: string[] };
    why = [b.status, b.message, ...(b.errors ?? [])].filter(Boolean).join('; ') || why;
  } catch {
    // Not JSON (a proxy's page): its start is all there is to say.
  }
  throw new ChannelError(`PagerDuty answered HTTP ${res.status}: ${why || '(no body)'}`, !transientStatus(res.status));
}

export const sendPagerDuty: ChannelSender<PagerDutyConfig> = async (config, d) => {
  const url = config.url ?? PAGERDUTY_EVENTS_URL;
  // PagerDuty itself is where a routing key belongs; an override (a proxy, a test) must be allowed.
  if (config.url) checkDestination(new URL(config.url).hostname, 'PagerDuty URL host');
  const routingKey = await d.secret(config.routingKeyRef);
  // A resolve for an alert that is not open is dropped by PagerDuty: sending it is always safe.
  await Promise.all(
    (RESOLVED_BY[d.input.event] ?? []).map((event) =>
      enqueue(
        url,
        { routing_key: routingKey, event_action: 'resolve', dedup_key: pagerDutyDedupKey({ ...d.input, event }) },
        d.signal,
      ),
    ),
  );
  const key = pagerDutyDedupKey(d.input);
  if (d.input.event === 'anomaly' && d.input.facts.cleared)
    return enqueue(url, { routing_key: routingKey, event_action: 'resolve', dedup_key: key }, d.signal);
  await enqueue(url, pagerDutyTrigger(routingKey, d), d.signal);
};
