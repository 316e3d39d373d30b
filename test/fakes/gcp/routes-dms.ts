// Database Migration Service v1: connection profiles and migration jobs, with a job that moves
// from FULL_DUMP to CDC on its own and publishes falling lag to the fake Monitoring. Shapes from
// google/cloud/clouddms/v1/clouddms.proto and clouddms_resources.proto (REST:
// https://cloud.google.com/database-migration/docs/reference/rest/v1); the job state machine and
// the field checks Google defines are not enforced yet (issue 10).
import { ApiError, ok, renderOp, type Ctx, type FakeGcp } from './server';

const SEG = '([^/:]+)';
const PROFILES = 'datamigration.projects.locations.connectionProfiles';
const JOBS = 'datamigration.projects.locations.migrationJobs';

export interface DmsBehaviour {
  /** How long a started job stays in FULL_DUMP. */
  fullDumpMs: number;
  /** Lag when CDC begins, and how fast it falls (seconds of lag per second). */
  lagStartSeconds: number;
  lagDecayPerSecond: number;
  /** Source hosts DMS cannot reach (validateOnly and verify fail for them). */
  unreachableHosts: Set<string>;
}

export interface FakeJob {
  name: string;
  state: string;
  phase?: string;
  runningSince?: number;
  [k: string]: unknown;
}

export function jobView(job: FakeJob, b: DmsBehaviour, now = Date.now()): FakeJob {
  if (
    job.state === 'RUNNING' &&
    job.phase === 'FULL_DUMP' &&
    job.runningSince &&
    now - job.runningSince >= b.fullDumpMs
  )
    job.phase = 'CDC';
  const { runningSince, ...rest } = job;
  void runningSince;
  return rest as FakeJob;
}

