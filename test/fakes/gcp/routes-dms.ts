// Database Migration Service v1: connection profiles and migration jobs with Google's state
// machines. Shapes: google/cloud/clouddms/v1/clouddms.proto and clouddms_resources.proto, as
// googleapis' datamigration v1 REST types carry them (they have PostgreSqlConnectionProfile
// .alloydbClusterId and migrationJobs.demoteDestination); REST:
// https://cloud.google.com/database-migration/docs/reference/rest/v1. Which action each job state
// allows: the migration job statuses pages (https://cloud.google.com/database-migration/docs/postgres/migration-job-statuses,
// .../mysql/migration-job-statuses). A started job moves from FULL_DUMP to CDC on its own; the lag
// it publishes, one series per database the job carries, is served by routes-observability.ts.
//
// The phases Google defines besides FULL_DUMP, CDC and PROMOTE_IN_PROGRESS (MigrationJob.Phase in
// the discovery document): WAITING_FOR_SOURCE_WRITES_TO_STOP and PREPARING_THE_DUMP ("Only RDS flow")
// are modelled for a source whose migration user has no SUPER (DmsBehaviour.noSuperHosts): the
// job starts as STARTING/WAITING_FOR_SOURCE_WRITES_TO_STOP, moves to PREPARING_THE_DUMP once the
// source's writes stop (DmsBehaviour.writesStopped, which the test keeps), then to RUNNING/FULL_DUMP
// ("After the status changes to Starting | Waiting for source writes to stop, writing should be
// stopped ... Running | Full dump in progress", https://cloud.google.com/database-migration/docs/mysql/rds-no-superuser,
// .../mysql/aurora-no-superuser). READY_FOR_PROMOTE (SQL Server's "Ready to promote" after the
// .final log backup, https://cloud.google.com/database-migration/docs/sqlserver/migration-job-statuses)
// and PHASE_FAILBACK ("used only for SQL Server Distributed Availability Group (DAG) migrations")
// are not produced by the MySQL and PostgreSQL jobs modelled here; a test may set them.
import { ApiError, ok, renderOp, type Ctx, type FakeGcp, type FakeOp } from './server';
import {
  advanceSqlServerJob,
  checkSqlServerProfile,
  sqlServerObjectRoutes,
  verifySqlServer,
} from './routes-dms-sqlserver';

const SEG = '([^/:]+)';
const PROFILES = 'datamigration.projects.locations.connectionProfiles';
const JOBS = 'datamigration.projects.locations.migrationJobs';

export interface DmsBehaviour {
  /** How long a started job stays in FULL_DUMP. */
  fullDumpMs: number;
  /** Lag when CDC begins, and how fast it falls to zero (seconds of lag per second). */
  lagStartSeconds: number;
  lagDecayPerSecond: number;
  /** Source hosts DMS cannot reach (verify fails for them). */
  unreachableHosts: Set<string>;
  /** How often the lag metric is sampled (Google: 60 s); default 1 s to keep tests fast. */
  lagSamplePeriodMs?: number;
  /** How long after sampling a point becomes visible (Google: up to 180 s); default 0. */
  lagPublishDelayMs?: number;
  /**
   * The databases of each source instance (by profile host): what a job without a database
   * selection carries ("Database Migration Service migrates all your databases by default",
   * https://cloud.google.com/database-migration/docs/homogeneous-migrations). Unlisted: the
   * profile's own database name is unknown to DMS, so such a job carries ['postgres'] or ['mysql'].
   */
  sourceDatabases?: Map<string, string[]>;
  /** Per database: lag at the start of CDC and its decay, instead of lagStartSeconds/lagDecayPerSecond. */
  lagByDatabase?: Map<string, { startSeconds: number; decayPerSecond: number }>;
  /** Source hosts whose migration user has no SUPER (RDS, Aurora): the start waits for writes to stop. */
  noSuperHosts?: Set<string>;
  /** Source hosts whose writes have stopped now (the test keeps this as the source would be). */
  writesStopped?: Set<string>;
  /** How long PREPARING_THE_DUMP lasts once the writes stopped; default 50 ms. */
  prepareDumpMs?: number;
}

