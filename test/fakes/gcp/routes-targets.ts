// Cloud SQL Admin v1 (google/cloud/sql/v1/cloud_sql_instances.proto) and AlloyDB v1
// (google/cloud/alloydb/v1/service.proto, resources.proto): the instance and cluster endpoints the
// platform calls. PENDING_CREATE/CREATING state machines and schema checks are issue 10.
import { ApiError, ok, renderOp, type FakeGcp, type Handler } from './server';

const SEG = '([^/:]+)';
const ALLOYDB = 'alloydb.projects.locations.clusters';

export function cloudSqlRoutes(f: FakeGcp): void {
  const key = (p: string, i: string) => `sql/${p}/${i}`;
  f.route('GET', new RegExp(`^/v1/projects/${SEG}/instances/${SEG}$`), 'sql.instances.get', ({ params: [p, i] }) => {
    const inst = f.resources.get(key(p, i));
    if (!inst) throw new ApiError(404, `instance ${i} not found`);
    return ok(inst);
  });
  f.route('POST', new RegExp(`^/v1/projects/${SEG}/instances$`), 'sql.instances.insert', (ctx) =>
    f.idempotent(ctx, () => {
      const [p] = ctx.params;
      const name = ctx.body?.name;
      if (!name || !ctx.body?.settings?.tier) throw new ApiError(400, 'name and settings.tier are required');
      if (f.resources.has(key(p, name))) throw new ApiError(409, `instance ${name} already exists`);
      f.resources.set(key(p, name), { ...ctx.body, project: p, state: 'PENDING_CREATE' });
      const op = f.operation('sql', () => {
        Object.assign(f.resources.get(key(p, name)), {
          state: 'RUNNABLE',
          ipAddresses: [{ type: 'PRIVATE', ipAddress: '10.20.0.5' }],
        });
      });
      return ok(renderOp(op));
    }),
  );
  f.route(
    'DELETE',
    new RegExp(`^/v1/projects/${SEG}/instances/${SEG}$`),
    'sql.instances.delete',
    ({ params: [p, i] }) => {
      if (!f.resources.has(key(p, i))) throw new ApiError(404, `instance ${i} not found`);
      return ok(renderOp(f.operation('sql', () => f.resources.delete(key(p, i)))));
    },
  );
  f.route('GET', new RegExp(`^/v1/projects/${SEG}/operations/${SEG}$`), 'sql.operations.get', ({ params: [, op] }) =>
    ok(renderOp(f.poll(op))),
  );
}

export function alloyDbRoutes(f: FakeGcp): void {
  const base = `^/v1/(projects/${SEG}/locations/${SEG})`;
  const get: Handler = ({ path }) => {
    const res = f.resources.get(`alloydb/${path.slice(4)}`);
    if (!res) throw new ApiError(404, `${path.slice(4)} not found`);
    return ok(res);
  };
  f.route('GET', new RegExp(`${base}/clusters/${SEG}$`), `${ALLOYDB}.get`, get);
  f.route('GET', new RegExp(`${base}/clusters/${SEG}/instances/${SEG}$`), `${ALLOYDB}.instances.get`, get);
  f.route('POST', new RegExp(`${base}/clusters$`), `${ALLOYDB}.create`, (ctx) =>
    f.idempotent(ctx, () => {
      const [parent] = ctx.params;
      const id = ctx.query.get('clusterId');
      const name = `${parent}/clusters/${id}`;
      if (!id) throw new ApiError(400, 'clusterId is required');
      if (f.resources.has(`alloydb/${name}`)) throw new ApiError(409, `cluster ${id} already exists`);
      f.resources.set(`alloydb/${name}`, { ...ctx.body, name, state: 'CREATING' });
      return ok(
        renderOp(
          f.operation('longrunning', () => Object.assign(f.resources.get(`alloydb/${name}`), { state: 'READY' }), {
            prefix: `${parent}/operations/`,
            typeUrl: 'type.googleapis.com/google.cloud.alloydb.v1.Cluster',
          }),
        ),
      );
    }),
  );
  f.route('POST', new RegExp(`${base}/clusters/${SEG}/instances$`), `${ALLOYDB}.instances.create`, (ctx) =>
    f.idempotent(ctx, () => {
      const [parent, , , cluster] = ctx.params;
      const clusterName = `${parent}/clusters/${cluster}`;
      if (!f.resources.has(`alloydb/${clusterName}`)) throw new ApiError(404, `cluster ${cluster} not found`);
      const name = `${clusterName}/instances/${ctx.query.get('instanceId')}`;
      if (f.resources.has(`alloydb/${name}`)) throw new ApiError(409, `instance ${name} already exists`);
      f.resources.set(`alloydb/${name}`, { ...ctx.body, name, state: 'CREATING' });
      return ok(
        renderOp(
          f.operation(
            'longrunning',
            () => Object.assign(f.resources.get(`alloydb/${name}`), { state: 'READY', ipAddress: '10.30.0.7' }),
            { prefix: `${parent}/operations/`, typeUrl: 'type.googleapis.com/google.cloud.alloydb.v1.Instance' },
          ),
        ),
      );
    }),
  );
  f.route(
    'DELETE',
    new RegExp(`${base}/clusters/${SEG}$`),
    `${ALLOYDB}.delete`,
    ({ params: [parent, , , cluster], query }) => {
      const name = `${parent}/clusters/${cluster}`;
      if (!f.resources.has(`alloydb/${name}`)) throw new ApiError(404, `cluster ${cluster} not found`);
      const children = [...f.resources.keys()].filter((k) => k.startsWith(`alloydb/${name}/instances/`));
      if (children.length && query.get('force') !== 'true') throw new ApiError(400, 'cluster has instances; use force');
      return ok(
        renderOp(
          f.operation('longrunning', () => [`alloydb/${name}`, ...children].forEach((k) => f.resources.delete(k)), {
            prefix: `${parent}/operations/`,
          }),
        ),
      );
    },
  );
  // google.longrunning operations; DMS uses the same path shape.
  f.route('GET', new RegExp(`${base}/operations/${SEG}$`), 'google.longrunning.Operations.GetOperation', ({ path }) =>
    ok(renderOp(f.poll(path.slice(4)))),
  );
}
