// Embedded PostgreSQL clusters under a state directory. Clusters are started with pg_ctl so
// they outlive the process that started them: a worker killed mid-migration must find the
// same clusters (and the same replication slots) when its replacement comes up.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import net from 'node:net';
import pg from 'pg';
import { activityCancellation, throwIfCancelled } from '../../cancellation';
import { protectWorkerPath } from '../../secrets';
import { MigrationError } from '../../../common/failures';
import { DEFAULT_EMBEDDED_MAJOR, serverBinaries } from './embedded-servers';
import { acquireLock } from './lockfile';
import { connect, withClient } from '../../engines/postgres/sessions';

const run = promisify(execFile);

export interface ClusterInfo {
  name: string;
  host: string;
  port: number;
  user: string;
  password: string;
  dataDir: string;
  /** The server's major version (PG_VERSION). */
  version: number;
}

interface ClusterMeta {
  port: number;
  password: string;
}

export interface EnsureOptions {
  /**
   * The major version the cluster must run. A new cluster is initialised with it; an existing one
   * of another version is refused (a cluster's version is fixed when initdb makes it). Default: an
   * existing cluster as it is, a new one at DEFAULT_EMBEDDED_MAJOR.
   */
  version?: number;
  /** false: `version` only chooses a new cluster's; an existing one of another version is returned as it is. */
  strict?: boolean;
}

const SERVER_SETTINGS = [
  'wal_level=logical',
  'max_replication_slots=40',
  'max_wal_senders=40',
  'max_logical_replication_workers=24',
  'max_worker_processes=32',
  'max_sync_workers_per_subscription=4',
  // The launcher starts (and restarts) sync and apply workers at this pace; the 5 s default
  // dominated the initial copy of small databases (bench/local-platform.ts).
  'wal_retrieve_retry_interval=500ms',
  'max_connections=200',
  // Two-phase commit is off by default; on, so a cutover's refusal of prepared transactions can be
  // shown on a real server (their slots cost a few hundred bytes of shared memory each).
  'max_prepared_transactions=10',
  'listen_addresses=127.0.0.1',
  'unix_socket_directories=',
  'fsync=off',
];

export function defaultStateDir(): string {
  return resolve(process.env.DBMIG_STATE_DIR ?? '.local-platform');
}

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = net.createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => ok(port));
    });
  });
}

/** The major version a data directory was made by. */
async function dataDirVersion(dataDir: string): Promise<number> {
  return parseInt(await readFile(join(dataDir, 'PG_VERSION'), 'utf8'), 10);
}

/** PostgreSQL refuses to run as root: as root, run it as a `postgres` user, created if missing. */
async function postgresIds(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const lookup = async () => ({
    uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
    gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()),
  });
  try {
    return await lookup();
  } catch {
    await run('groupadd', ['--system', 'postgres']).catch(() => undefined);
    await run('useradd', [
      '--system',
      '--gid',
      'postgres',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      'postgres',
    ]);
    return lookup();
  }
}

/**
 * A directory only its owner may read (0700). When the clusters run as `postgres`, the directories
 * on the way to a data directory are root's with group postgres and mode 0710: postgres may pass
 * through them, not list them, and nobody else may do either. `shared`: the state directory itself,
 * left as it is when it is a shared one (sticky, like /tmp).
 */
async function privateDir(path: string, ids: { gid: number } | undefined, opts: { shared?: boolean } = {}) {
  // Parents as any directory is made (postgres must pass through them), then this one private.
  await mkdir(dirname(path), { recursive: true });
  await mkdir(path, { recursive: true, mode: 0o700 });
  if (opts.shared && (await stat(path)).mode & 0o1000) return;
  if (ids) await chown(path, -1, ids.gid);
  await chmod(path, ids ? 0o710 : 0o700);
}

/** Serialises cluster start-up within this process; a lock file does it across processes. */
const inFlight = new Map<string, Promise<ClusterInfo>>();

/**
 * How long a cluster this process found running is taken to be running still: a step makes several
 * calls in a row, and each ensure() costs a lock file and a probe connection (bench/initial-sync.ts).
 * stop() and destroy() forget it at once; a cluster stopped behind this process's back shows as a
 * refused connection, which the step's retry meets with a real ensure().
 */