export interface FakeJob {
  name: string;
  state: string;
  phase?: string;
  labels?: Record<string, string>;
  source?: string;
  destination?: string;
  /** Hidden (never rendered): when the job entered RUNNING, entered CDC, stopped; demoted. */
  _runningSince?: number;
  _cdcSince?: number;
  _preparingSince?: number;
  /** The databases the job carries, fixed when it starts; its source's host. */
  _databases?: string[];
  _sourceHost?: string;
  _stoppedAt?: number;
  _demoted?: boolean;
  _demoting?: boolean;
  _pendingOp?: string;
  [k: string]: unknown;
}

const hidden = (k: string) => k.startsWith('_');

/**
 * The job as the API shows it. A job waiting for the source's writes to stop moves to
 * PREPARING_THE_DUMP once they have, then to RUNNING/FULL_DUMP (rds-no-superuser, in the header);
 * FULL_DUMP becomes CDC once the dump time has passed.
 */
export function jobView(job: FakeJob, b: DmsBehaviour, now = Date.now(), f?: FakeGcp): FakeJob {
  // A SQL Server job restores backups from the bucket (routes-dms-sqlserver.ts).
  if (job.sqlserverHomogeneousMigrationJobConfig) {
    if (f) advanceSqlServerJob(f, job, b, now);
    return Object.fromEntries(Object.entries(job).filter(([k]) => !hidden(k))) as FakeJob;
  }
  if (
    job.state === 'STARTING' &&
    job.phase === 'WAITING_FOR_SOURCE_WRITES_TO_STOP' &&
    b.writesStopped?.has(job._sourceHost ?? '')
  )
    Object.assign(job, { phase: 'PREPARING_THE_DUMP', _preparingSince: now });
  if (
    job.state === 'STARTING' &&
    job.phase === 'PREPARING_THE_DUMP' &&
    job._preparingSince &&
    now - job._preparingSince >= (b.prepareDumpMs ?? 50)
  )
    Object.assign(job, { state: 'RUNNING', phase: 'FULL_DUMP', _runningSince: now });
  if (
    job.state === 'RUNNING' &&
    job.phase === 'FULL_DUMP' &&
    job._runningSince &&
    now - job._runningSince >= b.fullDumpMs
  ) {
    job.phase = 'CDC';
    job._cdcSince = job._runningSince + b.fullDumpMs;
  }
  return Object.fromEntries(Object.entries(job).filter(([k]) => !hidden(k))) as FakeJob;
}

/**
 * A request id: "letters, numbers, underscores and hyphens; at most 40 characters" (the requestId
 * parameter of every create/delete in datamigration-v1.json, e.g.
 * https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.migrationJobs/create).
 */
function checkRequestId(ctx: Ctx): void {
  const id = ctx.query.get('requestId');
  if (id !== null && !/^[A-Za-z0-9_-]{1,40}$/.test(id))
    throw new ApiError(400, `requestId "${id}": only letters, numbers, _ and -, at most 40 characters`);
}

/**
 * Resource ids as AIP-122 asks (https://google.aip.dev/122#resource-id-segments): lower case letters,
 * digits and hyphens, starting with a letter; the id is required on create (https://google.aip.dev/133).
 */
function checkId(field: string, id: string | null): string {
  if (!id) throw new ApiError(400, `${field} is required`);
  if (!/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/.test(id)) throw new ApiError(400, `${field} "${id}" is not a valid id`);
  return id;
}

const get = (o: unknown, path: string): unknown =>
  path
    .split('.')
    .reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);

/**
 * AIP-160 filters as far as the list methods' docs show them ("field = value", nested fields,
 * joined with AND; labels.KEY works as a nested field). Anything else is refused, not ignored.
 */
export function matchesFilter(item: unknown, filter: string | null): boolean {
  if (!filter?.trim()) return true;
  return filter.split(/\s+AND\s+/i).every((clause) => {
    const m = /^\s*([A-Za-z_][\w.]*)\s*(=|!=)\s*"?([^"]*)"?\s*$/.exec(clause);
    // Not a Google rule: the list methods take =, !=, > and < on any field
    // (https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.migrationJobs/list);
    // the fake serves = and != only and says so with UNIMPLEMENTED (google/rpc/code.proto).
    if (!m) throw ApiError.of('UNIMPLEMENTED', `fake: list filter "${filter}": expression "${clause}" is not served`);
    const value = get(item, m[1]);
    const equal = String(value ?? '') === m[3];
    return m[2] === '=' ? equal : !equal;
  });
}

