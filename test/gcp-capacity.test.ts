// Dynamic Workload Scheduler capacity on gcp against the Compute fake, through the real
// @google-cloud/compute clients: flex-start resize requests on the database's own FLEX_START
// worker group, calendar-mode future reservations only for the machine series Google offers.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { effectiveSettings } from '../common/plan-settings';
import { validatePlan } from '../common/plan';
import { gcpResourceNames } from '../common/naming';
import { GcpClients } from '../activities/platforms/gcp/clients';
import {
  describeRelease,
  describeReserve,
  releaseGcpCapacity,
  reserveGcpCapacity,
} from '../activities/platforms/gcp/compute/capacity';
import { futureReservationRequest } from '../activities/platforms/gcp/compute/calendar';
import { ADVICE_SPEC, calendarAdviceRequest } from '../activities/platforms/gcp/compute/advice';
import { checkCalendarAdvice } from '../activities/platforms/gcp/preflight/calendar';
import { PreflightClients } from '../activities/platforms/gcp/preflight/clients';
import { waitGlobalOperation, waitZoneOperation } from '../activities/platforms/gcp/compute/operations';
import { resizeRequestName, resizeRequestRequest } from '../activities/platforms/gcp/compute/flex-start';
import {
  ensureWorkerGroup,
  groupRequest,
  templateRequest,
  workerGroupNames,
} from '../activities/platforms/gcp/compute/worker-group';
import { MigrationError } from '../common/failures';
import { type DatabaseTask } from '../activities/steps';
import { createFakeGcp, fakeAuth, type FakeGcp } from './fakes/gcp';
import { gcpPlan, PROJECT } from './helpers/gcp-plan';

const ZONE = 'us-central1-a';
const POLL = { intervalMs: 5, timeoutMs: 5_000 };
let fake: FakeGcp;
let c: GcpClients;

/** The shared plan's database `i` (0 orders high, 1 ledger low), under its own migration id. */
function task(migrationId: string, i = 1, machineType?: string): DatabaseTask {
  const plan = validatePlan(gcpPlan());
  const gcp = { ...plan.gcp!, ...(machineType ? { machineType } : {}) };
  return {
    migrationId,
    platform: 'gcp',
    database: plan.databases[i],
    settings: effectiveSettings(plan, plan.databases[i]),
    gcp,
    requestScope: `${migrationId}-attempt-1`,
  };
}

let endpoint: Awaited<ReturnType<FakeGcp['start']>>;
before(async () => {
  fake = createFakeGcp().fake;
  endpoint = await fake.start();
  c = new GcpClients({ endpoint, authClient: fakeAuth() });
});
after(async () => {
  await c?.close();
  await fake?.stop();
});

