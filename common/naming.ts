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
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, max);
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