const FORMS = ['mysql', 'postgresql', 'oracle', 'cloudsql', 'alloydb', 'sqlserver'];

export function dmsRoutes(f: FakeGcp, b: DmsBehaviour): void {
  const base = `^/v1/(projects/${SEG}/locations/${SEG})`;
  const key = (name: string) => `dms/${name}`;
  /** DMS operations carry OperationMetadata {target, verb} (clouddms.proto), listed by operations.list. */
  const opMeta = new Map<string, { target: string; verb: string; createTime: string }>();
  const render = (op: FakeOp) => {
    const m = opMeta.get(op.name);
    const body = renderOp(op) as Record<string, unknown>;
    return m
      ? { ...body, metadata: { '@type': 'type.googleapis.com/google.cloud.clouddms.v1.OperationMetadata', ...m } }
      : body;
  };
  const lro = (parent: string, target: string, verb: string, finish?: () => unknown, error?: string) => {
    const op = f.operation('longrunning', finish, { prefix: `${parent}/operations/`, error });
    opMeta.set(op.name, { target, verb, createTime: new Date().toISOString() });
    const resource = f.resources.get(key(target));
    if (resource && !op.done) resource._pendingOp = op.name;
    return ok(render(op));
  };
  /**
   * Google's operations run whether or not anyone polls them: reading a resource moves its pending
   * operation on as a poll would, so a job whose start answer was lost still reaches RUNNING.
   */
  const progress = <T extends Record<string, unknown>>(r: T): T => {
    const name = r._pendingOp as string | undefined;
    const op = name ? f.ops.get(name) : undefined;
    if (op && !op.done) f.poll(op.name);
    if (!op || op.done) delete r._pendingOp;
    return r;
  };
  const page = (ctx: Ctx, items: unknown[], field: string) => {
    const size = Number(ctx.query.get('pageSize') || 100);
    const from = Number(ctx.query.get('pageToken') || 0);
    const slice = items.slice(from, from + size);
    const next = from + size < items.length ? String(from + size) : undefined;
    return ok({ ...(slice.length ? { [field]: slice } : {}), ...(next ? { nextPageToken: next } : {}) });
  };

  // google.longrunning.Operations.ListOperations (DMS: projects.locations.operations.list).
  f.route('GET', new RegExp(`${base}/operations$`), 'datamigration.projects.locations.operations.list', (ctx) => {
    const prefix = `${ctx.params[0]}/operations/`;
    const ops = [...f.ops.values()].filter((o) => o.name.startsWith(prefix) && opMeta.has(o.name)).map(render);
    return page(ctx, ops, 'operations');
  });

  // ---- connection profiles: ConnectionProfile.State CREATING → READY; DELETING → gone.
  const profile = (name: string) => {
    const p = f.resources.get(key(name));
    // Get of a missing resource is NOT_FOUND (https://google.aip.dev/131).
    if (!p) throw new ApiError(404, `connection profile ${name} not found`);
    return p;
  };
  // Passwords are INPUT_ONLY: never returned; password_set says one is stored.
  const strip = (c?: Record<string, unknown>) => (c ? { ...c, password: undefined, passwordSet: true } : undefined);
  const profileView = (p: Record<string, unknown>) => ({
    ...Object.fromEntries(Object.entries(progress(p)).filter(([k]) => !hidden(k))),
    mysql: strip(p.mysql as Record<string, unknown>),
    postgresql: strip(p.postgresql as Record<string, unknown>),
    sqlserver: strip(p.sqlserver as Record<string, unknown>),
  });
  f.route('GET', new RegExp(`${base}/connectionProfiles/${SEG}$`), `${PROFILES}.get`, ({ path }) =>
    ok(profileView(profile(path.slice(4)))),
  );
  f.route('GET', new RegExp(`${base}/connectionProfiles$`), `${PROFILES}.list`, (ctx) => {
    const prefix = key(`${ctx.params[0]}/connectionProfiles/`);
    const items = [...f.resources.entries()].filter(([k]) => k.startsWith(prefix)).map(([, v]) => profileView(v));
    return page(
      ctx,
      items.filter((p) => matchesFilter(p, ctx.query.get('filter'))),
      'connectionProfiles',
    );
  });
  f.route('POST', new RegExp(`${base}/connectionProfiles$`), `${PROFILES}.create`, (ctx) =>
    f.idempotent(ctx, () => {
      checkRequestId(ctx);
      const [parent, project] = ctx.params;
      const id = checkId('connectionProfileId', ctx.query.get('connectionProfileId'));
      const body = ctx.body ?? {};
      const forms = FORMS.filter((k) => body[k]);
      // oneof connection_profile (google/cloud/clouddms/v1/clouddms_resources.proto ConnectionProfile).
      if (forms.length !== 1)
        throw new ApiError(
          400,
          `connection_profile: exactly one of ${FORMS.join(', ')} (got ${forms.join(', ') || 'none'})`,
        );
      const form = forms[0];
      // CreateConnectionProfileRequest.validate_only: "Only supported for Oracle connection profiles"
      // (https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.connectionProfiles/create).
      if (ctx.query.get('validateOnly') === 'true' && form !== 'oracle')
        throw new ApiError(400, 'validate_only is only supported for Oracle connection profiles');
      if (form === 'mysql' || form === 'postgresql') {
        const conn = body[form];
        // MySqlConnectionProfile / PostgreSqlConnectionProfile: host, port, username, password "Required."
        // (datamigration-v1.json).
        for (const field of ['host', 'port', 'username', 'password'])
          if (!conn[field]) throw new ApiError(400, `${form}.${field} is required`);
      }
      if (form === 'sqlserver') checkSqlServerProfile(f, project, body.sqlserver);
      const name = `${parent}/connectionProfiles/${id}`;
      // Create of an existing name is ALREADY_EXISTS (https://google.aip.dev/133).
      if (f.resources.has(key(name))) throw new ApiError(409, `connection profile ${id} already exists`);
      const now = new Date().toISOString();
      f.resources.set(key(name), { ...body, name, state: 'CREATING', createTime: now, updateTime: now });
      return lro(parent, name, 'create', () => (profile(name).state = 'READY'));
    }),
  );
  f.route('DELETE', new RegExp(`${base}/connectionProfiles/${SEG}$`), `${PROFILES}.delete`, (ctx) =>
    f.idempotent(ctx, () => {
      checkRequestId(ctx);
      const name = ctx.path.slice(4);
      const p = profile(name);
      const user = [...f.resources.entries()].find(
        ([k, v]) => k.includes('/migrationJobs/') && (v.source === name || v.destination === name),
      );
      // "A connection profile can only be deleted if it is not in use by any active migration jobs"
      // (https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.connectionProfiles/delete).
      if (user) throw new ApiError(400, `connection profile ${name} is used by migration job ${user[1].name}`);
      p.state = 'DELETING';
      return lro(ctx.params[0], name, 'delete', () => f.resources.delete(key(name)));
    }),
  );

  // ---- migration jobs.
  const job = (name: string): FakeJob => {
    const j = f.resources.get(key(name));
    // Get of a missing resource is NOT_FOUND (https://google.aip.dev/131).
    if (!j) throw new ApiError(404, `migration job ${name} not found`);
    return j;
  };
  const destinationOf = (j: FakeJob) => {
    const p = f.resources.get(key(j.destination ?? ''));
    const conn = p?.postgresql ?? p?.mysql ?? p?.sqlserver;
    return {
      cloudSqlId: conn?.cloudSqlId as string | undefined,
      alloydbClusterId: conn?.alloydbClusterId as string | undefined,
    };
  };
  // SQL Server is restored into a running instance, not demoted into a replica (demoteDestination).
  const existingDestination = (j: FakeJob) => {
    if (j.sqlserverHomogeneousMigrationJobConfig) return false;
    const d = destinationOf(j);
    return !!(d.cloudSqlId || d.alloydbClusterId);
  };
  f.route('GET', new RegExp(`${base}/migrationJobs/${SEG}$`), `${JOBS}.get`, ({ path }) => {
    const j = progress(job(path.slice(4)));
    // Gone once its delete operation finished: NOT_FOUND (https://google.aip.dev/131).
    if (!f.resources.has(key(j.name))) throw new ApiError(404, `migration job ${j.name} not found`);
    return ok(jobView(j, b, undefined, f));
  });
  f.route('GET', new RegExp(`${base}/migrationJobs$`), `${JOBS}.list`, (ctx) => {
    const prefix = key(`${ctx.params[0]}/migrationJobs/`);
    const items = [...f.resources.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .map(([, v]) => progress(v))
      .filter((v) => f.resources.has(key(v.name)))
      .map((v) => jobView(v, b, undefined, f));
    return page(
      ctx,
      items.filter((j) => matchesFilter(j, ctx.query.get('filter'))),
      'migrationJobs',
    );
  });
  f.route('POST', new RegExp(`${base}/migrationJobs$`), `${JOBS}.create`, (ctx) =>
    f.idempotent(ctx, () => {
      checkRequestId(ctx);
      const [parent] = ctx.params;
      const id = checkId('migrationJobId', ctx.query.get('migrationJobId'));
      const body = ctx.body ?? {};
      // MigrationJob.type, source, destination: "Required." (datamigration-v1.json); source and destination
      // are "the resource name (URI)" of a connection profile
      // (https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.migrationJobs).
      if (body.type !== 'CONTINUOUS' && body.type !== 'ONE_TIME')
        throw new ApiError(400, 'type: CONTINUOUS or ONE_TIME is required');
      // Required, and naming a connection profile (datamigration-v1.json MigrationJob.source/destination).
      for (const side of ['source', 'destination'] as const) {
        if (!body[side]) throw new ApiError(400, `${side} is required`);
        const p = f.resources.get(key(body[side]));
        if (!p) throw new ApiError(400, `${side}: connection profile ${body[side]} not found`);
      }
      const connectivity = ['reverseSshConnectivity', 'vpcPeeringConnectivity', 'staticIpConnectivity'].filter(
        (k) => body[k],
      );
      // oneof connectivity (google/cloud/clouddms/v1/clouddms_resources.proto MigrationJob).
      if (connectivity.length > 1) throw new ApiError(400, `connectivity: only one of ${connectivity.join(', ')}`);
      // dump_path and dump_flags "are mutually exclusive" (datamigration-v1.json MigrationJob.dumpPath).
      if (body.dumpPath && body.dumpFlags) throw new ApiError(400, 'dumpPath and dumpFlags are mutually exclusive');
      const name = `${parent}/migrationJobs/${id}`;
      // Create of an existing name is ALREADY_EXISTS (https://google.aip.dev/133).
      if (f.resources.has(key(name))) throw new ApiError(409, `migration job ${id} already exists`);
      const now = new Date().toISOString();
      f.resources.set(key(name), { ...body, name, state: 'CREATING', createTime: now, updateTime: now });
      return lro(parent, name, 'create', () => (job(name).state = 'NOT_STARTED'));
    }),
  );

  /** The databases the job's source profile serves (DmsBehaviour.sourceDatabases), and its host. */
  const sourceOf = (j: FakeJob) => {
    const p = f.resources.get(key(j.source ?? ''));
    const conn = p?.mysql ?? p?.postgresql;
    const host = conn?.host as string;
    return { host, databases: b.sourceDatabases?.get(host) ?? [p?.mysql ? 'mysql' : 'postgres'] };
  };
  /**
   * The job's dump begins (start, restart). It carries the databases its objectsConfig names
   * (SourceObjectsConfig SPECIFIED_OBJECTS, objectIdentifier type DATABASE), else every database
   * of the source ("migrates all your databases by default": the header's homogeneous-migrations
   * page). A source without SUPER first waits for its writes to stop (rds-no-superuser, in the header).
   */
  const begin = (j: FakeJob) => {
    const { host, databases } = sourceOf(j);
    type Selection = {
      objectsSelectionType?: string;
      objectConfigs?: { objectIdentifier?: { type?: string; database?: string } }[];
    };
    const selection = (j.objectsConfig as { sourceObjectsConfig?: Selection } | undefined)?.sourceObjectsConfig;
    const named = (selection?.objectConfigs ?? [])
      .map((o) => o.objectIdentifier)
      .filter((id) => id?.type === 'DATABASE' && id.database)
      .map((id) => id!.database!);
    j._databases = selection?.objectsSelectionType === 'SPECIFIED_OBJECTS' ? named : databases;
    j._sourceHost = host;
    if (b.noSuperHosts?.has(host))
      return Object.assign(j, {
        state: 'STARTING',
        phase: 'WAITING_FOR_SOURCE_WRITES_TO_STOP',
        _runningSince: undefined,
      });
    return Object.assign(j, { state: 'RUNNING', phase: 'FULL_DUMP', _runningSince: Date.now() });
  };

  /** A job action: `run` checks the state the docs allow it in and says what its operation does. */
  const action = (verb: string, run: (j: FakeJob, ctx: Ctx) => { finish?: () => unknown; error?: string }) =>
    f.route('POST', new RegExp(`${base}/migrationJobs/${SEG}:${verb}$`), `${JOBS}.${verb}`, (ctx) => {
      const name = ctx.path.slice(4, -(verb.length + 1));
      const j = job(name);
      jobView(j, b, undefined, f);
      const { finish, error } = run(j, ctx);
      return lro(ctx.params[0], name, verb, finish, error);
    });
  /**
   * An action the job's state does not allow: FAILED_PRECONDITION, "the system is not in a state
   * required for the operation's execution" (google/rpc/code.proto), with google.rpc.PreconditionFailure
   * naming the job (google/rpc/error_details.proto; https://google.aip.dev/193).
   */
  const precondition = (subject: string, message: string) =>
    ApiError.of('FAILED_PRECONDITION', message, { preconditions: [{ type: 'STATE', subject, description: message }] });
  const refuse = (j: FakeJob, verb: string, allowed: string) =>
    precondition(j.name, `migration job is ${j.state}${j.phase ? `/${j.phase}` : ''}; ${verb} needs ${allowed}`);

  sqlServerObjectRoutes(f, b);

  // verify: the "test the migration job" step before start; it changes nothing
  // (https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.migrationJobs/verify;
  // a started job is past it: https://cloud.google.com/database-migration/docs/postgres/migration-job-statuses).
  action('verify', (j) => {
    if (!['DRAFT', 'NOT_STARTED', 'STOPPED', 'FAILED'].includes(j.state))
      throw refuse(j, 'verify', 'a job not running');
    const src = f.resources.get(key(j.source ?? ''));
    const host = (src?.mysql ?? src?.postgresql)?.host;
    const backups = verifySqlServer(f, j);
    if (backups) return { error: `BACKUPS_NOT_FOUND: ${backups}` };
    if (j.sqlserverHomogeneousMigrationJobConfig) return {}; // DMS reads the bucket, not the source
    if (b.unreachableHosts.has(host)) return { error: `CONNECTION_FAILURE: source ${host} is not reachable from DMS` };
    return {};
  });
  // demoteDestination: before start, for an existing destination ("Demotes the destination database
  // to become a read replica of the source":
  // https://cloud.google.com/database-migration/docs/reference/rest/v1/projects.locations.migrationJobs/demoteDestination,
  // https://cloud.google.com/database-migration/docs/postgres/create-migration-job-existing-instance).
  action('demoteDestination', (j) => {
    if (j.state !== 'NOT_STARTED') throw refuse(j, 'demoteDestination', 'NOT_STARTED');
    if (!existingDestination(j)) throw precondition(j.name, 'the destination is not an existing instance');
    j._demoting = true;
    return { finish: () => Object.assign(j, { _demoted: true, _demoting: false }) };
  });
  // start: only NOT_STARTED ("Not started: Start", https://cloud.google.com/database-migration/docs/postgres/migration-job-statuses); an existing
  // destination must be demoted first (create-migration-job-existing-instance, above).
  action('start', (j) => {
    if (j.state !== 'NOT_STARTED') throw refuse(j, 'start', 'NOT_STARTED (a stopped job is resumed)');
    if (existingDestination(j) && !j._demoted)
      throw precondition(j.name, 'demote the existing destination first (migrationJobs.demoteDestination)');
    j.state = 'STARTING';
    return { finish: () => begin(j) };
  });
  // resume: a job stopped in CDC ("In the case where a migration was stopped during the CDC phase, it
  // can be resumed": https://cloud.google.com/database-migration/docs/manage-jobs).
  action('resume', (j) => {
    if (j.state !== 'STOPPED' || j.phase !== 'CDC') throw refuse(j, 'resume', 'STOPPED in phase CDC');
    j.state = 'RESUMING';
    return { finish: () => Object.assign(j, { state: 'RUNNING', _stoppedAt: undefined }) };
  });
  // restart: failed, or stopped during the full dump; the dump starts over ("If the migration failed
  // and is not recoverable, or was stopped during full dump, it can be restarted":
  // https://cloud.google.com/database-migration/docs/manage-jobs).
  action('restart', (j) => {
    if (!(j.state === 'FAILED' || (j.state === 'STOPPED' && j.phase === 'FULL_DUMP')))
      throw refuse(j, 'restart', 'FAILED, or STOPPED in FULL_DUMP');
    j.state = 'RESTARTING';
    return {
      finish: () => begin(Object.assign(j, { _stoppedAt: undefined, _cdcSince: undefined })),
    };
  });
  // stop: "Running: Stop" (Starting/Resuming offer only Delete: https://cloud.google.com/database-migration/docs/postgres/migration-job-statuses).
  action('stop', (j) => {
    if (j.state !== 'RUNNING') throw refuse(j, 'stop', 'RUNNING');
    j.state = 'STOPPING';
    return { finish: () => Object.assign(j, { state: 'STOPPED', _stoppedAt: Date.now() }) };
  });
  // promote: in phase CDC ("after the full dump phase has completed and the migration job is in CDC
  // phase, the option for promotion is available":
  // https://cloud.google.com/database-migration/docs/postgres/promote-migration); Running, Stopped and
  // Failed jobs offer it (https://cloud.google.com/database-migration/docs/postgres/migration-job-statuses). And
  // in READY_FOR_PROMOTE ("Ready to promote: Promote",
  // https://cloud.google.com/database-migration/docs/sqlserver/migration-job-statuses).
  action('promote', (j) => {
    if (!['RUNNING', 'STOPPED', 'FAILED'].includes(j.state) || !['CDC', 'READY_FOR_PROMOTE'].includes(j.phase ?? ''))
      throw refuse(j, 'promote', 'phase CDC or READY_FOR_PROMOTE');
    Object.assign(j, { state: 'RUNNING', phase: 'PROMOTE_IN_PROGRESS', _promotedAt: Date.now() });
    return {
      finish: () => Object.assign(j, { state: 'COMPLETED', phase: undefined, endTime: new Date().toISOString() }),
    };
  });

  // delete: "The destination CloudSQL connection profile is always deleted with the migration job.
  // In case of force delete, the destination CloudSQL replica database is also deleted." `force`
  // is about the destination replica only: Delete is an action of every status, running ones
  // included ("Running: Stop, Promote, Delete"; "Starting...: Delete",
  // https://cloud.google.com/database-migration/docs/postgres/migration-job-statuses).
  f.route('DELETE', new RegExp(`${base}/migrationJobs/${SEG}$`), `${JOBS}.delete`, (ctx) =>
    f.idempotent(ctx, () => {
      checkRequestId(ctx);
      const [parent, project] = ctx.params;
      const name = ctx.path.slice(4);
      const j = job(name);
      const force = ctx.query.get('force') === 'true';
      const dst = destinationOf(j);
      j.state = 'DELETING';
      return lro(parent, name, 'delete', () => {
        f.resources.delete(key(name));
        f.resources.delete(key(j.destination ?? ''));
        if (!force) return;
        if (dst.cloudSqlId) f.resources.delete(`sql/${project}/${dst.cloudSqlId}`);
        if (dst.alloydbClusterId) {
          const cluster = `alloydb/${parent}/clusters/${dst.alloydbClusterId}`;
          for (const k of [...f.resources.keys()])
            if (k === cluster || k.startsWith(`${cluster}/`)) f.resources.delete(k);
        }
      });
    }),
  );
}
