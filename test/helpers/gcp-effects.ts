// What a gcp fleet did, read from the fake: its recorded requests and its state, never from the
// workflow's own account (its scheduled events). A request's effect is what counts: under injected
// faults and lost answers a client sends a request again, and the repeat is applied by no one (a
// fault never reaches the API, the request-id memory answers a repeat, a second create meets
// "already exists", a second delete "not found"). So the dry run is compared with the requests
// that took effect, and every other changing request must be a repeat of one of those.
import type { PlannedCall } from '../../activities/steps';
import type { PlannedDatabase } from '../../cli/plan-report';
import { STATES } from '../../common/states';
import type { FakeGcp, LoggedRequest } from '../fakes/gcp';

/**
 * Requests whose effect was applied: reached the route, not faulted, not deduplicated, not refused by
 * the handler (FakeGcp.effects()), answered 2xx or lost.
 */
export const applied = (r: LoggedRequest) =>
  !!r.rpc && !r.faulted && !r.deduplicated && !r.refused && (r.lost || (r.status !== undefined && r.status < 300));

/** The applied requests of `rpc` (suffix of the discovery id) on `resource`. */
export function appliedCalls(fake: FakeGcp, rpc: string, resource?: string): LoggedRequest[] {
  return fake.log.filter((r) => applied(r) && r.rpc!.endsWith(rpc) && (!resource || r.resource === resource));
}

const asCall = (r: { method: string; resource: string; validateOnly?: boolean }): PlannedCall => ({
  method: r.method,
  resource: r.resource,
  ...(r.validateOnly ? { validateOnly: true } : {}),
});
const same = (a: PlannedCall, b: PlannedCall) =>
  a.method === b.method && a.resource === b.resource && !!a.validateOnly === !!b.validateOnly;

/** One database's changing requests: all of them (FakeGcp.changes()) and those that took effect. */
export interface DatabaseRequests {
  sent: PlannedCall[];
  effects: PlannedCall[];
  /** Sent but applied by no one: each a repeat of one of `effects` (asserted by `requestsOf`). */
  repeats: PlannedCall[];
}

/**
 * The changing requests of each database, told apart by the resources its planned calls name
 * (a request on a resource no database planned is returned as `unplanned`, with the per-migration
 * monitoring requests apart).
 */
export function requestsOf(
  fake: FakeGcp,
  planned: PlannedDatabase[],
): { byDatabase: Map<string, DatabaseRequests>; monitoring: string[]; unplanned: PlannedCall[] } {
  const owner = new Map<string, string>();
  for (const p of planned)
    for (const c of p.operations.flatMap((o) => o.calls ?? [])) {
      if (owner.has(c.resource) && owner.get(c.resource) !== p.database.name)
        throw new Error(`${c.resource} is planned for ${owner.get(c.resource)} and ${p.database.name}`);
      owner.set(c.resource, p.database.name);
    }
  const byDatabase = new Map<string, DatabaseRequests>(
    planned.map((p) => [p.database.name, { sent: [], effects: [], repeats: [] }]),
  );
  const monitoring: string[] = [];
  const unplanned: PlannedCall[] = [];
  for (const c of fake.changes()) {
    const db = owner.get(c.resource);
    if (db) byDatabase.get(db)!.sent.push(asCall(c));
    else if (c.method.startsWith('monitoring.')) monitoring.push(c.method);
    else unplanned.push(asCall(c));
  }
  // The same selection as FakeGcp.changes(), then only what took effect.
  for (const r of fake.log.filter((x) => applied(x) && x.method !== 'GET' && !x.rpc!.endsWith('.testIamPermissions'))) {
    const db = owner.get(r.resource!);
    if (db)
      byDatabase.get(db)!.effects.push(asCall({ method: r.rpc!, resource: r.resource!, validateOnly: r.validateOnly }));
  }
  for (const [db, d] of byDatabase) {
    const left = [...d.effects];
    for (const c of d.sent) {
      const i = left.findIndex((e) => same(e, c));
      if (i >= 0) left.splice(i, 1);
      else if (d.effects.some((e) => same(e, c))) d.repeats.push(c);
      else throw new Error(`${db}: ${c.method} ${c.resource} was sent, took no effect and repeats nothing`);
    }
    if (left.length) throw new Error(`${db}: effects not among the changes: ${JSON.stringify(left)}`);
  }
  return { byDatabase, monitoring, unplanned };
}

/** The dry run's changing calls for a database, all of them or those before its approval. */
export function plannedCalls(p: PlannedDatabase, upTo?: 'AWAITING_APPROVAL'): PlannedCall[] {
  const ops = upTo ? p.operations.filter((o) => STATES.indexOf(o.state) < STATES.indexOf(upTo)) : p.operations;
  return ops.flatMap((o) => o.calls ?? []);
}

const UNDO = /\.(delete|stop|cancel)$/;
const CREATE = /\.(create|insert)$/;

/**
 * A compensation read from the requests that took effect: after the calls the dry run lists
 * before the approval, only undoing calls (delete, stop, cancel) on resources those calls named;
 * every resource they created deleted exactly once by a request of its own, except the
 * destination connection profile the dry run never deletes either: DMS deletes it with its job
 * ("The destination CloudSQL connection profile is always deleted with the migration job",
 * https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.migrationJobs/delete),
 * so it is never deleted twice (leftOf finds it if it stays). Returns what is wrong, empty when nothing.
 */
export function undoProblems(effects: PlannedCall[], beforeApproval: PlannedCall[], plan: PlannedCall[]): string[] {
  const problems: string[] = [];
  const head = effects.slice(0, beforeApproval.length);
  if (JSON.stringify(head) !== JSON.stringify(beforeApproval))
    problems.push(`up to the approval, sent ${JSON.stringify(head)} but planned ${JSON.stringify(beforeApproval)}`);
  const named = new Set(beforeApproval.map((c) => c.resource));
  const undo = effects.slice(beforeApproval.length);
  for (const c of undo)
    if (!UNDO.test(c.method) || !named.has(c.resource)) problems.push(`not an undo: ${c.method} ${c.resource}`);
  const deletedByPlan = new Set(plan.filter((c) => c.method.endsWith('.delete')).map((c) => c.resource));
  const jobDeleted = undo.some((u) => u.method.endsWith('.migrationJobs.delete'));
  for (const c of beforeApproval.filter((x) => CREATE.test(x.method) && !x.validateOnly)) {
    const deletes = undo.filter((u) => u.resource === c.resource && u.method.endsWith('.delete')).length;
    const withItsJob = jobDeleted && c.method.endsWith('.connectionProfiles.create') && !deletedByPlan.has(c.resource);
    const expected = withItsJob ? 0 : 1;
    if (deletes !== expected) problems.push(`${c.resource}: created, deleted ${deletes} times (expected ${expected})`);
  }
  return problems;
}

/** The created resources (by their last name segment) that the fake still holds. */
export function leftOf(fake: FakeGcp, created: PlannedCall[]): string[] {
  const ids = new Set(
    created.filter((c) => CREATE.test(c.method) && !c.validateOnly).map((c) => c.resource.split('/').pop()!),
  );
  return [...fake.resources.keys()].filter((k) => k.split('/').some((seg) => ids.has(seg)));
}
