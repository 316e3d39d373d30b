// Where a local-platform target database lives: an embedded cluster the worker runs (kind cloudsql
// or alloydb on local: demos, tests, rehearsals), or an existing PostgreSQL server (kind postgres:
// real moves). Both take the same replication, validation, cutover and rollback; they differ in
// what the worker may do to the server itself. An embedded cluster is made, started and tuned by
// the worker, and its job records and logs are on this machine. An existing server is only
// connected to: the worker creates nothing on it but the migration's database (and, while a
// rollback is possible, the reverse slot), changes none of its settings, and keeps the job record
// in that database, so any number of workers on any hosts serve its plans.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resourceNames } from '../../../common/naming';
import { targetServerPassword } from '../../secrets';
import type { DatabaseTask } from '../../steps';
import type { LocalClusters } from './clusters';
import { DatabaseJobRecords, type JobRecordStore } from '../../engines/postgres/job-record';
import { JobRecords } from './job-record-file';
import { serverVersion } from '../../engines/postgres/server-version';
import { withClient, type ConnectionParams } from '../../engines/postgres/sessions';

export interface TargetServer {
  readonly existingServer: boolean;
  /**
   * The server's admin connection (database postgres); an embedded cluster is made at `version` and
   * started (`strict`: an existing one must run `version`).
   */
  admin(version?: number, strict?: boolean): Promise<ConnectionParams>;
  /** The admin connection only when the server is there: an undo must not make an embedded cluster. */
  ifExists(): Promise<ConnectionParams | undefined>;
  /** Cheap connection facts for polls (no start-up probe); undefined when not known yet. */
  known(): Promise<ConnectionParams | undefined>;
  /** The server's major version when it exists (an embedded cluster not made yet: undefined). */
  version(): Promise<number | undefined>;
  records(): JobRecordStore;
  /** The server's own words for why apply fails, newest last. */
  applyErrors(): Promise<string[]>;
}

const adminDb = 'postgres';

class EmbeddedTarget implements TargetServer {
  readonly existingServer = false;
  constructor(
    private readonly task: DatabaseTask,
    private readonly clusters: LocalClusters,
    private readonly stateDir: string,
  ) {}

  private get name() {
    return this.task.database.target.instance;
  }

  async admin(version?: number, strict = true): Promise<ConnectionParams> {
    const info = await this.clusters.ensure(this.name, { version, strict });
    return { host: info.host, port: info.port, user: info.user, password: info.password, database: adminDb };
  }

  async ifExists(): Promise<ConnectionParams | undefined> {
    return (await this.clusters.exists(this.name)) ? this.admin() : undefined;
  }

  async known(): Promise<ConnectionParams | undefined> {
    const info = await this.clusters.info(this.name);
    return info && { host: info.host, port: info.port, user: info.user, password: info.password, database: adminDb };
  }

  async version(): Promise<number | undefined> {
    return (await this.clusters.exists(this.name)) ? (await this.clusters.info(this.name))?.version : undefined;
  }

  records(): JobRecordStore {
    const { job } = resourceNames(this.task.migrationId, this.task.database.name);
    return new JobRecords(join(this.stateDir, 'jobs', `${job}.json`));
  }

  async applyErrors(): Promise<string[]> {
    const log = join(this.stateDir, 'clusters', this.name, 'postgres.log');
    const text = await readFile(log, 'utf8').catch(() => '');
    const lines = text.split('\n').filter((l) => /ERROR:/.test(l) && /replicat|subscription|relation|column/i.test(l));
    return lines.slice(-3).map((l) => l.replace(/^.*?ERROR:\s*/, ''));
  }
}

class ExistingServer implements TargetServer {
  readonly existingServer = true;
  constructor(private readonly task: DatabaseTask) {}

  async admin(): Promise<ConnectionParams> {
    const t = this.task.database.target;
    const server = { host: t.host!, passwordRef: t.passwordRef! };
    return {
      host: server.host,
      port: t.port ?? 5432,
      user: t.user!,
      password: await targetServerPassword(server),
      database: adminDb,
    };
  }

  ifExists(): Promise<ConnectionParams> {
    return this.admin();
  }

  known(): Promise<ConnectionParams> {
    return this.admin();
  }

  async version(): Promise<number> {
    return withClient(await this.admin(), async (c) => (await serverVersion(c)).major);
  }

  records(): JobRecordStore {
    const { job } = resourceNames(this.task.migrationId, this.task.database.name);
    const database = this.task.settings.targetDatabase;
    return lazyStore(async () => new DatabaseJobRecords({ ...(await this.admin()), database }, job));
  }

  /** The server's log is not the worker's to read: the counts, and where to look. */
  async applyErrors(): Promise<string[]> {
    const sub = resourceNames(this.task.migrationId, this.task.database.name).subscription;
    const admin = await this.admin();
    const { rows } = await withClient({ ...admin, database: this.task.settings.targetDatabase }, (c) =>
      c.query<{ apply: string; sync: string }>(
        `select apply_error_count as apply, sync_error_count as sync from pg_stat_subscription_stats
          where subname = $1`,
        [sub],
      ),
    ).catch(() => ({ rows: [] as { apply: string; sync: string }[] }));
    if (!rows.length) return [];
    return [
      `subscription ${sub} on ${admin.host}:${admin.port} counts ${rows[0].apply} apply and ${rows[0].sync} ` +
        "table-sync errors; their text is in that server's log",
    ];
  }
}

function lazyStore(make: () => Promise<JobRecordStore>): JobRecordStore {
  let store: Promise<JobRecordStore> | undefined;
  const get = () => (store ??= make());
  return {
    read: async () => (await get()).read(),
    take: async () => (await get()).take(),
    write: async (rec) => (await get()).write(rec),
    clear: async (lease) => (await get()).clear(lease),
  };
}

export function targetServer(task: DatabaseTask, clusters: LocalClusters, stateDir: string): TargetServer {
  if (task.database.target.kind === 'postgres') return new ExistingServer(task);
  return new EmbeddedTarget(task, clusters, stateDir);
}
