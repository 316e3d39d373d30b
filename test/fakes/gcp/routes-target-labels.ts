// Label updates of the targets: Cloud SQL instances.patch (SqlInstancesPatchRequest,
// cloud_sql_instances.proto; REST https://cloud.google.com/sql/docs/postgres/admin-api/rest/v1/instances/patch)
// and AlloyDB clusters.patch (UpdateClusterRequest, google/cloud/alloydb/v1/service.proto). The
// platform uses them for one thing, the took-over mark (activities/platforms/gcp/sql/took-over.ts), so
// the fake serves what that needs and refuses the rest by name rather than ignoring it.
import { ApiError, ok, renderOp, type FakeGcp } from './server';
import { refuseWhileInFlight, targetsState } from './routes-targets';

const SEG = '([^/:]+)';

/**
 * Labels as Google defines them (https://cloud.google.com/resource-manager/docs/labels-overview#requirements,
 * which Cloud SQL's user labels, https://cloud.google.com/sql/docs/postgres/label-instance, and AlloyDB's
 * labels follow): at most 64; keys 1 to 63 characters, starting with a lower-case letter; keys and
 * values of lower-case letters, digits, _ and - (the fake takes no international characters);
 * values at most 63 and may be empty.
 */
export function checkLabels(field: string, labels: unknown): void {
  if (labels === undefined || labels === null) return;
  const entries = Object.entries(labels as Record<string, unknown>);
  if (entries.length > 64) throw ApiError.invalid(field, `${field}: at most 64 labels`);
  for (const [k, v] of entries) {
    if (!/^[a-z][a-z0-9_-]{0,62}$/.test(k))
      throw ApiError.invalid(`${field}.${k}`, `${field}: label key "${k}" is invalid`);
    if (v !== null && (typeof v !== 'string' || !/^[a-z0-9_-]{0,63}$/.test(v)))
      throw ApiError.invalid(`${field}.${k}`, `${field}: label value "${String(v)}" is invalid`);
  }
}

export function targetLabelRoutes(f: FakeGcp): void {
  const s = targetsState(f);

  // Cloud SQL: patch semantics; a map field is merged key by key and a null value removes the key
  // ("To remove a label ... set its value to null": https://cloud.google.com/sql/docs/postgres/label-instance).
  f.route('PATCH', new RegExp(`^/v1/projects/${SEG}/instances/${SEG}$`), 'sql.instances.patch', (ctx) => {
    const [p, i] = ctx.params;
    const key = `sql/${p}/${i}`;
    const inst = f.resources.get(key);
    // The same 403 for a missing instance as get and delete (routes-targets.ts).
    if (!inst)
      throw new ApiError(403, 'The client is not authorized to make this request.', { reason: 'notAuthorized' });
    refuseWhileInFlight(f, key);
    const body = ctx.body ?? {};
    // An empty map or list is a field at its default, which proto3 JSON may send or leave out (the gax
    // client sends DatabaseInstance.tags as {}): not a request to change it.
    const given = (o: Record<string, unknown>) =>
      Object.keys(o).filter((k) => {
        const v = o[k];
        return !(v === null || (typeof v === 'object' && Object.keys(v as object).length === 0));
      });
    const fields = [...given(body).filter((k) => k !== 'settings' && k !== 'name'), ...given(body.settings ?? {})];
    const unsupported = fields.filter((k) => k !== 'userLabels');
    if (unsupported.length) throw new ApiError(400, `fake: instances.patch of ${unsupported.join(', ')} is not served`);
    const labels = body.settings?.userLabels;
    checkLabels('settings.userLabels', labels);
    const op = f.operation('sql', () => {
      const now = f.resources.get(key);
      if (!now) return;
      const merged: Record<string, string> = { ...(now.settings?.userLabels ?? {}) };
      for (const [k, v] of Object.entries((labels ?? {}) as Record<string, string | null>))
        if (v === null) delete merged[k];
        else merged[k] = v;
      now.settings = { ...now.settings, userLabels: merged };
    });
    if (!op.done) s.pending.set(key, op.name);
    return ok(renderOp(op));
  });

  // AlloyDB: update_mask names the fields the cluster in the body replaces; only labels is served.
  const base = `^/v1/(projects/${SEG}/locations/${SEG})`;
  f.route('PATCH', new RegExp(`${base}/clusters/${SEG}$`), 'alloydb.projects.locations.clusters.patch', (ctx) =>
    f.idempotent(ctx, () => {
      const [parent] = ctx.params;
      const name = ctx.path.slice(4);
      const key = `alloydb/${name}`;
      const cluster = f.resources.get(key);
      if (!cluster) throw new ApiError(404, `Resource '${name}' was not found`);
      const mask = (ctx.query.get('updateMask') ?? '').split(',').filter(Boolean);
      if (!mask.length || mask.some((m) => m !== 'labels'))
        throw new ApiError(
          400,
          `fake: clusters.patch with update_mask "${mask.join(',')}" is not served (labels only)`,
        );
      if (cluster.state !== 'READY')
        throw new ApiError(400, `cluster ${name} is ${cluster.state}, not READY`, { status: 'FAILED_PRECONDITION' });
      const labels = ctx.body?.labels ?? {};
      checkLabels('cluster.labels', labels);
      const op = f.operation(
        'longrunning',
        () => {
          const now = f.resources.get(key);
          if (now) now.labels = { ...labels };
        },
        { prefix: `${parent}/operations/`, typeUrl: 'type.googleapis.com/google.cloud.alloydb.v1.Cluster' },
      );
      if (!op.done) s.pending.set(key, op.name);
      return ok(renderOp(op));
    }),
  );
}
