// The notifications part of a plan: the channels people are told on, and which events go where.
// Every URL and key is a secret reference (env:, file:, gcpsm:), resolved on the worker by the
// notifier activity, never carried in workflow input or history as a value.
import { z } from 'zod';
import { DURATION } from './durations';

export const SECRET_REF_PATTERN = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+|gcpsm:[A-Za-z0-9_\-/.]+)$/;
const secretRef = z
  .string()
  .regex(SECRET_REF_PATTERN, 'must be a secret reference: env:NAME, file:PATH or gcpsm:NAME (never the value)');

/** What people are told about. */
export const NOTIFY_EVENTS = [
  /** A database is ready and waits for a human's approval (with the approve command and a UI link). */
  'approval-needed',
  /** The approval timeout passed; the database keeps waiting (approval.onTimeout: escalate). */
  'approval-overdue',
  /** Replication broke while waiting for the cutover (apply errors, not in CDC). */
  'replication-broken',
  /** Lag went above notifications.lagAlertSeconds while waiting for the cutover. */
  'lag-rising',
  /**
   * The anomaly detector (common/anomaly.ts) found a lag trend, apply errors or a slow apply while
   * waiting for the cutover, or one it found has cleared (facts.cleared).
   */
  'anomaly',
  /** A database FAILED or NEEDS_ATTENTION, with the reason. */
  'failure',
  /** A cutover is done, with its write-block window. */
  'cutover-done',
  /** The plan's health check after the cutover breached for its time: the database is rolled back, with why. */
  'health-rollback',
  /** The fleet run finished, with its counts. */
  'fleet-finished',
] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

const CHANNEL_NAME = /^[a-z][a-z0-9_-]{0,47}$/;

const slack = z.strictObject({
  type: z.literal('slack').describe('A Slack incoming webhook.'),
  webhookUrlRef: secretRef.describe(
    "Secret reference to the incoming webhook's URL (https://hooks.slack.com/services/...), which is a secret.",
  ),
});
const pagerduty = z.strictObject({
  type: z.literal('pagerduty').describe('A PagerDuty Events API v2 integration.'),
  routingKeyRef: secretRef.describe("Secret reference to the integration's routing key."),
  url: z.url().optional().describe('The Events API endpoint. Default https://events.pagerduty.com/v2/enqueue.'),
});
const email = z.strictObject({
  type: z.literal('email').describe('Mail over SMTP.'),
  smtp: z
    .strictObject({
      host: z.string().min(1).describe('The SMTP server.'),
      port: z.number().int().min(1).max(65535).default(587).describe("The SMTP server's TCP port."),
      secure: z
        .boolean()
        .default(false)
        .describe('TLS from the first byte (port 465); otherwise STARTTLS is used where the server offers it.'),
      user: z.string().optional().describe('User to log in as. Default: no login.'),
      passwordRef: secretRef.optional().describe("Secret reference to the user's password."),
    })
    .describe('The mail server.'),
  from: z.string().min(3).describe('The sender address.'),
  to: z.array(z.string().min(3)).min(1, 'must name at least one recipient').describe('The recipients.'),
});
const webhook = z.strictObject({
  type: z.literal('webhook').describe('A JSON POST to a URL of yours.'),
  urlRef: secretRef.describe('Secret reference to the URL messages are POSTed to.'),
  secretRef: secretRef.describe(
    'Secret reference to the key of the HMAC-SHA256 signature sent in the X-Dbmig-Signature header.',
  ),
});

export const channelSchema = z.discriminatedUnion('type', [slack, pagerduty, email, webhook]);
export type ChannelConfig = z.output<typeof channelSchema>;

export const notificationsSchema = z
  .strictObject({
    uiUrl: z
      .url()
      .optional()
      .describe("The Temporal UI's address, for links in messages. Default http://localhost:8233."),
    channels: z
      .record(
        z.string().regex(CHANNEL_NAME, 'must be a lower-case channel name'),
        channelSchema.describe('A channel: type slack, pagerduty, email or webhook, and its settings.'),
      )
      .describe('The channels people are told on, by a name of your choice (used in routes and escalation).'),
    routes: z
      .array(
        z
          .strictObject({
            events: z
              .array(z.enum([...NOTIFY_EVENTS, '*']))
              .min(1, 'must name at least one event, or "*"')
              .describe(
                'The events this route sends: approval-needed, approval-overdue, replication-broken, lag-rising, ' +
                  'anomaly, failure, cutover-done, health-rollback, fleet-finished, or * for all.',
              ),
            channels: z.array(z.string()).min(1, 'must name at least one channel').describe('Channel names.'),
          })
          .describe('Which events go to which channels.'),
      )
      .default([])
      .describe('Which events go where. Default none: nothing is sent.'),
    escalation: z
      .array(z.string())
      .default([])
      .describe('Channel names an overdue approval escalates to (besides any route for approval-overdue).'),
    lagAlertSeconds: z
      .number()
      .positive()
      .default(60)
      .describe('Replication lag, in seconds, above which a database waiting for its cutover is lag-rising.'),
    anomalies: z
      .strictObject({
        window: z
          .string()
          .regex(DURATION, 'must be a duration such as 10m')
          .optional()
          .describe('The window the lag trend and the apply error rate are measured over. Default 10m.'),
        lagSlopePerMinute: z
          .number()
          .positive()
          .optional()
          .describe('Seconds of lag per minute of growth above which the lag trend fires. Default 3.'),
        lagRiseSeconds: z
          .number()
          .positive()
          .optional()
          .describe('And the lag must have risen this many seconds over the window. Default 30.'),
        errorsPerWindow: z
          .number()
          .int()
          .positive()
          .optional()
          .describe('New apply errors in one window at which apply-errors fires. Default 3.'),
      })
      .optional()
      .describe('Tuning of the anomaly detector (docs/operations.md, Anomalies). Default: the defaults named.'),
  })
  .describe('Who is told what: channels, and routes from events to channels. Default: no notifications.')
  .superRefine((n, ctx) => {
    const known = new Set(Object.keys(n.channels));
    const check = (names: string[], path: (string | number)[]) =>
      names.forEach((c, i) => {
        if (!known.has(c))
          ctx.addIssue({
            code: 'custom',
            path: [...path, i],
            message: `unknown channel "${c}" (channels: ${[...known].join(', ') || 'none'})`,
          });
      });
    n.routes.forEach((r, i) => check(r.channels, ['routes', i, 'channels']));
    check(n.escalation, ['escalation']);
  });
export type NotificationSettings = z.output<typeof notificationsSchema>;

/** The channels an event goes to: every route that lists it, plus the escalation route when overdue. */
export function channelsFor(n: NotificationSettings | undefined, event: NotifyEvent): string[] {
  if (!n) return [];
  const out = new Set<string>();
  for (const r of n.routes)
    if (r.events.includes(event) || r.events.includes('*')) r.channels.forEach((c) => out.add(c));
  if (event === 'approval-overdue') n.escalation.forEach((c) => out.add(c));
  return [...out];
}
