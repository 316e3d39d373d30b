// A step cancelled while its database session is still being opened stops there. node-postgres
// never settles connect() once end() was called before the session is ready, so a cancellation that
// ended the half-open session used to leave the step waiting forever, and with it the shutdown of
// the worker that ran it (a worker drains its activities before it stops). The server here accepts
// the connection and never answers, as a server stuck in its startup does.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { connect } from '../activities/engines/postgres/sessions';

let server: net.Server;
let port: number;
const closed: Promise<void>[] = [];

before(async () => {
  server = net.createServer((sock) => {
    sock.on('error', () => undefined);
    sock.resume(); // reads (and drops) the startup message, so the client's end is seen
    closed.push(new Promise((r) => sock.on('close', () => r())));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
after(() => new Promise<void>((r) => server.close(() => r())));

test('a cancellation while the session is opened ends the wait and the half-open session', async () => {
  const ctl = new AbortController();
  const opening = connect({ host: '127.0.0.1', port, user: 'u', password: 'p', database: 'd' }, ctl.signal);
  // Cancelled once the server holds the half-open connection.
  for (let i = 0; !closed.length; i++) {
    assert.ok(i < 1_000, 'the client never reached the server');
    await new Promise((r) => setTimeout(r, 10));
  }
  ctl.abort(new Error('cancelled by the test'));
  // Far above the few milliseconds this takes, and above the client's own 10 s connection timeout,
  // which node-postgres clears once end() was called: only a hang reaches it.
  assert.equal(
    await within(
      20_000,
      opening.then(
        () => 'connected',
        (err: Error) => err.message,
      ),
    ),
    'cancelled by the test',
  );
  // The half-open session is closed, not left to a server that may never answer.
  assert.equal(
    await within(
      20_000,
      closed[0].then(() => 'closed'),
    ),
    'closed',
  );
});

/** What `p` settles to, or "still waiting" after `ms`. */
async function within(ms: number, p: Promise<string>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((r) => (timer = setTimeout(() => r(`still waiting after ${ms} ms`), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