const KNOWN_UP_MS = 2_000;

export class LocalClusters {
  private readonly knownUp = new Map<string, { at: number; info: ClusterInfo }>();

  constructor(readonly stateDir: string = defaultStateDir()) {
    // The clusters' superuser passwords live here: no plan may send them to its source.
    protectWorkerPath(stateDir);
  }

  private dir(name: string): string {
    if (!/^[a-z][a-z0-9_-]*$/.test(name)) throw new Error(`invalid cluster name "${name}"`);
    return join(this.stateDir, 'clusters', name);
  }

  /** Get-or-create: initialises the cluster once, starts it if it is not running. */
  async ensure(name: string, opts: EnsureOptions = {}): Promise<ClusterInfo> {
    const info = await this.ensureRunning(name, opts.version);
    if (opts.version !== undefined && opts.strict !== false && info.version !== opts.version)
      throw new MigrationError(
        'AlreadyExistsMismatch',
        `local cluster ${name} runs PostgreSQL ${info.version}, not ${opts.version}: a cluster's version is fixed ` +
          `when it is made; name another target instance for PostgreSQL ${opts.version}`,
      );
    return info;
  }

  private ensureRunning(name: string, version: number | undefined): Promise<ClusterInfo> {
    const known = this.knownUp.get(name);
    if (known && Date.now() - known.at < KNOWN_UP_MS) return Promise.resolve(known.info);
    let p = inFlight.get(name);
    if (!p) {
      p = this.ensureLocked(name, version ?? DEFAULT_EMBEDDED_MAJOR)
        .then((info) => {
          this.knownUp.set(name, { at: Date.now(), info });
          return info;
        })
        .finally(() => inFlight.delete(name));
      inFlight.set(name, p);
    }
    return p;
  }

  /** Connection facts of an existing cluster, without starting it. */
  async info(name: string): Promise<ClusterInfo | undefined> {
    const metaPath = join(this.dir(name), 'meta.json');
    if (!existsSync(metaPath)) return undefined;
    const meta = JSON.parse(await readFile(metaPath, 'utf8')) as ClusterMeta;
    const dataDir = join(this.dir(name), 'data');
    return {
      name,
      host: '127.0.0.1',
      port: meta.port,
      user: 'postgres',
      password: meta.password,
      dataDir,
      // meta.json is written after initdb: a cluster that has one has its PG_VERSION.
      version: await dataDirVersion(dataDir).catch(() => NaN),
    };
  }

  /** Whether the cluster was ever initialised: an undo finds nothing to remove in one that was not. */
  async exists(name: string): Promise<boolean> {
    const info = await this.info(name);
    return !!info && existsSync(join(info.dataDir, 'PG_VERSION'));
  }

  private async ensureLocked(name: string, version: number): Promise<ClusterInfo> {
    const dir = this.dir(name);
    const ids = await postgresIds();
    await privateDir(this.stateDir, ids, { shared: true });
    await privateDir(join(this.stateDir, 'clusters'), ids);
    await privateDir(dir, ids);
    const lock = await acquireLock(join(dir, 'lock'));
    try {
      let info = await this.info(name);
      if (!info || !existsSync(join(info.dataDir, 'PG_VERSION'))) info = await this.initialise(name, version);
      if (await isUp(info)) return info;
      // postmaster.opts is written by the first start that got a socket.
      const fresh = !existsSync(join(info.dataDir, 'postmaster.opts'));
      // A new cluster's port was free when it was picked, but something may have taken it since
      // (another process's ephemeral port). Nothing refers to a new cluster's port yet, so pick
      // again; an existing cluster keeps its port, which its subscriptions name.
      for (let attempt = 1; ; attempt++) {
        try {
          await this.start(info);
          return info;
        } catch (err) {
          if (!fresh || attempt >= 3 || !/Address already in use/.test((err as Error).message)) throw err;
          info = await this.movePort(name, info);
        }
      }
    } finally {
      await lock();
    }
  }