export function dmsRoutes(f: FakeGcp, b: DmsBehaviour): void {
  const base = `^/v1/(projects/${SEG}/locations/${SEG})`;
  const lro = (parent: string, finish?: () => unknown, error?: string) =>
    ok(renderOp(f.operation('longrunning', finish, { prefix: `${parent}/operations/`, error })));
  const profileKey = (name: string) => `dms/${name}`;

  f.route('GET', new RegExp(`${base}/connectionProfiles/${SEG}$`), `${PROFILES}.get`, ({ path }) => {
    const p = f.resources.get(profileKey(path.slice(4)));
    if (!p) throw new ApiError(404, `connection profile ${path.slice(4)} not found`);
    // The API never returns passwords.
    const strip = (c?: Record<string, unknown>) => (c ? { ...c, password: undefined, passwordSet: true } : undefined);
    return ok({ ...p, mysql: strip(p.mysql), postgresql: strip(p.postgresql) });
  });
  f.route('POST', new RegExp(`${base}/connectionProfiles$`), `${PROFILES}.create`, (ctx) =>
    f.idempotent(ctx, () => {
      const [parent] = ctx.params;
      const id = ctx.query.get('connectionProfileId');
      const conn = ctx.body?.mysql ?? ctx.body?.postgresql;
      if (!id) throw new ApiError(400, 'connectionProfileId is required');
      if (conn && !conn.cloudSqlId && (!conn.host || !conn.username || !conn.password))
        throw new ApiError(400, 'host, username and password are required');
      if (conn?.host && b.unreachableHosts.has(conn.host))
        throw new ApiError(400, `cannot connect to ${conn.host}:${conn.port}: connection timed out`);
      if (ctx.query.get('validateOnly') === 'true') return lro(parent);
      const name = `${parent}/connectionProfiles/${id}`;
      if (f.resources.has(profileKey(name))) throw new ApiError(409, `connection profile ${id} already exists`);
      return lro(parent, () => f.resources.set(profileKey(name), { ...ctx.body, name, state: 'READY' }));
    }),
  );
  f.route(
    'DELETE',
    new RegExp(`${base}/connectionProfiles/${SEG}$`),
    `${PROFILES}.delete`,
    ({ path, params: [parent] }) => {
      if (!f.resources.has(profileKey(path.slice(4))))
        throw new ApiError(404, `connection profile ${path.slice(4)} not found`);
      return lro(parent, () => f.resources.delete(profileKey(path.slice(4))));
    },
  );

  const job = (name: string): FakeJob => {
    const j = f.resources.get(`dms/${name}`);
    if (!j) throw new ApiError(404, `migration job ${name} not found`);
    return j;
  };
  f.route('GET', new RegExp(`${base}/migrationJobs/${SEG}$`), `${JOBS}.get`, ({ path }) =>
    ok(jobView(job(path.slice(4)), b)),
  );
  f.route('POST', new RegExp(`${base}/migrationJobs$`), `${JOBS}.create`, (ctx) =>
    f.idempotent(ctx, () => {
      const [parent] = ctx.params;
      const id = ctx.query.get('migrationJobId');
      const name = `${parent}/migrationJobs/${id}`;
      if (!id || (ctx.body?.type !== 'CONTINUOUS' && ctx.body?.type !== 'ONE_TIME'))
        throw new ApiError(400, 'migrationJobId and type are required');
      for (const ref of [ctx.body.source, ctx.body.destination])
        if (!f.resources.has(`dms/${ref}`)) throw new ApiError(400, `connection profile ${ref} does not exist`);
      if (f.resources.has(`dms/${name}`)) throw new ApiError(409, `migration job ${id} already exists`);
      f.resources.set(`dms/${name}`, { ...ctx.body, name, state: 'CREATING' });
      return lro(parent, () => (job(name).state = 'NOT_STARTED'));
    }),
  );
  const action = (verb: string, run: (j: FakeJob, ctx: Ctx) => { finish?: () => unknown; error?: string }) =>
    f.route('POST', new RegExp(`${base}/migrationJobs/${SEG}:${verb}$`), `${JOBS}.${verb}`, (ctx) => {
      const j = job(ctx.path.slice(4, -(verb.length + 1)));
      const { finish, error } = run(j, ctx);
      return lro(ctx.params[0], finish, error);
    });
  action('verify', (j) => {
    const src = f.resources.get(`dms/${j.source}`);
    const host = (src?.mysql ?? src?.postgresql)?.host;
    return { error: b.unreachableHosts.has(host) ? `source ${host} is not reachable from DMS` : undefined };
  });
  action('start', (j) => {
    if (!['NOT_STARTED', 'STOPPED'].includes(j.state)) throw new ApiError(400, `job is ${j.state}; cannot start`);
    j.state = 'STARTING';
    return { finish: () => Object.assign(j, { state: 'RUNNING', phase: 'FULL_DUMP', runningSince: Date.now() }) };
  });
  action('promote', (j) => {
    const view = jobView(j, b);
    if (j.state !== 'RUNNING' || view.phase !== 'CDC')
      throw new ApiError(400, `job is ${j.state}/${view.phase}; promote needs RUNNING/CDC`);
    j.phase = 'PROMOTE_IN_PROGRESS';
    return { finish: () => Object.assign(j, { state: 'COMPLETED' }) };
  });
  action('stop', (j) => {
    if (!['RUNNING', 'STARTING'].includes(j.state)) throw new ApiError(400, `job is ${j.state}; cannot stop`);
    j.state = 'STOPPING';
    return { finish: () => Object.assign(j, { state: 'STOPPED' }) };
  });
  f.route(
    'DELETE',
    new RegExp(`${base}/migrationJobs/${SEG}$`),
    `${JOBS}.delete`,
    ({ path, params: [parent], query }) => {
      const j = job(path.slice(4));
      if (j.state === 'RUNNING' && query.get('force') !== 'true')
        throw new ApiError(400, 'job is running; stop it or use force');
      return lro(parent, () => f.resources.delete(`dms/${path.slice(4)}`));
    },
  );
}
