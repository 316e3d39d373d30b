// Which PostgreSQL extensions DMS can carry to the target. DMS "doesn't migrate extensions that are
// unsupported by Cloud SQL" (https://cloud.google.com/database-migration/docs/postgres/configure-source-database)
// and "only extensions and procedural languages that AlloyDB supports can be migrated"
// (https://cloud.google.com/database-migration/docs/postgresql-to-alloydb/known-limitations).
// The lists below follow the targets' pages as of EXTENSIONS_AS_OF:
//   Cloud SQL: https://cloud.google.com/sql/docs/postgres/extensions
//   AlloyDB:   https://cloud.google.com/alloydb/docs/reference/supported-extensions
// They are deliberately short: an extension in neither list is reported as unknown (a warning that
// names the pages), never assumed to be carried.
import type { Finding } from '../../../steps';

export const EXTENSIONS_AS_OF = '2026-11';

/** Carried on both targets: PostgreSQL's contrib modules the pages list, and the common third-party ones. */
const SUPPORTED = new Set([
  'amcheck',
  'autoinc',
  'bloom',
  'btree_gin',
  'btree_gist',
  'citext',
  'cube',
  'dblink',
  'dict_int',
  'dict_xsyn',
  'earthdistance',
  'fuzzystrmatch',
  'hstore',
  'insert_username',
  'intagg',
  'intarray',
  'isn',
  'lo',
  'ltree',
  'moddatetime',
  'pageinspect',
  'pg_buffercache',
  'pg_freespacemap',
  'pg_prewarm',
  'pg_stat_statements',
  'pg_trgm',
  'pg_visibility',
  'pgcrypto',
  'pgrowlocks',
  'pgstattuple',
  'plpgsql',
  'postgres_fdw',
  'refint',
  'seg',
  'sslinfo',
  'tablefunc',
  'tcn',
  'tsm_system_rows',
  'tsm_system_time',
  'unaccent',
  'uuid-ossp',
  'postgis',
  'postgis_raster',
  'postgis_topology',
  'postgis_tiger_geocoder',
  'address_standardizer',
  'address_standardizer_data_us',
  'pgrouting',
  'vector',
  'pg_partman',
  'pgaudit',
  'pg_hint_plan',
  'plv8',
  'pg_repack',
  'hll',
  'ip4r',
  'prefix',
  'pgtap',
  'orafce',
  'pg_bigm',
  'pg_similarity',
  'pg_wait_sampling',
  'pgfincore',
  'pg_proctab',
  'rdkit',
  'temporal_tables',
]);

/**
 * Never on either target: untrusted procedural languages and extensions that reach the server's
 * files need a real superuser, which neither service gives (cloudsqlsuperuser/alloydbsuperuser is
 * not one); TimescaleDB and Citus are on neither page.
 */
const UNSUPPORTED = new Set([
  'adminpack',
  'file_fdw',
  'plperlu',
  'plpythonu',
  'plpython2u',
  'plpython3u',
  'pltclu',
  'timescaledb',
  'citus',
]);

/** Handled by the checks themselves, not by the table. */
const OWN_CHECKS = new Set(['pglogical', 'pglogical_origin', 'pg_cron']);

export type ExtensionSupport = 'supported' | 'unsupported' | 'unknown';

export function extensionSupport(name: string): ExtensionSupport {
  if (SUPPORTED.has(name) || OWN_CHECKS.has(name)) return 'supported';
  return UNSUPPORTED.has(name) ? 'unsupported' : 'unknown';
}

/** Findings for the extensions installed in the source database. */
export function extensionFindings(installed: string[], target: 'cloudsql' | 'alloydb'): Finding[] {
  const service = target === 'alloydb' ? 'AlloyDB' : 'Cloud SQL';
  const page =
    target === 'alloydb'
      ? 'https://cloud.google.com/alloydb/docs/reference/supported-extensions'
      : 'https://cloud.google.com/sql/docs/postgres/extensions';
  const findings: Finding[] = [];
  for (const name of [...installed].sort()) {
    const support = extensionSupport(name);
    if (name === 'pg_cron')
      findings.push({
        code: 'PG_CRON',
        severity: 'info',
        message:
          'pg_cron is installed: DMS does not migrate it or its cron jobs; install it on the target and recreate ' +
          'the jobs after the cutover',
      });
    else if (support === 'unsupported')
      findings.push({
        code: 'UNSUPPORTED_EXTENSION',
        severity: 'warning',
        message:
          `extension ${name} is not supported by ${service}: DMS does not migrate it, and objects that use it ` +
          `fail on the target; drop it (and what uses it) from the source before migrating (${page})`,
      });
    else if (support === 'unknown')
      findings.push({
        code: 'UNKNOWN_EXTENSION',
        severity: 'warning',
        message:
          `extension ${name} is not in dbmig's table of ${service} extensions (as of ${EXTENSIONS_AS_OF}): check ` +
          `${page}; DMS does not migrate an extension the target does not support`,
      });
  }
  return findings;
}
