// Slack incoming webhook: POST {text, blocks} as JSON to the webhook's URL, which is the secret.
// Slack answers 200 "ok"; a refused request is 400 invalid_payload / no_text, 403 action_prohibited /
// invalid_token, 404 channel_not_found / no_service, 410 channel_is_archived, 500 rollup_error.
// https://api.slack.com/messaging/webhooks (Sending messages using incoming webhooks)
// https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks (the errors)
// https://api.slack.com/reference/block-kit/blocks (header text ≤ 150, section text ≤ 3000 characters)
import type { ChannelConfig } from '../../common/notify-plan';
import { ChannelError, excerpt, postJson, transientStatus, type ChannelSender } from './channel';

type SlackConfig = Extract<ChannelConfig, { type: 'slack' }>;

const HEADER_MAX = 150;
const SECTION_MAX = 3000;

/** Slack's mrkdwn reserves &, < and >; everything else is shown as written. */
const escape = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const cut = (t: string, max: number) => (t.length > max ? `${t.slice(0, max - 1)}…` : t);

/** Commands go in code spans, so Slack neither reformats nor links them and a click selects them whole. */
function mrkdwn(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const m = /^(\s*(?:[A-Za-z ]+:)?\s*)((?:dbmig|temporal) .*)$/.exec(line);
      return m ? `${escape(m[1])}\`${escape(m[2])}\`` : escape(line);
    })
    .join('\n');
}

/** The message Slack posts: the title as the notification text and header, the body as a section. */
export function slackPayload(title: string, text: string) {
  const body = mrkdwn(text);
  return {
    text: title,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: cut(title, HEADER_MAX) } },
      { type: 'section', text: { type: 'mrkdwn', text: cut(body, SECTION_MAX) } },
    ],
  };
}

export const sendSlack: ChannelSender<SlackConfig> = async (config, d) => {
  const url = await d.secret(config.webhookUrlRef);
  const res = await postJson(url, slackPayload(d.message.title, d.message.text), d.signal);
  if (res.status === 200) return;
  throw new ChannelError(
    `Slack answered HTTP ${res.status}: ${excerpt(res.body) || '(no body)'}`,
    !transientStatus(res.status),
  );
};