  /** Gives a cluster that has never started a new free port. */
  private async movePort(name: string, info: ClusterInfo): Promise<ClusterInfo> {
    const metaPath = join(this.dir(name), 'meta.json');
    const meta = JSON.parse(await readFile(metaPath, 'utf8')) as ClusterMeta;
    meta.port = await freePort();
    await writeFile(metaPath, JSON.stringify(meta), { mode: 0o600 });
    return { ...info, port: meta.port };
  }

  private async initialise(name: string, version: number): Promise<ClusterInfo> {
    const dir = this.dir(name);
    const dataDir = join(dir, 'data');
    await rm(dataDir, { recursive: true, force: true });
    const meta: ClusterMeta = { port: await freePort(), password: randomBytes(18).toString('base64url') };
    const { initdb } = await serverBinaries(version);
    const ids = await postgresIds();
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const pwFile = join(dir, '.pwfile');
    await writeFile(pwFile, `${meta.password}\n`, { mode: 0o600 });
    if (ids) {
      await Promise.all([chown(dataDir, ids.uid, ids.gid), chown(pwFile, ids.uid, ids.gid)]);
      await run('test', ['-w', dataDir], ids).catch(() => {
        throw new Error(
          `the postgres user cannot reach ${dataDir}: ` +
            'set DBMIG_STATE_DIR to a directory every parent of which it may enter',
        );
      });
    }
    try {
      await run(
        initdb,
        [
          '-D',
          dataDir,
          '--auth=scram-sha-256',
          '--username=postgres',
          `--pwfile=${pwFile}`,
          '--encoding=UTF8',
          '--locale=C',
        ],
        { ...(ids ?? {}), env: { ...process.env, LC_ALL: 'C' } },
      );
    } catch (err) {
      throw new Error(
        `initdb failed for cluster ${name}: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`,
      );
    } finally {
      await rm(pwFile, { force: true });
    }
    await writeFile(join(dir, 'meta.json'), JSON.stringify(meta), { mode: 0o600 });
    return { name, host: '127.0.0.1', port: meta.port, user: 'postgres', password: meta.password, dataDir, version };
  }

  private async start(info: ClusterInfo): Promise<void> {
    const { pgCtl } = await serverBinaries(info.version);
    const ids = await postgresIds();
    const logFile = join(dirname(info.dataDir), 'postgres.log');
    // The log quotes failed statements; only its writer (and root) may read it.
    await writeFile(logFile, '', { flag: 'a', mode: 0o600 });
    await chmod(logFile, 0o600);
    if (ids) await chown(logFile, ids.uid, ids.gid);
    const opts = [`-p ${info.port}`, ...SERVER_SETTINGS.map((s) => `-c ${s}`)].join(' ');
    try {
      await run(pgCtl, ['start', '-w', '-t', '60', '-D', info.dataDir, '-l', logFile, '-o', opts], {
        ...(ids ?? {}),
        env: { ...process.env, LC_ALL: 'C' },
      });
    } catch (err) {
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
      throw new Error(`could not start cluster ${info.name} on port ${info.port}: ${(err as Error).message}\n${tail}`);
    }
  }

  async stop(name: string): Promise<void> {
    this.knownUp.delete(name);
    const info = await this.info(name);
    if (!info || !existsSync(join(info.dataDir, 'postmaster.pid'))) return;
    const { pgCtl } = await serverBinaries(info.version);
    const ids = await postgresIds();
    await run(pgCtl, ['stop', '-w', '-m', 'fast', '-D', info.dataDir], { ...(ids ?? {}) }).catch(() => undefined);
  }

  async destroy(name: string): Promise<void> {
    this.knownUp.delete(name);
    await this.stop(name);
    await rm(this.dir(name), { recursive: true, force: true });
  }

  async client(info: ClusterInfo, database = 'postgres'): Promise<pg.Client> {
    return connect({ host: info.host, port: info.port, user: info.user, password: info.password, database });
  }
}

async function isUp(info: ClusterInfo): Promise<boolean> {
  try {
    await withClient({ ...info, database: 'postgres' }, (c) => c.query('select 1'));
    return true;
  } catch {
    throwIfCancelled(activityCancellation());
    return false;
  }
}
