// The notifier against real local receivers (test/helpers/receivers.ts) that enforce each vendor's
// documented request: every event reaches every channel it is routed to, a failed channel is named
// and retried alone, deliveries dedupe, and no secret shows in an error.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createNotifier, type NotifyProgress } from '../activities/notify';
import { verifyWebhookSignature, webhookSignature } from '../activities/notify/webhook';
import { isLoopback } from '../activities/notify/email';
import { pagerDutyDedupKey } from '../activities/notify/pagerduty';
import {
  approvalCommands,
  buildMessage,
  deliveryId,
  humanDuration,
  type NotifyFacts,
  type NotifyInput,
  type NotifyResult,
} from '../common/notify-message';
import { channelsFor, NOTIFY_EVENTS, notificationsSchema, type NotifyEvent } from '../common/notify-plan';
import {
  startPagerDutyReceiver,
  startSlackReceiver,
  startSmtpReceiver,
  startWebhookReceiver,
  type PagerDutyReceiver,
  type SlackReceiver,
  type SmtpReceiver,
  type WebhookReceiver,
} from './helpers/receivers';

const NS = 'prod-ns';
const UI = 'http://temporal-ui.example:8080/';
const MIG = 'shop-q4';
const DB = 'orders';
const OCCURRED_AT = new Date().toISOString();

const secrets = {
  pdKey: randomBytes(16).toString('hex'), // 32 characters, like an integration key
  hookSecret: `whsec_${randomBytes(18).toString('hex')}`,
  smtpPassword: `pw-${randomBytes(12).toString('hex')}`,
};
const ENV = {
  slack: 'DBMIG_TEST_NOTIFY_SLACK_URL',
  pd: 'DBMIG_TEST_NOTIFY_PD_KEY',
  hookUrl: 'DBMIG_TEST_NOTIFY_HOOK_URL',
  hookSecret: 'DBMIG_TEST_NOTIFY_HOOK_SECRET',
  smtp: 'DBMIG_TEST_NOTIFY_SMTP_PASSWORD',
};

let slack: SlackReceiver;
let pd: PagerDutyReceiver;
let hook: WebhookReceiver;
let smtp: SmtpReceiver;
let settings: ReturnType<typeof notificationsSchema.parse>;
/** Every secret value the test handed out: none may appear in an error. */
let secretValues: string[];

const FACTS: Record<NotifyEvent, NotifyFacts> = {
  'approval-needed': {
    state: 'AWAITING_APPROVAL',
    validation: '12 tables, row counts equal',
    lagSeconds: 0.4,
    rows: 120_000,
    timeoutMs: 86_400_000,
    onTimeout: 'escalate',
  },
  'approval-overdue': {
    state: 'AWAITING_APPROVAL',
    timeoutMs: 86_400_000,
    overdueSince: new Date(Date.now() - 3 * 3_600_000).toISOString(),
    waitedMs: 27 * 3_600_000,
  },
  'replication-broken': { state: 'AWAITING_APPROVAL', problem: 'relation "public.new_table" does not exist' },
  'lag-rising': { state: 'AWAITING_APPROVAL', lagSeconds: 95.2, at: new Date().toISOString() },
  anomaly: {
    anomaly: 'lag-trend',
    problem: 'lag grows 12.0 s per minute (R² 0.98, +96 s over 8 min; alert above 3 s/min)',
    at: new Date().toISOString(),
  },
  failure: { state: 'FAILED', reason: 'AssessmentFailed: table audit has no primary key' },
  'health-rollback': { state: 'COMPLETED', problem: 'health check breached for 30s (http status for 30s)' },
  'cutover-done': { writeBlockMs: 1834, endpoint: 'local://127.0.0.1:54321/orders' },
  'fleet-finished': { completed: 7, failed: 1, cancelled: 0, needsAttention: 1, rolledBack: 1 },
};

function inputFor(event: NotifyEvent, over: Partial<NotifyInput> = {}): NotifyInput {
  return {
    event,
    migrationId: MIG,
    ...(event === 'fleet-finished' ? {} : { database: DB }),
    notifications: settings,
    facts: FACTS[event],
    occurredAt: OCCURRED_AT,
    ...over,
  };
}

