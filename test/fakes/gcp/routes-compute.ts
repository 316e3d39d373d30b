// Compute v1: future reservations (calendar mode), managed-instance-group resize requests
// (flex-start) and zone operations. Shapes from the compute v1 protos in @google-cloud/compute
// (google/cloud/compute/v1/compute.proto; REST: https://cloud.google.com/compute/docs/reference/rest/v1).
// Which of Google's rules it does not enforce yet (enums, required fields, state machines) is issue 10.
import { ApiError, ok, renderOp, type FakeGcp } from './server';

const SEG = '([^/:]+)';
const RR = 'compute.instanceGroupManagerResizeRequests';

export function computeRoutes(f: FakeGcp, migs: Set<string>): void {
  const zone = `^/compute/v1/projects/${SEG}/zones/${SEG}`;
  const op = (z: string, finish?: () => unknown) => ok(renderOp(f.operation('compute', finish, { zone: z })));

  f.route(
    'GET',
    new RegExp(`${zone}/futureReservations/${SEG}$`),
    'compute.futureReservations.get',
    ({ params: [p, z, n] }) => {
      const fr = f.resources.get(`fr/${p}/${z}/${n}`);
      if (!fr) throw new ApiError(404, `future reservation ${n} not found`);
      return ok(fr);
    },
  );
  f.route('POST', new RegExp(`${zone}/futureReservations$`), 'compute.futureReservations.insert', (ctx) =>
    f.idempotent(ctx, () => {
      const [p, z] = ctx.params;
      const name = ctx.body?.name;
      if (!name || !ctx.body?.specificSkuProperties?.totalCount || !ctx.body?.timeWindow?.startTime)
        throw new ApiError(400, 'name, specificSkuProperties.totalCount and timeWindow are required');
      if (f.resources.has(`fr/${p}/${z}/${name}`)) throw new ApiError(409, `future reservation ${name} already exists`);
      return op(z, () =>
        f.resources.set(`fr/${p}/${z}/${name}`, { ...ctx.body, status: { procurementStatus: 'APPROVED' } }),
      );
    }),
  );
  f.route(
    'DELETE',
    new RegExp(`${zone}/futureReservations/${SEG}$`),
    'compute.futureReservations.delete',
    ({ params: [p, z, n] }) => {
      if (!f.resources.has(`fr/${p}/${z}/${n}`)) throw new ApiError(404, `future reservation ${n} not found`);
      return op(z, () => f.resources.delete(`fr/${p}/${z}/${n}`));
    },
  );

  const rr = `${zone}/instanceGroupManagers/${SEG}/resizeRequests`;
  const mig = (p: string, z: string, m: string) => {
    if (!migs.has(m))
      throw new ApiError(404, `instance group manager projects/${p}/zones/${z}/instanceGroupManagers/${m} not found`);
  };
  f.route('GET', new RegExp(`${rr}/${SEG}$`), `${RR}.get`, ({ params: [p, z, m, r] }) => {
    mig(p, z, m);
    const res = f.resources.get(`rr/${p}/${z}/${m}/${r}`);
    if (!res) throw new ApiError(404, `resize request ${r} not found`);
    return ok(res);
  });
  f.route('POST', new RegExp(`${rr}$`), `${RR}.insert`, (ctx) =>
    f.idempotent(ctx, () => {
      const [p, z, m] = ctx.params;
      mig(p, z, m);
      const name = ctx.body?.name;
      if (!name || !ctx.body?.resizeBy) throw new ApiError(400, 'name and resizeBy are required');
      if (f.resources.has(`rr/${p}/${z}/${m}/${name}`))
        throw new ApiError(409, `resize request ${name} already exists`);
      return op(z, () => f.resources.set(`rr/${p}/${z}/${m}/${name}`, { ...ctx.body, state: 'ACCEPTED' }));
    }),
  );
  f.route('POST', new RegExp(`${rr}/${SEG}/cancel$`), `${RR}.cancel`, ({ params: [p, z, m, r] }) => {
    const res = f.resources.get(`rr/${p}/${z}/${m}/${r}`);
    if (!res) throw new ApiError(404, `resize request ${r} not found`);
    if (res.state !== 'ACCEPTED' && res.state !== 'CREATING')
      throw new ApiError(400, `resize request ${r} is ${res.state}; only ACCEPTED or CREATING can be cancelled`);
    return op(z, () => (res.state = 'CANCELLED'));
  });
  f.route('DELETE', new RegExp(`${rr}/${SEG}$`), `${RR}.delete`, ({ params: [p, z, m, r] }) => {
    const res = f.resources.get(`rr/${p}/${z}/${m}/${r}`);
    if (!res) throw new ApiError(404, `resize request ${r} not found`);
    if (res.state === 'ACCEPTED' || res.state === 'CREATING')
      throw new ApiError(400, `resize request ${r} is ${res.state}; cancel it before deleting`);
    return op(z, () => f.resources.delete(`rr/${p}/${z}/${m}/${r}`));
  });
  f.route('GET', new RegExp(`${zone}/operations/${SEG}$`), 'compute.zoneOperations.get', ({ params: [, , o] }) =>
    ok(renderOp(f.poll(o))),
  );
}
