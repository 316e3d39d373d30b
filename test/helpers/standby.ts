// A real streaming physical standby of a test's source cluster, so the source's pg_stat_replication
// shows a standby's write and replay lag as it does in production. Made with pg_basebackup (the
// newest found: the project's PostgreSQL 18 tools back up older servers too) into a cluster
// directory of the local platform's state, then started by LocalClusters like any of its clusters
// (as the `postgres` user when run as root, with the same server settings, which a hot standby
// needs to be at least the source's): a standby.signal and a primary_conninfo make it stream from
// the source. The walreceiver connects with application_name = the standby's name,
// which is how the source's pg_stat_replication (and the throttle's "standby … behind") names it.
import { execFile } from 'node:child_process';
import { appendFile, chmod, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LocalPlatform } from '../../activities/platforms/local';
import type { ClusterInfo } from '../../activities/platforms/local/clusters';
import { clientTools } from '../../activities/engines/postgres/client-tools';
import { withClient } from '../../activities/engines/postgres/sessions';
import { eventually } from './harness';
import { freeAddress } from './metrics-scrape';

const run = promisify(execFile);

/** One row of the source's pg_stat_replication for the standby; lags in seconds, NULL as undefined. */
export interface StandbyLag {
  state: string;
  sentLsn: string;
  replayLsn: string;
  writeLag?: number;
  replayLag?: number;
}

export interface Standby {
  info: ClusterInfo;
  /** pg_wal_replay_pause() on the standby: it keeps receiving and writing WAL, and replays none. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  /** The standby as its source sees it (undefined while it is not connected). */
  lag(): Promise<StandbyLag | undefined>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

async function postgresIds(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const id = async (flag: string) => Number((await run('id', [flag, 'postgres'])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

/** A standby of `source` named `name` (a cluster name of `platform`), streaming once this returns. */
export async function startStandby(platform: LocalPlatform, source: ClusterInfo, name: string): Promise<Standby> {
  const tool = (await clientTools('pg_basebackup')).find((t) => t.major >= source.version);
  if (!tool) throw new Error(`no pg_basebackup of PostgreSQL ${source.version} or newer: run scripts/install-pg-tools`);
  // The layout LocalClusters keeps (clusters.ts): <state>/clusters/<name>/{meta.json,data}, the
  // directory passable by postgres, the data its own. The base backup brings the source's roles,
  // the superuser's password with them.
  const dir = join(platform.stateDir, 'clusters', name);
  const dataDir = join(dir, 'data');
  const ids = await postgresIds();
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o710 });
  if (ids) await chown(dir, -1, ids.gid);
  try {
    const conninfo = `host=${source.host} port=${source.port} user=${source.user}`;
    await run(tool.path, ['-D', dataDir, '-d', conninfo, '-X', 'stream', '-c', 'fast', '--no-sync'], {
      env: { ...process.env, PGPASSWORD: source.password },
    });
  } catch (err) {
    throw new Error(`pg_basebackup of ${source.name} failed: ${(err as { stderr?: string }).stderr ?? String(err)}`);
  }
  // What -R would write, but -R of a newer pg_basebackup names connection options (sslnegotiation,
  // 17+) that an older standby's walreceiver refuses: only what the standby needs, the password
  // among it (the data directory is postgres's alone, 0700).
  const value = (v: string | number) => `'${String(v).replace(/[\\']/g, '\\$&')}'`;
  const primary = [
    `host=${value(source.host)}`,
    `port=${value(source.port)}`,
    `user=${value(source.user)}`,
    `password=${value(source.password)}`,
    `application_name=${value(name)}`,
  ].join(' ');
  await appendFile(join(dataDir, 'postgresql.auto.conf'), `primary_conninfo = '${primary.replace(/'/g, "''")}'\n`);
  await writeFile(join(dataDir, 'standby.signal'), '');
  if (ids) await run('chown', ['-R', `${ids.uid}:${ids.gid}`, dataDir]);
  await chmod(dataDir, 0o700);
  const port = Number((await freeAddress()).split(':')[1]);
  await writeFile(join(dir, 'meta.json'), JSON.stringify({ port, password: source.password }), { mode: 0o600 });
  // Taken since it was free? ensure() picks another for a cluster that has never started.
  const info = await platform.clusters.ensure(name, { version: source.version });

  const onStandby = (sql: string) => withClient({ ...info, database: 'postgres' }, (c) => c.query(sql));
  const standby: Standby = {
    info,
    pauseReplay: () => onStandby('select pg_wal_replay_pause()').then(() => undefined),
    resumeReplay: () => onStandby('select pg_wal_replay_resume()').then(() => undefined),
    lag: () =>
      withClient({ ...source, database: 'postgres' }, async (c) => {
        const { rows } = await c.query<StandbyLag>(
          `select state, sent_lsn::text as "sentLsn", replay_lsn::text as "replayLsn",
                  extract(epoch from write_lag)::float8 as "writeLag",
                  extract(epoch from replay_lag)::float8 as "replayLag"
             from pg_stat_replication where application_name = $1`,
          [name],
        );
        const r = rows[0];
        return r && { ...r, writeLag: r.writeLag ?? undefined, replayLag: r.replayLag ?? undefined };
      }),
    close: () => platform.clusters.destroy(name),
  };
  try {
    await eventually(
      `standby ${name} streaming from ${source.name}`,
      async () => (await standby.lag())?.state === 'streaming',
    );
  } catch (err) {
    await standby.close(); // no server left running on a directory the harness removes
    throw err;
  }
  return standby;
}