const notifier = createNotifier();

/** Runs notify as a Temporal activity would, with the heartbeat details of an earlier attempt. */
async function run(input: NotifyInput, heartbeatDetails?: NotifyProgress) {
  const env = new MockActivityEnvironment({
    workflowNamespace: NS,
    heartbeatDetails,
    attempt: heartbeatDetails ? 2 : 1,
  });
  const beats: NotifyProgress[] = [];
  env.on('heartbeat', (d: NotifyProgress) => beats.push(d));
  try {
    const result: NotifyResult = await env.run(notifier.notify, input);
    return { result, beats, error: undefined };
  } catch (error) {
    return { result: undefined, beats, error: error as ApplicationFailure };
  }
}

function assertNoSecret(text: string) {
  for (const s of secretValues) assert.ok(!text.includes(s), `a secret value leaked into: ${text}`);
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', () => ok()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

const counts = () => ({
  slack: slack.messages.length,
  pd: pd.events.length,
  mail: smtp.mails.length,
  hook: [...hook.deliveries.values()].reduce((n, d) => n + d.times, 0),
});

before(async () => {
  // The worker resolves only the references its operator allows (activities/secrets.ts).
  process.env.DBMIG_ALLOWED_SECRETS = 'env:DBMIG_TEST_NOTIFY_*';
  [slack, pd, hook, smtp] = await Promise.all([
    startSlackReceiver(),
    startPagerDutyReceiver(secrets.pdKey),
    startWebhookReceiver(secrets.hookSecret),
    startSmtpReceiver('dbmig-notifier', secrets.smtpPassword),
  ]);
  process.env[ENV.slack] = slack.url;
  process.env[ENV.pd] = secrets.pdKey;
  process.env[ENV.hookUrl] = hook.url;
  process.env[ENV.hookSecret] = secrets.hookSecret;
  process.env[ENV.smtp] = secrets.smtpPassword;
  secretValues = [slack.url, new URL(slack.url).pathname, ...Object.values(secrets)];
  settings = notificationsSchema.parse({
    uiUrl: UI,
    channels: {
      team: { type: 'slack', webhookUrlRef: `env:${ENV.slack}` },
      oncall: { type: 'pagerduty', routingKeyRef: `env:${ENV.pd}`, url: pd.url },
      mail: {
        type: 'email',
        smtp: { host: '127.0.0.1', port: smtp.port, user: 'dbmig-notifier', passwordRef: `env:${ENV.smtp}` },
        from: 'dbmig <dbmig@example.com>',
        to: ['dba@example.com', 'release@example.com'],
      },
      hook: { type: 'webhook', urlRef: `env:${ENV.hookUrl}`, secretRef: `env:${ENV.hookSecret}` },
    },
    routes: [
      { events: ['*'], channels: ['team', 'hook'] },
      { events: ['approval-needed', 'replication-broken', 'failure', 'cutover-done'], channels: ['oncall'] },
      { events: ['approval-needed', 'failure', 'fleet-finished'], channels: ['mail'] },
    ],
    escalation: ['oncall', 'mail'],
    lagAlertSeconds: 60,
  });
});

after(async () => {
  await Promise.all([slack.close(), pd.close(), hook.close(), smtp.close()]);
  for (const name of [...Object.values(ENV), 'DBMIG_ALLOWED_SECRETS']) delete process.env[name];
});

describe('routing and texts (pure)', () => {
  test('channelsFor: routes, "*" and the escalation route only for approval-overdue', () => {
    assert.deepEqual(channelsFor(settings, 'approval-needed').sort(), ['hook', 'mail', 'oncall', 'team']);
    assert.deepEqual(channelsFor(settings, 'lag-rising').sort(), ['hook', 'team']);
    assert.deepEqual(channelsFor(settings, 'approval-overdue').sort(), ['hook', 'mail', 'oncall', 'team']);
    const noEscalation = { ...settings, escalation: [] };
    assert.deepEqual(channelsFor(noEscalation, 'approval-overdue').sort(), ['hook', 'team']);
    assert.deepEqual(channelsFor(undefined, 'failure'), []);
  });

  test('approval-needed names what is ready, the exact commands, the UI link and the deadline', () => {
    const now = Date.parse('2026-11-22T10:00:00Z');
    const m = buildMessage(inputFor('approval-needed', { occurredAt: new Date(now).toISOString() }), {
      namespace: NS,
      now,
    });
    assert.match(m.text, /^Approve: dbmig approve shop-q4 orders --approver NAME$/m);
    assert.match(m.text, /^Reject: {2}dbmig reject shop-q4 orders --approver NAME --reason 'WHY'$/m);
    assert.ok(
      m.text.includes(
        `temporal workflow update execute --namespace prod-ns --workflow-id shop-q4/orders --name approveCutover ` +
          `--input '{"database":"orders","approver":"NAME"}'`,
      ),
      m.text,
    );
    assert.equal(m.link.href, 'http://temporal-ui.example:8080/namespaces/prod-ns/workflows/shop-q4%2Forders');
    assert.ok(m.text.includes(m.link.href));
    assert.match(m.text, /Decide before 2026-11-23T10:00:00.000Z \(1d 0h; then it escalates and keeps waiting\)/);
    assert.match(m.text, /12 tables, row counts equal/);
    assert.equal(m.severity, 'warning');
  });

  test('the other events: overdue keeps waiting, failure says why and what next, counts, write block', () => {
    const ctx = { namespace: 'default', now: Date.now() };
    const overdue = buildMessage(inputFor('approval-overdue'), ctx);
    assert.match(overdue.text, /The database keeps waiting; nothing is deleted\./);
    assert.match(overdue.text, /overdue for 3h 0m/);
    assert.match(overdue.title, /waiting 1d 3h/);
    assert.equal(overdue.severity, 'critical');
    // The default namespace needs no --namespace in the command.
    assert.ok(overdue.text.includes('temporal workflow update execute --workflow-id shop-q4/orders'));

    const failed = buildMessage(inputFor('failure'), ctx);
    assert.match(failed.title, /shop-q4\/orders: FAILED/);
    assert.match(failed.text, /Reason: AssessmentFailed: table audit has no primary key/);
    assert.match(failed.text, /Next: fix the cause, then: dbmig retry shop-q4 orders/);

    const done = buildMessage(inputFor('cutover-done'), ctx);
    assert.match(done.title, /writes blocked 1\.8 s/);
    assert.match(done.text, /\(1834 ms\)/);
    assert.equal(done.severity, 'info');

    const fleet = buildMessage(inputFor('fleet-finished'), ctx);
    assert.match(fleet.title, /shop-q4: finished, 7 of 10 completed, 1 failed, 1 need attention/);
    assert.match(fleet.text, /rolled back: {5}1/);
    assert.equal(fleet.severity, 'warning');
    assert.equal(fleet.link.href, 'http://temporal-ui.example:8080/namespaces/default/workflows/shop-q4');

    assert.match(buildMessage(inputFor('replication-broken'), ctx).text, /new_table" does not exist/);
    assert.match(
      buildMessage(inputFor('lag-rising'), ctx).text,
      /is 95\.2 s \(measured [^)]+\), above the alert level of 60 s\./,
    );
  });

  test('delivery ids are stable, distinct per event and occurrence, and fit PagerDuty', () => {
    const a = deliveryId({ migrationId: MIG, database: DB, event: 'failure' });
    assert.equal(a, deliveryId({ migrationId: MIG, database: DB, event: 'failure', occurrence: 1 }));
    assert.notEqual(a, deliveryId({ migrationId: MIG, database: DB, event: 'failure', occurrence: 2 }));
    assert.notEqual(a, deliveryId({ migrationId: MIG, database: DB, event: 'cutover-done' }));
    const long = deliveryId({ migrationId: 'm'.repeat(200), database: 'd'.repeat(200), event: 'failure' });
    assert.ok(long.length <= 255, `${long.length}`);
    assert.notEqual(long, deliveryId({ migrationId: 'm'.repeat(200), database: 'd'.repeat(201), event: 'failure' }));
  });

  test('helpers: durations, commands quote what a shell would split, loopback, signatures', () => {
    assert.equal(humanDuration(850), '850 ms');
    assert.equal(humanDuration(65_000), '1m 5s');
    assert.equal(approvalCommands('m', "it's").approve, `dbmig approve m 'it'\\''s' --approver NAME`);
    assert.ok(isLoopback('localhost') && isLoopback('127.0.0.1') && isLoopback('::1'));
    assert.ok(!isLoopback('smtp.example.com') && !isLoopback('10.0.0.1'));
    const body = '{"a":1}';
    const sig = webhookSignature('k', '1700000000', body);
    assert.ok(verifyWebhookSignature('k', { timestamp: '1700000000', signature: sig }, body, 1700000100));
    assert.ok(!verifyWebhookSignature('k', { timestamp: '1700000000', signature: sig }, '{"a":2}', 1700000100));
    assert.ok(!verifyWebhookSignature('x', { timestamp: '1700000000', signature: sig }, body, 1700000100));
    assert.ok(!verifyWebhookSignature('k', { timestamp: '1700000000', signature: sig }, body, 1700001000));
  });
});

describe('channels against local receivers', () => {
  test('every event reaches every channel it is routed to, in each vendor’s format', async () => {
    for (const event of NOTIFY_EVENTS) {
      const before = counts();
      const pdBefore = pd.events.length;
      const mailBefore = smtp.mails.length;
      const input = inputFor(event);
      const { result, error, beats } = await run(input);
      assert.equal(error, undefined, `${event}: ${error?.message}`);
      const routed = channelsFor(settings, event);
      assert.deepEqual(result!.delivered, routed, event);
      assert.deepEqual(beats.at(-1)!.delivered.sort(), [...routed].sort(), `${event}: heartbeat`);
      const id = deliveryId(input);
      const message = buildMessage(input, { namespace: NS, now: Date.now() });
      const now = counts();

      // Slack: the title as text (the notification), header and section blocks.
      assert.equal(now.slack, before.slack + 1, `${event}: slack`);
      const s = slack.messages.at(-1)!;
      assert.equal(s.text, message.title);
      assert.ok(JSON.stringify(s.blocks).includes(message.link.href.replace(/&/g, '&amp;')), `${event}: slack link`);

      // Webhook: signed (the receiver verified it), the stable id, the event and its facts.
      assert.equal(now.hook, before.hook + 1, `${event}: webhook`);
      const w = hook.deliveries.get(id)!;
      assert.equal(w.event, event);
      assert.equal(w.body.migrationId, MIG);
      assert.deepEqual(w.body.facts, input.facts);
      assert.equal(w.body.text, message.text);

      const paged = routed.includes('oncall');
      const newPd = pd.events.slice(pdBefore);
      assert.equal(newPd.filter((e) => e.event_action === 'trigger').length, paged ? 1 : 0, `${event}: pagerduty`);
      if (paged) {
        const trigger = newPd.find((e) => e.event_action === 'trigger')!;
        assert.equal(trigger.dedup_key, pagerDutyDedupKey(input));
        assert.equal(trigger.payload!.severity, message.severity);
        assert.equal(trigger.payload!.class, event);
        assert.deepEqual(trigger.links, [message.link]);
      }

      const mailed = routed.includes('mail');
      assert.equal(smtp.mails.length, mailBefore + (mailed ? 1 : 0), `${event}: email`);
      if (mailed) {
        const m = smtp.mails.at(-1)!;
        assert.equal(m.user, 'dbmig-notifier');
        assert.deepEqual(m.envelope.to, ['dba@example.com', 'release@example.com']);
        assert.equal(m.subject, message.title);
        assert.equal(m.text, message.text);
        assert.equal(m.headers.get('x-dbmig-delivery'), id);
        assert.match(m.messageId, /^<[0-9a-f]{40}@dbmig\.notify>$/);
      }
    }
    assert.equal(hook.refused, 0);
    // In Slack the commands are code spans: copied whole, never reformatted or linked.
    const approvalSlack = JSON.stringify(slack.messages.find((m) => /waiting for approval/.test(m.text ?? ''))?.blocks);
    assert.ok(approvalSlack.includes('`dbmig approve shop-q4 orders --approver NAME`'), approvalSlack);
    // The approval mail carries the exact approve command and the UI link, through SMTP's encodings.
    const approvalMail = smtp.mails.find((m) => m.headers.get('x-dbmig-event') === 'approval-needed')!;
    assert.match(approvalMail.text, /dbmig approve shop-q4 orders --approver NAME/);
    assert.ok(approvalMail.text.includes('/namespaces/prod-ns/workflows/shop-q4%2Forders'));
  });

  test('PagerDuty: one alert per database and condition, resolved by cutover-done', async () => {
    const needed = pagerDutyDedupKey(inputFor('approval-needed'));
    const overdue = pagerDutyDedupKey(inputFor('approval-overdue'));
    assert.equal(needed, pagerDutyDedupKey(inputFor('approval-needed', { occurrence: 5 })));
    assert.notEqual(needed, overdue);
    assert.equal((await run(inputFor('approval-needed', { occurrence: 5 }))).error, undefined);
    assert.equal((await run(inputFor('approval-overdue', { occurrence: 1 }))).error, undefined);
    assert.equal((await run(inputFor('approval-overdue', { occurrence: 2 }))).error, undefined);
    assert.deepEqual(pd.alerts.get(overdue), { open: true, triggers: 2, severity: 'critical' });
    assert.equal(pd.alerts.get(needed)?.open, true);
    assert.equal((await run(inputFor('cutover-done', { occurrence: 5 }))).error, undefined);
    assert.equal(pd.alerts.get(needed)?.open, false);
    assert.equal(pd.alerts.get(overdue)?.open, false);
    assert.equal(pd.alerts.get(pagerDutyDedupKey(inputFor('cutover-done', { occurrence: 5 })))?.severity, 'info');
  });

  test('a re-run sends the same delivery ids: one PagerDuty alert, one webhook id, one Message-ID', async () => {
    const input = inputFor('failure', { occurrence: 9 });
    const id = deliveryId(input);
    const pagedBefore = pd.opened;
    assert.equal((await run(input)).error, undefined);
    assert.equal((await run(input)).error, undefined);
    assert.equal(pd.alerts.get(pagerDutyDedupKey(input))?.triggers, 2, 'the second trigger folds into the open alert');
    assert.equal(pd.opened, pagedBefore + 1, 'paged once');
    assert.equal(hook.deliveries.get(id)?.times, 2);
    const ids = smtp.mails.filter((m) => m.headers.get('x-dbmig-delivery') === id).map((m) => m.messageId);
    assert.equal(ids.length, 2);
    assert.equal(ids[0], ids[1]);
  });

  test('a failing channel is named; the retry sends only to the channels that had not taken it', async () => {
    // Without the workflow's time, the first attempt's is kept for the retry.
    const input = inputFor('approval-needed', { occurrence: 2, occurredAt: undefined });
    hook.failWith = { status: 500, body: 'receiver exploded' };
    const before = counts();
    const first = await run(input);
    hook.failWith = undefined;
    assert.ok(first.error instanceof ApplicationFailure, String(first.error));
    assert.equal(first.error.type, 'NotifyFailed');
    assert.equal(first.error.nonRetryable, false);
    assert.match(first.error.message, /channel hook failed: the webhook answered HTTP 500: receiver exploded/);
    assert.match(first.error.message, /delivered to team, oncall, mail/);
    assertNoSecret(first.error.message);
    const progress = first.beats.at(-1)!;
    assert.deepEqual([...progress.delivered].sort(), ['mail', 'oncall', 'team']);
    const afterFirst = counts();
    assert.deepEqual(afterFirst, { ...before, slack: before.slack + 1, pd: before.pd + 1, mail: before.mail + 1 });

    // Temporal's retry: the same input, with the last heartbeat's details.
    const retry = await run(input, progress);
    assert.equal(retry.error, undefined, retry.error?.message);
    assert.deepEqual(retry.result!.delivered, channelsFor(settings, 'approval-needed'));
    assert.deepEqual(counts(), { ...afterFirst, hook: afterFirst.hook + 1 });
    assert.equal(hook.deliveries.get(deliveryId(input))?.times, 1);
    assert.ok(progress.occurredAt);
    assert.equal(hook.deliveries.get(deliveryId(input))?.body.occurredAt, progress.occurredAt);
  });

  test('a receiver that is down or silent is retryable and named, within the send timeout', async () => {
    const port = await deadPort();
    const silent = createServer(() => {}); // accepts, never answers
    await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', () => ok()));
    const silentPort = (silent.address() as { port: number }).port;
    process.env.DBMIG_TEST_NOTIFY_SILENT_URL = `http://127.0.0.1:${silentPort}/hooks/x`;
    try {
      const broken = notificationsSchema.parse({
        channels: {
          ...settings.channels,
          mail: { ...settings.channels.mail, smtp: { ...(settings.channels.mail as { smtp: object }).smtp, port } },
          slow: { type: 'webhook', urlRef: 'env:DBMIG_TEST_NOTIFY_SILENT_URL', secretRef: `env:${ENV.hookSecret}` },
        },
        routes: [{ events: ['failure'], channels: ['team', 'mail', 'slow'] }],
      });
      const started = Date.now();
      const { error } = await run(inputFor('failure', { notifications: broken, occurrence: 3 }));
      const took = Date.now() - started;
      assert.ok(error instanceof ApplicationFailure);
      assert.equal(error.nonRetryable, false);
      assert.match(
        error.message,
        /channel mail failed: SMTP server 127\.0\.0\.1 refused or failed \(ESOCKET: ECONNREFUSED\)/,
      );
      assert.match(error.message, /channel slow failed: no answer within 10 s/);
      assert.match(error.message, /\(delivered to team\)/);
      // Not before the 10 s send timeout; past it only by what a loaded machine adds.
      assert.ok(took >= 9_500 && took < 10_000 + 20_000, `took ${took} ms`);
      assertNoSecret(error.message);
      assert.ok(!error.message.includes(String(silentPort)), 'the webhook URL stays out of the error');
    } finally {
      silent.close();
      delete process.env.DBMIG_TEST_NOTIFY_SILENT_URL;
    }
  });

  test('what a retry cannot fix is non-retryable, and still names no secret', async () => {
    process.env.DBMIG_TEST_NOTIFY_WRONG_SLACK = `${slack.url}x`; // a hook Slack does not know
    process.env.DBMIG_TEST_NOTIFY_SHORT_KEY = secrets.pdKey.slice(0, 20);
    process.env.DBMIG_TEST_NOTIFY_WRONG_PW = `${secrets.smtpPassword}-old`;
    secretValues.push(process.env.DBMIG_TEST_NOTIFY_WRONG_SLACK, process.env.DBMIG_TEST_NOTIFY_WRONG_PW);
    try {
      const bad = notificationsSchema.parse({
        channels: {
          team: { type: 'slack', webhookUrlRef: 'env:DBMIG_TEST_NOTIFY_WRONG_SLACK' },
          oncall: { type: 'pagerduty', routingKeyRef: 'env:DBMIG_TEST_NOTIFY_SHORT_KEY', url: pd.url },
          mail: {
            ...settings.channels.mail,
            smtp: {
              ...(settings.channels.mail as { smtp: object }).smtp,
              passwordRef: 'env:DBMIG_TEST_NOTIFY_WRONG_PW',
            },
          },
          nokey: { type: 'webhook', urlRef: `env:${ENV.hookUrl}`, secretRef: 'env:DBMIG_TEST_NOTIFY_UNSET' },
        },
        routes: [{ events: ['failure'], channels: ['team', 'oncall', 'mail', 'nokey'] }],
      });
      const refusedBefore = smtp.refusedLogins;
      const { error, beats } = await run(inputFor('failure', { notifications: bad, occurrence: 4 }));
      assert.ok(error instanceof ApplicationFailure);
      assert.equal(error.type, 'NotifyMisconfigured');
      assert.equal(error.nonRetryable, true);
      assert.match(error.message, /channel team failed: Slack answered HTTP 404: no_service/);
      assert.match(error.message, /channel oncall failed: PagerDuty answered HTTP 400: invalid event; .*routing_key/);
      assert.match(error.message, /channel mail failed: SMTP server 127\.0\.0\.1 refused or failed \(EAUTH\)/);
      assert.match(error.message, /channel nokey failed: SecretUnavailable: secret env:DBMIG_TEST_NOTIFY_UNSET/);
      assert.equal(smtp.refusedLogins, refusedBefore + 1);
      assert.deepEqual(beats.at(-1)!.delivered, []);
      assertNoSecret(error.message);
      assert.ok(!error.message.includes(secrets.pdKey.slice(0, 20)));
    } finally {
      delete process.env.DBMIG_TEST_NOTIFY_WRONG_SLACK;
      delete process.env.DBMIG_TEST_NOTIFY_SHORT_KEY;
      delete process.env.DBMIG_TEST_NOTIFY_WRONG_PW;
    }
  });

  test('a password goes only to an allowed SMTP host, and over TLS unless on loopback', async (t) => {
    const lan = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && !i.internal && i.family === 'IPv4')?.address;
    const mail = settings.channels.mail as Extract<typeof settings.channels.mail, { type: 'email' }>;
    const relay = (host: string, port: number) =>
      notificationsSchema.parse({
        channels: { mail: { ...mail, smtp: { ...mail.smtp, host, port } } },
        routes: [{ events: ['failure'], channels: ['mail'] }],
      });
    const before = smtp.mails.length;
    const far = await run(inputFor('failure', { notifications: relay('smtp.example.com', 587), occurrence: 7 }));
    assert.ok(far.error instanceof ApplicationFailure);
    assert.equal(far.error.nonRetryable, true);
    assert.match(far.error.message, /SMTP server smtp\.example\.com is not allowed on this worker/);
    if (!lan) return t.skip('no non-loopback IPv4 address to test STARTTLS against');
    // The same receiver, reached over a network address: plain SMTP is refused before AUTH.
    const open = await startSmtpReceiver('dbmig-notifier', secrets.smtpPassword, lan);
    process.env.DBMIG_ALLOWED_HOSTS = lan;
    try {
      const plain = await run(inputFor('failure', { notifications: relay(lan, open.port), occurrence: 7 }));
      assert.ok(plain.error instanceof ApplicationFailure);
      assert.equal(plain.error.nonRetryable, true);
      assert.match(plain.error.message, /channel mail failed: SMTP server [\d.]+ refused or failed \(ETLS/);
      assert.equal(open.mails.length, 0);
      assert.equal(smtp.mails.length, before);
      assertNoSecret(plain.error.message);
    } finally {
      delete process.env.DBMIG_ALLOWED_HOSTS;
      await open.close();
    }
  });

  test('a route naming a channel that does not exist is a configuration error', async () => {
    const bad = { ...settings, routes: [{ events: ['failure' as const], channels: ['team', 'ghost'] }] };
    const { error, result } = await run(inputFor('failure', { notifications: bad, occurrence: 6 }));
    assert.equal(result, undefined);
    assert.ok(error instanceof ApplicationFailure);
    assert.equal(error.nonRetryable, true);
    assert.match(
      error.message,
      /channel ghost failed: no such channel in notifications.channels \(delivered to team\)/,
    );
  });

  test('no routed channel: nothing is sent', async () => {
    const before = counts();
    const quiet = { ...settings, routes: [], escalation: [] };
    const { result, error } = await run(inputFor('lag-rising', { notifications: quiet }));
    assert.equal(error, undefined);
    assert.deepEqual(result, { delivered: [] });
    assert.deepEqual(counts(), before);
  });
});
