// A throwaway MariaDB server (Debian's mariadb-server) for tests that need a MySQL-compatible
// source or target: a temporary data directory and port, run as the `mysql` user when the tests
// run as root (mariadbd refuses root), removed by stop(). MariaDB is a prerequisite of `npm test`
// (scripts/prepare checks it): without it these tests fail naming the fix, they do not skip.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';

const HAVE_MARIADB = existsSync('/usr/sbin/mariadbd') || existsSync('/usr/bin/mariadbd');

export interface MariadbServer {
  port: number;
  socket: string;
  stop(): Promise<void>;
}

const run = promisify(execFile);

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

/** Starts mariadbd with `args` (e.g. --log-bin) and waits until root can connect over its socket. */
export async function startMariadb(args: string[] = [], prefix = 'dbmig-mariadb-'): Promise<MariadbServer> {
  if (!HAVE_MARIADB)
    throw new Error(
      'no MariaDB server (mariadbd), which stands in for MySQL in the tests: apt-get install mariadb-server',
    );
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const root = userInfo().uid === 0;
  if (root) await run('chown', ['mysql:mysql', dir]);
  const user = root ? ['--user=mysql'] : [];
  await run('mariadb-install-db', [
    '--no-defaults',
    ...user,
    `--datadir=${join(dir, 'data')}`,
    // Its own temporary directory: two bootstraps sharing /tmp collide on their temporary tables
    // ("Unknown table 'mysql.tmp_user_sys'") when test files run side by side.
    `--tmpdir=${dir}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
  ]);
  const port = await freePort();
  const socket = join(dir, 'sock');
  const child: ChildProcess = spawn(
    'mariadbd',
    [
      '--no-defaults',
      ...user,
      `--datadir=${join(dir, 'data')}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${socket}`,
      `--pid-file=${join(dir, 'pid')}`,
      `--log-error=${join(dir, 'error.log')}`,
      `--tmpdir=${dir}`,
      ...args,
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    try {
      const c = await mysql.createConnection({ socketPath: socket, user: 'root' });
      await c.end();
      return { port, socket, stop };
    } catch (err) {
      if (i > 100 || child.exitCode !== null) {
        const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
        await stop();
        throw new Error(`mariadbd did not start: ${(err as Error).message}\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
