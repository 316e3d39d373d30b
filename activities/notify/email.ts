// Email over SMTP with nodemailer: a plain-text message, Message-ID derived from the delivery id so a
// re-sent message is recognisably the same one. TLS: `secure` is TLS from the first byte (port 465);
// otherwise STARTTLS is required (requireTLS), except to a relay on the loopback interface (a local
// MTA, the tests' smtp-server), where nothing crosses a network and plain SMTP is allowed. The plan
// names the host, so the password goes only to a host in DBMIG_ALLOWED_HOSTS (as a source's does).
// https://nodemailer.com/smtp (transport options: secure, requireTLS, auth, timeouts)
// https://nodemailer.com/message (from, to, subject, text, messageId, headers)
// RFC 5322 §3.6.4 (Message-ID: "<" id-left "@" id-right ">")
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import nodemailer from 'nodemailer';
import type { ChannelConfig } from '../../common/notify-plan';
import { ChannelError, SEND_TIMEOUT_MS, checkDestination, networkReason, type ChannelSender } from './channel';

type EmailConfig = Extract<ChannelConfig, { type: 'email' }>;

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/** The same delivery always gets the same Message-ID. */
export function messageIdOf(deliveryId: string): string {
  return `<${createHash('sha256').update(deliveryId).digest('hex').slice(0, 40)}@dbmig.notify>`;
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
}

function smtpFailure(err: SmtpError, host: string): ChannelError {
  // 5xx replies and refused credentials do not change on a retry; 4xx replies and network trouble may.
  const permanent =
    (err.responseCode !== undefined && err.responseCode >= 500) || err.code === 'EAUTH' || err.code === 'ETLS';
  const said = err.response ? `: ${err.response.replace(/\s+/g, ' ').slice(0, 200)}` : '';
  // The system's code (ECONNREFUSED) says more than nodemailer's own (ESOCKET); the message names no secret.
  const sys = /\b(E[A-Z]{4,})\b/.exec(err.message ?? '')?.[1];
  const code = [err.code, sys].filter((c, i, all) => c && all.indexOf(c) === i).join(': ') || 'error';
  const what = err.code === 'ETIMEDOUT' ? `no answer within ${SEND_TIMEOUT_MS / 1000} s` : code;
  return new ChannelError(`SMTP server ${host} refused or failed (${what})${said}`, permanent);
}

export const sendEmail: ChannelSender<EmailConfig> = async (config, d) => {
  const { smtp } = config;
  if (smtp.passwordRef) checkDestination(smtp.host, 'SMTP server');
  const pass = smtp.passwordRef ? await d.secret(smtp.passwordRef) : undefined;
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: !smtp.secure && !isLoopback(smtp.host),
    ...(smtp.user ? { auth: { user: smtp.user, pass } } : {}),
    connectionTimeout: SEND_TIMEOUT_MS,
    greetingTimeout: SEND_TIMEOUT_MS,
    socketTimeout: SEND_TIMEOUT_MS,
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  let timer: NodeJS.Timeout | undefined;
  let stop = () => {};
  const stopped = new Promise<never>((_, reject) => {
    stop = () => reject(new ChannelError(d.signal.aborted ? networkReason(null, d.signal) : 'timed out', false));
    d.signal.addEventListener('abort', stop, { once: true });
    timer = setTimeout(stop, SEND_TIMEOUT_MS);
  });
  try {
    await Promise.race([
      transport.sendMail({
        from: config.from,
        to: config.to,
        subject: d.message.title,
        text: d.message.text,
        messageId: messageIdOf(d.id),
        date: new Date(d.occurredAt),
        headers: { 'X-Dbmig-Delivery': d.id, 'X-Dbmig-Event': d.input.event },
      }),
      stopped,
    ]);
  } catch (err) {
    if (err instanceof ChannelError) throw err;
    throw smtpFailure(err as SmtpError, smtp.host);
  } finally {
    clearTimeout(timer);
    d.signal.removeEventListener('abort', stop);
    transport.close();
  }
};
