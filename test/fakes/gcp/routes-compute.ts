// Compute v1: instance templates, managed instance groups (resize, and resize requests for
// flex-start), future reservations (calendar mode) and the reservations they auto-create, which a
// group's VMs consume, zone and global operations. Shapes from the compute v1
// protos in @google-cloud/compute (google/cloud/compute/v1/compute.proto; REST:
// https://cloud.google.com/compute/docs/reference/rest/v1). Each rule names the page it follows.
// Knobs for tests: resources `compute:decline/<future reservation>` (Google declines it) and
// `compute:fail/<resize request>` (no capacity: the request ends FAILED).
// One file per resource family (routes-compute-*.ts, shared parts in compute-common.ts); this one
// registers them, in the order the fake matches routes, and serves the operations they return.
import { ok, renderOp, type FakeGcp } from './server';
import { GLOBAL, SEG, ZONE } from './compute-common';
import { calendarAdviceRoutes } from './routes-compute-advice';
import { futureReservationRoutes } from './routes-compute-future-reservations';
import { instanceGroupRoutes } from './routes-compute-groups';
import { resizeRequestRoutes } from './routes-compute-resize-requests';
import { instanceTemplateRoutes } from './routes-compute-templates';

/** Registers every Compute route, in the order the fake matches them. */
export function computeRoutes(f: FakeGcp, migs: Set<string>): void {
  instanceTemplateRoutes(f);
  f.route('GET', new RegExp(`${GLOBAL}/operations/${SEG}$`), 'compute.globalOperations.get', ({ params: [, o] }) =>
    ok(renderOp(f.poll(o))),
  );
  instanceGroupRoutes(f, migs);
  resizeRequestRoutes(f, migs);
  futureReservationRoutes(f);
  calendarAdviceRoutes(f);
  f.route('GET', new RegExp(`${ZONE}/operations/${SEG}$`), 'compute.zoneOperations.get', ({ params: [, , o] }) =>
    ok(renderOp(f.poll(o))),
  );
}
