// Deterministic resource names derived from (migration id, database), so a retried activity
// finds what its first attempt made. PostgreSQL identifiers are capped at 63 bytes and
// replication slot names allow only [a-z0-9_], hence the sanitising and the hash suffix.

export function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

function slug(text: string, max: number): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, max);
}

export interface ResourceNames {
  childWorkflowId: string;
  publication: string;
  slot: string;
  subscription: string;
  capacityReservation: string;
  job: string;
}

export function childWorkflowId(migrationId: string, database: string): string {
  return `${migrationId}/${database}`;
}

export function resourceNames(migrationId: string, database: string): ResourceNames {
  const hash = fnv1a(`${migrationId}/${database}`);
  const base = `dbmig_${slug(database, 30)}_${hash}`;
  return {
    childWorkflowId: childWorkflowId(migrationId, database),
    publication: `${base}_pub`,
    slot: `${base}_slot`,
    subscription: `${base}_sub`,
    capacityReservation: `${base}_cap`,
    job: base,
  };
}

/** Google Cloud resource ids allow [a-z0-9-], start with a letter and end with a letter or digit. */
export function gcpId(text: string, max: number): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/, '');
}

export interface GcpResourceNames {
  sourceProfile: string;
  destinationProfile: string;
  migrationJob: string;
  futureReservation: string;
  resizeRequest: string;
  alloydbPrimary: (cluster: string) => string;
  /** Label value marking resources this migration created. */
  ownerLabel: string;
}

export function gcpResourceNames(migrationId: string, database: string): GcpResourceNames {
  const hash = fnv1a(`${migrationId}/${database}`);
  const base = `dbmig-${gcpId(database, 30)}-${hash}`;
  return {
    sourceProfile: `${base}-src`,
    destinationProfile: `${base}-dst`,
    migrationJob: base,
    futureReservation: `${base}-cal`,
    resizeRequest: `${base}-flex`,
    alloydbPrimary: (cluster: string) => `${cluster}-primary`,
    ownerLabel: gcpId(migrationId, 63),
  };
}

/** A deterministic UUID-shaped request id, so a retried create is recognised by the API. */
export function requestId(...parts: string[]): string {
  const h = [0, 1, 2, 3].map((i) => fnv1a(`${i}:${parts.join('/')}`)).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The task queue workers serve and clients start on unless configured otherwise. */
export const DEFAULT_TASK_QUEUE = 'db-migrations';

/** The workflow types, by name, for callers that must not load workflow code (clients). */
export const PARENT_WORKFLOW_TYPE = 'MultiDatabaseMigration';
export const CHILD_WORKFLOW_TYPE = 'DatabaseMigration';