async function rejectsWith(p: Promise<unknown>, type: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof MigrationError, String(err));
    assert.equal(err.type, type, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

const keys = (prefix: string) => [...fake.resources.keys()].filter((k) => k.startsWith(prefix));
const vms = () => keys('compute:vms/').flatMap((k) => fake.resources.get(k) as string[]);

test('flex-start: template, group and resize request are made once; reserve waits for SUCCEEDED', async () => {
  const t = task('flex-once');
  const from = fake.log.length;
  const r = await reserveGcpCapacity(c, t, POLL);
  assert.deepEqual(await reserveGcpCapacity(c, t, POLL), r);
  assert.deepEqual(r, { name: gcpResourceNames('flex-once', 'ledger').resizeRequest, mode: 'flex-start', workers: 2 });
  const changes = fake.changes(from).map((x) => x.method);
  assert.deepEqual(changes, [
    'compute.instanceTemplates.insert',
    'compute.instanceGroupManagers.insert',
    'compute.instanceGroupManagerResizeRequests.insert',
  ]);
  const g = workerGroupNames(t);
  const [tpl] = await c.instanceTemplates.get({ project: PROJECT, instanceTemplate: g.template });
  assert.equal(tpl.properties?.scheduling?.provisioningModel, 'FLEX_START');
  assert.equal(tpl.properties?.scheduling?.instanceTerminationAction, 'DELETE');
  assert.equal(tpl.properties?.networkInterfaces?.[0]?.accessConfigs?.length ?? 0, 0, 'no external IP');
  const [mig] = await c.instanceGroupManagers.get({
    project: PROJECT,
    zone: ZONE,
    instanceGroupManager: g.group,
  });
  assert.equal(mig.targetSize, 2, 'the resize request grew the group from 0');
  assert.ok(!mig.status?.autoscaler);
  assert.equal(vms().length >= 2, true);
});

test('flex-start release deletes the request and the group, leaving no VMs; twice is once', async () => {
  const t = task('flex-release');
  await reserveGcpCapacity(c, t, POLL);
  const before = vms().length;
  const from = fake.log.length;
  await releaseGcpCapacity(c, t, POLL);
  await releaseGcpCapacity(c, t, POLL);
  assert.deepEqual(
    fake.changes(from).map((x) => x.method),
    [
      'compute.instanceGroupManagerResizeRequests.delete',
      'compute.instanceGroupManagers.delete',
      'compute.instanceTemplates.delete',
    ],
  );
  assert.equal(vms().length, before - 2, 'the workers went with the group');
  assert.equal(keys(`mig/${PROJECT}/${ZONE}/${workerGroupNames(t).group}`).length, 0);
});

test('flex-start release cancels a request still waiting for capacity', async () => {
  const t = task('flex-waiting');
  await ensureWorkerGroup(c, t, POLL);
  const [op] = await c.resizeRequests.insert(resizeRequestRequest(t));
  await waitZoneOperation(c, t, op, POLL);
  const from = fake.log.length;
  await releaseGcpCapacity(c, t, POLL);
  assert.deepEqual(
    fake.changes(from).map((x) => x.method),
    [
      'compute.instanceGroupManagerResizeRequests.cancel',
      'compute.instanceGroupManagerResizeRequests.delete',
      'compute.instanceGroupManagers.delete',
      'compute.instanceTemplates.delete',
    ],
  );
});

test('flex-start: after a FAILED request the next is a new request under a new id, in the same run', async () => {
  // One requestScope for every attempt, as Temporal keeps an activity's run and id across retries.
  const t = task('flex-failed');
  const [g1, g2, g3] = [1, 2, 3].map((n) => resizeRequestName(t, n));
  fake.resources.set(`compute:fail/${g1}`, true);
  fake.resources.set(`compute:fail/${g2}`, true);
  const from = fake.log.length;
  const dedupFrom = fake.deduplicated.length;
  // The second request's answer is lost: its retry (same request) must repeat its id.
  fake.loseResponse(
    (r) => r.rpc === 'compute.instanceGroupManagerResizeRequests.insert' && r.resource!.endsWith(`/${g2}`),
  );
  const waits: string[] = [];
  let granted: Awaited<ReturnType<typeof reserveGcpCapacity>> | undefined;
  // The step's retries: each attempt is a call of the activity, with the same scope.
  for (let attempt = 1; attempt <= 5 && !granted; attempt++) {
    try {
      granted = await reserveGcpCapacity(c, t, POLL);
    } catch (err) {
      assert.ok(err instanceof MigrationError && err.type === 'CapacityUnavailable', String(err));
      waits.push(err.message);
    }
  }
  assert.equal(waits.length, 2, waits.join('\n'));
  assert.match(waits[0], new RegExp(`${g1} is FAILED\\); asking again`));
  assert.match(waits[1], new RegExp(`${g2} \\(after ${g1} ended FAILED\\) is FAILED\\); asking again`));
  assert.deepEqual(granted, { name: g3, mode: 'flex-start', workers: 2 });
  const rrChanges = fake
    .changes(from)
    .filter((x) => x.method.startsWith('compute.instanceGroupManagerResizeRequests.'))
    .map((x) => `${x.method.split('.').pop()} ${x.resource.split('/').pop()}`);
  assert.deepEqual(rrChanges, [`insert ${g1}`, `insert ${g2}`, `delete ${g1}`, `insert ${g3}`, `delete ${g2}`]);
  // Nothing was answered from the request-id memory but the lost answer's retry (same request).
  const hits = fake.deduplicated.slice(dedupFrom);
  assert.deepEqual(
    hits.map((h) => h.rpc),
    ['compute.instanceGroupManagerResizeRequests.insert'],
  );
  assert.equal(hits[0].requestId, resizeRequestRequest(t, 2).requestId);
  const ids = new Set([1, 2, 3].map((n) => resizeRequestRequest(t, n).requestId));
  assert.equal(ids.size, 3, 'one request id per request');
  assert.equal(resizeRequestRequest(t, 2).requestId, resizeRequestRequest(t, 2).requestId, 'deterministic');
  await releaseGcpCapacity(c, t, POLL);
  assert.equal(keys(`rr/${PROJECT}/${ZONE}/${workerGroupNames(t).group}/`).length, 0);
});

test('high priority on a general-purpose machine type gets flex-start, and the dry run says why', async () => {
  const t = task('high-e2', 0);
  assert.equal(t.gcp!.machineType, 'e2-standard-4');
  assert.match(describeReserve(t).at(-1)!.detail, /priority high, but calendar mode does not take e2-standard-4/);
  assert.equal((await reserveGcpCapacity(c, t, POLL)).mode, 'flex-start');
  assert.equal(
    keys(`fr/`).filter((k) => k.includes(gcpResourceNames('high-e2', 'orders').futureReservation)).length,
    0,
  );
  await releaseGcpCapacity(c, t, POLL);
});

test('the dry run lists exactly the changing calls of reserve and release (flex-start)', async () => {
  const t = task('flex-dry-run');
  const planned = [...describeReserve(t), ...describeRelease(t)].flatMap((o) => o.calls ?? []);
  const from = fake.log.length;
  await reserveGcpCapacity(c, t, POLL);
  await releaseGcpCapacity(c, t, POLL);
  assert.deepEqual(fake.changes(from), planned);
});

test('calendar mode: a CALENDAR request for an A3 machine type, awaited until FULFILLED, made once', async () => {
  const t = task('cal-once', 0, 'a3-highgpu-8g');
  const planned = [...describeReserve(t), ...describeRelease(t)].flatMap((o) => o.calls ?? []);
  const from = fake.log.length;
  // A lost resize response is retried with the same request id: one resize.
  fake.loseResponse('compute.instanceGroupManagers.resize');
  const r = await reserveGcpCapacity(c, t, POLL);
  assert.deepEqual(await reserveGcpCapacity(c, t, POLL), r);
  assert.deepEqual(r, { name: gcpResourceNames('cal-once', 'orders').futureReservation, mode: 'calendar', workers: 8 });
  const [fr] = await c.futureReservations.get({ project: PROJECT, zone: ZONE, futureReservation: r.name });
  assert.equal(fr.reservationMode, 'CALENDAR');
  assert.equal(fr.planningStatus, 'SUBMITTED');
  assert.equal(fr.autoDeleteAutoCreatedReservations, true);
  assert.equal(fr.status?.procurementStatus, 'FULFILLED');
  assert.equal(fr.status?.autoCreatedReservations?.length, 1);
  const start = Date.parse(fr.timeWindow!.startTime!);
  assert.ok(start - Date.now() >= 23 * 3600_000, 'starts at least a day ahead');
  assert.equal(Date.parse(fr.timeWindow!.endTime!) - start, 7 * 86_400_000);

  // The workers: the database's group, from a template that consumes the auto-created reservation.
  const reservation = fr.status!.autoCreatedReservations![0].split('/').pop()!;
  const g = workerGroupNames(t);
  const [tpl] = await c.instanceTemplates.get({ project: PROJECT, instanceTemplate: g.template });
  assert.equal(tpl.properties?.scheduling?.provisioningModel, 'RESERVATION_BOUND');
  assert.equal(tpl.properties?.scheduling?.instanceTerminationAction, 'DELETE');
  assert.deepEqual(
    {
      type: tpl.properties?.reservationAffinity?.consumeReservationType,
      key: tpl.properties?.reservationAffinity?.key,
      values: tpl.properties?.reservationAffinity?.values,
    },
    { type: 'SPECIFIC_RESERVATION', key: 'compute.googleapis.com/reservation-name', values: [reservation] },
  );
  const [mig] = await c.instanceGroupManagers.get({
    project: PROJECT,
    zone: ZONE,
    instanceGroupManager: g.group,
  });
  assert.equal(mig.targetSize, 8, 'resized to the reserved count');
  const res = fake.resources.get(`res/${PROJECT}/${ZONE}/${reservation}`);
  assert.equal(res.specificReservation.inUseCount, '8', 'the workers consume the whole reservation');
  assert.equal((fake.resources.get(`compute:vms/${PROJECT}/${ZONE}/${g.group}`) as string[]).length, 8);

  // Release deletes the workers and their template; nothing for the request: a submitted
  // calendar-mode request cannot be cancelled or deleted.
  await releaseGcpCapacity(c, t, POLL);
  await releaseGcpCapacity(c, t, POLL);
  assert.deepEqual(fake.changes(from), planned);
  assert.deepEqual(
    planned.map((x) => x.method),
    [
      'compute.futureReservations.insert',
      'compute.instanceTemplates.insert',
      'compute.instanceGroupManagers.insert',
      'compute.instanceGroupManagers.resize',
      'compute.instanceGroupManagers.delete',
      'compute.instanceTemplates.delete',
    ],
  );
  assert.equal(res.specificReservation.inUseCount, '0', 'the reservation is free again');
  assert.equal(keys(`mig/${PROJECT}/${ZONE}/${g.group}`).length, 0);
  assert.equal(keys(`compute:vms/${PROJECT}/${ZONE}/${g.group}`).length, 0);
  assert.equal(keys(`fr/${PROJECT}/${ZONE}/${r.name}`).length, 1, 'the request stays until its end time');
});

test("calendar mode: Google's advice is asked first; NO_CAPACITY sends no request and waits", async () => {
  const t = task('cal-advice', 0, 'a3-highgpu-8g');
  const name = gcpResourceNames('cal-advice', 'orders').futureReservation;
  fake.resources.set(`compute:no-capacity/${ZONE}`, true);
  const from = fake.log.length;
  try {
    await rejectsWith(
      reserveGcpCapacity(c, t, POLL),
      'CapacityUnavailable',
      new RegExp(`calendar mode: 8 x a3-highgpu-8g .*advice answers NO_CAPACITY in ${ZONE}.*the request is not sent`),
    );
  } finally {
    fake.resources.delete(`compute:no-capacity/${ZONE}`);
  }
  assert.deepEqual(fake.changes(from), [], 'no future reservation is requested without capacity');
  const asked = fake.log.slice(from).filter((r) => r.rpc === 'compute.advice.calendarMode');
  assert.equal(asked.length, 1);
  assert.equal(asked[0].status, 200);
  assert.equal(keys(`fr/${PROJECT}/${ZONE}/${name}`).length, 0);
  // The window, count and machine type asked are the reservation's own.
  const want = futureReservationRequest(t).futureReservationResource!;
  const spec = calendarAdviceRequest(t, want.timeWindow as { startTime: string; endTime: string }, 8)
    .calendarModeAdviceRequestResource!.futureResourcesSpecs![ADVICE_SPEC];
  assert.deepEqual(spec.targetResources, { specificSkuResources: { instanceCount: 8, machineType: 'a3-highgpu-8g' } });
  assert.equal(spec.timeRangeSpec!.maxDuration, `${7 * 86_400}s`);
  // Capacity there: the next attempt asks again and requests it.
  const r = await reserveGcpCapacity(c, t, POLL);
  assert.equal(r.mode, 'calendar');
  assert.equal(fake.log.slice(from).filter((x) => x.rpc === 'compute.advice.calendarMode').length, 2);
  assert.match(describeReserve(t)[0].detail, /calendar-mode advice is asked first .*dbmig gcp check/);
  await releaseGcpCapacity(c, t, POLL);
});

test('dbmig gcp check asks the calendar-mode advice for each calendar-mode database and shows its answer', async () => {
  const plan = validatePlan(gcpPlan());
  const gcp = { ...plan.gcp!, machineType: 'a3-highgpu-8g' };
  const pc = new PreflightClients({ endpoint, authClient: fakeAuth() });
  const from = fake.log.length;
  try {
    const ctx = { plan, gcp, c: pc, timeout: 20_000 };
    const ok = await checkCalendarAdvice(ctx);
    // Only the high-priority database gets calendar mode; the other stays flex-start.
    assert.deepEqual(
      ok.map((r) => [r.status, r.what.split(':')[0]]),
      [['OK', 'orders']],
    );
    assert.match(ok[0].what, new RegExp(`recommended in ${ZONE} from .* to `));
    fake.resources.set(`compute:no-capacity/${ZONE}`, true);
    const none = await checkCalendarAdvice(ctx);
    assert.equal(none[0].status, 'WARN');
    assert.match(none[0].what, new RegExp(`NO_CAPACITY in ${ZONE}: no capacity for the requested window`));
    assert.match(none[0].fix, /will wait/);
  } finally {
    fake.resources.delete(`compute:no-capacity/${ZONE}`);
    await pc.close();
  }
  assert.deepEqual(fake.changes(from), [], 'the check changes nothing');
  assert.equal(
    fake.log.slice(from).filter((r) => r.rpc === 'compute.advice.calendarMode' && r.status === 200).length,
    2,
  );
});

test('calendar mode: before the reservation exists, reserve is a retryable wait that makes no workers', async () => {
  const t = task('cal-wait', 0, 'h4d-highmem-192-lssd');
  const name = gcpResourceNames('cal-wait', 'orders').futureReservation;
  const g = workerGroupNames(t);
  // Not yet FULFILLED (Google has not reached the start time): CapacityUnavailable, retried by the step.
  const [op] = await c.futureReservations.insert(futureReservationRequest(t));
  await waitZoneOperation(c, t, op, POLL);
  await rejectsWith(reserveGcpCapacity(c, t, { ...POLL, timeoutMs: 0 }), 'CapacityUnavailable', /waiting/);
  assert.equal(keys(`it/${PROJECT}/${g.template}`).length, 0);
  // FULFILLED but the auto-created reservation not named yet: still a wait.
  const fr = fake.resources.get(`fr/${PROJECT}/${ZONE}/${name}`);
  fr.status.procurementStatus = 'FULFILLED';
  await rejectsWith(
    reserveGcpCapacity(c, t, POLL),
    'CapacityUnavailable',
    /FULFILLED but names no auto-created reservation yet/,
  );
  assert.equal(keys(`mig/${PROJECT}/${ZONE}/${g.group}`).length, 0);
  // Google gets there: the next attempt makes the workers.
  fr.status.procurementStatus = 'PROVISIONING';
  const r = await reserveGcpCapacity(c, { ...t, requestScope: 'cal-wait-attempt-2' }, POLL);
  assert.equal(r.mode, 'calendar');
  const [mig] = await c.instanceGroupManagers.get({
    project: PROJECT,
    zone: ZONE,
    instanceGroupManager: g.group,
  });
  assert.equal(mig.targetSize, r.workers);
  const [tpl] = await c.instanceTemplates.get({ project: PROJECT, instanceTemplate: g.template });
  assert.equal(tpl.properties?.scheduling?.provisioningModel, 'STANDARD', 'H4D is not a reservation-bound series');
  assert.equal(tpl.properties?.reservationAffinity?.consumeReservationType, 'SPECIFIC_RESERVATION');
  await releaseGcpCapacity(c, t, POLL);
  assert.equal(keys(`mig/${PROJECT}/${ZONE}/${g.group}`).length, 0);
});

test('the fake holds a resize to its reservation: it must exist and have the free count', async () => {
  const t = task('cal-consume', 0, 'a3-highgpu-8g');
  await reserveGcpCapacity(c, t, POLL);
  const g = workerGroupNames(t);
  const groups = c.instanceGroupManagers;
  const resize = (size: number) => groups.resize({ project: PROJECT, zone: ZONE, instanceGroupManager: g.group, size });
  await assert.rejects(resize(9), /Specified reservation '.*' does not have available resources/);
  // Another group whose template names a reservation that does not exist.
  const other = { ...t, database: { ...t.database, name: 'other' } };
  await ensureWorkerGroup(c, other, POLL, 'no-such-reservation');
  await assert.rejects(
    groups.resize({ project: PROJECT, zone: ZONE, instanceGroupManager: workerGroupNames(other).group, size: 1 }),
    /Specified reservation 'no-such-reservation' does not exist/,
  );
  // And one that would take from the reservation this database's workers already use in full.
  const thief = { ...t, database: { ...t.database, name: 'thief' } };
  await ensureWorkerGroup(c, thief, POLL, gcpResourceNames('cal-consume', 'orders').futureReservation);
  await assert.rejects(
    groups.resize({ project: PROJECT, zone: ZONE, instanceGroupManager: workerGroupNames(thief).group, size: 1 }),
    /does not have available resources.*0 of 8 free/,
  );
  // A template consuming a reservation must name it.
  const bare = templateRequest(task('cal-consume-bare', 0, 'a3-highgpu-8g'), 'r');
  bare.instanceTemplateResource!.properties!.reservationAffinity = { consumeReservationType: 'SPECIFIC_RESERVATION' };
  await assert.rejects(c.instanceTemplates.insert(bare), /SPECIFIC_RESERVATION needs key/);
  for (const x of [t, other, thief]) await releaseGcpCapacity(c, x, POLL);
});

test('calendar mode: a DECLINED request is a permanent, clear error', async () => {
  const t = task('cal-declined', 0, 'a4-highgpu-8g');
  fake.resources.set(`compute:decline/${gcpResourceNames('cal-declined', 'orders').futureReservation}`, true);
  await rejectsWith(reserveGcpCapacity(c, t, POLL), 'OperationFailed', /DECLINED.*8 x a4-highgpu-8g/);
});

test('the fake holds calendar mode to Google: machine series, lead time, no cancel or delete', async () => {
  const t = task('cal-rules', 0, 'a3-highgpu-8g');
  const e2 = futureReservationRequest(task('cal-rules', 0));
  await assert.rejects(c.futureReservations.insert(e2), /does not offer machine type e2-standard-4/);
  const soon = futureReservationRequest(t, Date.now() - 23 * 3600_000);
  await assert.rejects(c.futureReservations.insert(soon), /start 1 to 60 days ahead/);
  await reserveGcpCapacity(c, t, POLL);
  const name = gcpResourceNames('cal-rules', 'orders').futureReservation;
  await assert.rejects(
    c.futureReservations.delete({ project: PROJECT, zone: ZONE, futureReservation: name }),
    /cannot be deleted after it is submitted/,
  );
  await assert.rejects(
    c.futureReservations.cancel({ project: PROJECT, zone: ZONE, futureReservation: name }),
    /cannot be cancelled after it is submitted/,
  );
  // A resize request on a group whose VMs consume a reservation is Google's to take, not refused
  // (gcloud compute instance-groups managed resize-requests create, --requested-run-duration).
  const bound = { ...t, database: { ...t.database, name: 'bound' } };
  await ensureWorkerGroup(c, bound, POLL, gcpResourceNames('cal-rules', 'orders').futureReservation);
  const [rrOp] = await c.resizeRequests.insert(resizeRequestRequest(bound));
  await waitZoneOperation(c, bound, rrOp, POLL);
  await releaseGcpCapacity(c, { ...bound, gcp: { ...bound.gcp!, machineType: 'n2-standard-8' } }, POLL);
  assert.equal(keys(`mig/${PROJECT}/${ZONE}/${workerGroupNames(bound).group}`).length, 0);
});

test('a calendar request that exists with another size is refused, naming the field', async () => {
  const t = task('cal-conflict', 0, 'a3-highgpu-8g');
  const req = futureReservationRequest(t);
  req.futureReservationResource!.specificSkuProperties!.totalCount = 3;
  const [op] = await c.futureReservations.insert(req);
  await waitZoneOperation(c, t, op, POLL);
  await rejectsWith(
    reserveGcpCapacity(c, t, POLL),
    'AlreadyExistsMismatch',
    /specificSkuProperties\.totalCount is 3.*8/,
  );
});

test('a template that exists with another machine type is refused, naming the field', async () => {
  const t = task('tpl-conflict');
  const req = templateRequest(t);
  req.instanceTemplateResource!.properties!.machineType = 'n2-standard-8';
  req.requestId = undefined;
  const [op] = await c.instanceTemplates.insert(req);
  await waitGlobalOperation(c, t, op, POLL);
  await rejectsWith(
    reserveGcpCapacity(c, t, POLL),
    'AlreadyExistsMismatch',
    /properties\.machineType is "n2-standard-8"/,
  );
});

test('a group this migration did not make is refused and never deleted', async () => {
  const t = task('mig-theirs');
  // Someone made the group under our name, with a description that does not name this migration.
  const tReq = { ...templateRequest(t), requestId: undefined };
  const [tOp] = await c.instanceTemplates.insert(tReq);
  await waitGlobalOperation(c, t, tOp, POLL);
  const gReq = groupRequest(t);
  gReq.instanceGroupManagerResource!.description = 'made by an operator';
  gReq.requestId = undefined;
  const [gOp] = await c.instanceGroupManagers.insert(gReq);
  await waitZoneOperation(c, t, gOp, POLL);
  await rejectsWith(reserveGcpCapacity(c, t, POLL), 'AlreadyExistsMismatch', /not created by this migration/);
  const from = fake.log.length;
  await releaseGcpCapacity(c, t, POLL);
  assert.deepEqual(
    fake.changes(from).filter((x) => x.method === 'compute.instanceGroupManagers.delete'),
    [],
    'the group is not ours',
  );
  assert.equal(keys(`mig/${PROJECT}/${ZONE}/${workerGroupNames(t).group}`).length, 1);
});

test('a lost insert response is retried with the same request id: one resize request', async () => {
  const t = task('flex-lost');
  fake.loseResponse('compute.instanceGroupManagerResizeRequests.insert');
  fake.loseResponse('compute.instanceTemplates.insert');
  const r = await reserveGcpCapacity(c, t, POLL);
  assert.equal(r.mode, 'flex-start');
  assert.equal(keys(`rr/${PROJECT}/${ZONE}/${workerGroupNames(t).group}/`).length, 1);
  assert.equal(keys(`it/${PROJECT}/${workerGroupNames(t).template}`).length, 1);
  await releaseGcpCapacity(c, t, POLL);
});
