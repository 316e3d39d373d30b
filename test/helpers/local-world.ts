// What the local platform has made, as data: every cluster under the state directory with its
// databases (owner comment, ACL, settings, tables with row counts, dbmig's own schema included,
// sequences with whether nextval was called), publications, slots, subscriptions and ALTER
// SYSTEM settings; the capacity pool and the cutover job records.
// Object ids are included so a dropped and re-created object shows as a change; facts that
// move on their own (LSNs, activity) are not.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalPlatform } from '../../activities/platforms/local';
import { withClient } from '../../activities/engines/postgres/sessions';
import { type ClusterInfo } from '../../activities/platforms/local/clusters';

/** Rows keyed by `key`, so a description's differences name the object (not an index that shifted). */
function byName<R extends Record<string, unknown>>(rows: R[], key: keyof R): Record<string, Omit<R, typeof key>> {
  return Object.fromEntries(rows.map(({ [key]: name, ...rest }) => [String(name), rest]));
}

async function readJson(file: string): Promise<unknown> {
  return existsSync(file) ? JSON.parse(await readFile(file, 'utf8')) : undefined;
}

async function describeDatabase(info: ClusterInfo, database: string) {
  return withClient({ ...info, database }, async (c) => {
    const tables = (
      await c.query<{ name: string; replident: string }>(
        `select format('%I.%I', n.nspname, c.relname) as name, c.relreplident as replident
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
            and n.nspname not like 'pg_toast%' order by 1`,
      )
    ).rows;
    const rows: Record<string, unknown> = {};
    for (const t of tables) {
      const { n } = (await c.query<{ n: string }>(`select count(*) as n from ${t.name}`)).rows[0];
      rows[t.name] = { replicaIdentity: t.replident, rows: Number(n) };
    }
    const publications = await c.query(
      `select p.pubname, p.oid::int, p.puballtables, p.pubviaroot,
              array(select format('%I.%I', t.schemaname, t.tablename) from pg_publication_tables t
                     where t.pubname = p.pubname order by 1) as tables
         from pg_publication p`,
    );
    const sequences = await c.query(
      `select format('%I.%I', schemaname, sequencename) as name, last_value::text,
              pg_sequence_last_value(format('%I.%I', schemaname, sequencename)::regclass) is not null as called
         from pg_sequences where schemaname not in ('pg_catalog', 'information_schema')`,
    );
    return {
      tables: rows,
      sequences: byName(sequences.rows, 'name'),
      publications: byName(publications.rows, 'pubname'),
    };
  });
}

async function describeCluster(info: ClusterInfo) {
  return withClient({ ...info, database: 'postgres' }, async (c) => {
    const databases = await c.query<{ name: string }>(
      `select d.datname as name, d.oid::int, shobj_description(d.oid, 'pg_database') as comment, d.datacl::text as acl,
              (select s.setconfig from pg_db_role_setting s where s.setdatabase = d.oid and s.setrole = 0) as settings
         from pg_database d where not d.datistemplate`,
    );
    const described = Object.fromEntries(
      await Promise.all(
        databases.rows.map(async ({ name, ...d }) => [name, { ...d, ...(await describeDatabase(info, name)) }]),
      ),
    );
    const slots = await c.query(`select slot_name, plugin, slot_type, database, temporary from pg_replication_slots`);
    const subscriptions = await c.query(
      `select s.subname, s.oid::int, d.datname, s.subenabled, s.subpublications, s.subslotname
         from pg_subscription s join pg_database d on d.oid = s.subdbid`,
    );
    const altered = await c.query(
      `select name, setting from pg_file_settings where sourcefile like '%postgresql.auto.conf'`,
    );
    return {
      databases: described,
      slots: byName(slots.rows, 'slot_name'),
      subscriptions: byName(subscriptions.rows, 'subname'),
      alteredSettings: byName(altered.rows, 'name'),
    };
  });
}

export async function describeLocalWorld(platform: LocalPlatform): Promise<unknown> {
  const dir = (...p: string[]) => join(platform.stateDir, ...p);
  const names = existsSync(dir('clusters')) ? (await readdir(dir('clusters'))).sort() : [];
  const clusters = Object.fromEntries(
    await Promise.all(
      names.map(async (name) => {
        const info = await platform.clusters.info(name);
        return [name, info ? await describeCluster(info) : 'a directory without a cluster'];
      }),
    ),
  );
  // An empty pool and an empty job record mean what no file means: described alike.
  const jobs: Record<string, unknown> = {};
  for (const f of existsSync(dir('jobs')) ? (await readdir(dir('jobs'))).sort() : []) {
    const rec = await readJson(dir('jobs', f));
    if (rec && Object.keys(rec).length) jobs[f] = rec;
  }
  return { clusters, capacity: (await readJson(dir('capacity.json'))) ?? {}, jobs };
}
