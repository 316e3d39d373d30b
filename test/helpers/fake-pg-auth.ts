// A PostgreSQL server that only authenticates: it answers the startup message with the
// authentication request of its method (as a server whose pg_hba.conf says `password` or `md5`
// does), and records every connection and every PasswordMessage ('p') that comes back.
import net from 'node:net';

export type FakeAuthMethod = 'password' | 'md5' | 'sasl-unknown';

export interface FakeAuthServer {
  port: number;
  connections: number;
  /** The payloads of the PasswordMessages received: a password, a hash or a SASL response. */
  passwords: string[];
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;

function authRequest(method: FakeAuthMethod): Buffer {
  if (method === 'password') return Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]);
  if (method === 'md5') return Buffer.from([0x52, 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4]);
  const mechanisms = Buffer.from('PLAIN-TEXT\0\0');
  const head = Buffer.alloc(9);
  head.write('R', 0);
  head.writeInt32BE(8 + mechanisms.length, 1);
  head.writeInt32BE(10, 5);
  return Buffer.concat([head, mechanisms]);
}

export async function fakeAuthServer(method: FakeAuthMethod): Promise<FakeAuthServer> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0, passwords: [] as string[] };
  const server = net.createServer((sock) => {
    state.connections++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let started = false;
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (!started) {
          if (buf.length < 8) return;
          const len = buf.readInt32BE(0);
          if (buf.length < len) return;
          const code = buf.readInt32BE(4);
          buf = buf.subarray(len);
          if (code === SSL_REQUEST) {
            sock.write('N');
            continue;
          }
          started = true;
          sock.write(authRequest(method));
          continue;
        }
        if (buf.length < 5) return;
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) return;
        const type = String.fromCharCode(buf[0]);
        const body = buf.subarray(5, 1 + len);
        buf = buf.subarray(1 + len);
        if (type === 'p') {
          state.passwords.push(body.toString('utf8').replace(/\0$/, ''));
          // "password authentication failed", as a real server would say after checking it.
          const msg = Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed\0\0');
          const head = Buffer.alloc(5);
          head.write('E', 0);
          head.writeInt32BE(4 + msg.length, 1);
          sock.end(Buffer.concat([head, msg]));
        }
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return state.connections;
    },
    get passwords() {
      return state.passwords;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((ok) => server.close(ok));
    },
  };
}
