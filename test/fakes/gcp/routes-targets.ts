// Cloud SQL Admin v1 (google/cloud/sql/v1/cloud_sql_instances.proto, REST
// https://cloud.google.com/sql/docs/mysql/admin-api/rest/v1/instances) and AlloyDB v1
// (google/cloud/alloydb/v1/service.proto, resources.proto): the instance and cluster endpoints the
// platform calls, with the rules of the real services that the platform must live with. Each rule
// names where it comes from. Request bodies themselves (unknown fields, enum values, REQUIRED fields,
// request-id formats) are checked against the protos by the fake's core, not here.
import * as protobuf from 'protobufjs';
import {
  ApiError,
  ok,
  renderOp,
  type ApiErrorOptions,
  type Ctx,
  type FakeGcp,
  type FakeOp,
  type Handler,
} from './server';
import { checkLabels } from './routes-target-labels';

const SEG = '([^/:]+)';
const ALLOYDB = 'alloydb.projects.locations.clusters';
const WEEK_MS = 7 * 24 * 3600_000;

/** An error with a google.rpc.Code name (e.g. FAILED_PRECONDITION) or a v1 reason besides its HTTP status. */
const fail = (httpStatus: number, message: string, opts: ApiErrorOptions = {}) =>
  new ApiError(httpStatus, message, opts);

const enumRoots = new Map<string, protobuf.Root>();

/**
 * An enum field as its value name: proto3 JSON lets a client send a name or a number
 * (https://protobuf.dev/programming-guides/json/), and the gax REST transport sends numbers; the
 * services answer names.
 */
export function enumName(pkg: 'sql' | 'alloydb', type: string, value: unknown): unknown {
  if (typeof value !== 'number') return value;
  let root = enumRoots.get(pkg);
  if (!root) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    root = protobuf.Root.fromJSON(require(`@google-cloud/${pkg}/build/protos/protos.json`));
    enumRoots.set(pkg, root);
  }
  return root.lookupEnum(type).valuesById[value] ?? value;
}

/** What a test may tune or inspect about the targets of one fake. */
export interface TargetsState {
  /**
   * How long Cloud SQL keeps a deleted instance's name. The API's own 409 says "you can't reuse the
   * name of the deleted instance until one week from the deletion date"; the current
   * https://cloud.google.com/sql/docs/mysql/delete-instance says a name can be reused once the
   * deletion completes. Default: the week, the stricter of the two. Set 0 for the other.
   */
  sqlNameReuseMs: number;
  /** When each Cloud SQL name (project/instance) was deleted. */
  sqlDeletedAt: Map<string, number>;
  /** The create or delete operation of a resource in a transitional state, by resource key. */
  pending: Map<string, string>;
}

const states = new WeakMap<FakeGcp, TargetsState>();

export function targetsState(f: FakeGcp): TargetsState {
  let s = states.get(f);
  if (!s) states.set(f, (s = { sqlNameReuseMs: WEEK_MS, sqlDeletedAt: new Map(), pending: new Map() }));
  return s;
}

/**
 * Cloud SQL runs one operation at a time on an instance: any request that would start another while
 * one is in flight (its create, delete, a patch, a backup run, ...) is refused with 409 and the v1
 * reason `operationInProgress` until it ends
 * (https://cloud.google.com/sql/docs/mysql/admin-api-error-messages, "Operation failed because
 * another operation was already in progress").
 */
export function refuseWhileInFlight(f: FakeGcp, key: string): void {
  const op = targetsState(f).pending.get(key);
  if (op && !f.ops.get(op)?.done)
    throw new ApiError(
      409,
      'Operation failed because another operation was already in progress. ' +
        'Try your request after the current operation is complete.',
      { reason: 'operationInProgress' },
    );
}

/** Polling a resource in transition advances its operation, as time does for the real service. */
function advance(f: FakeGcp, key: string): void {
  const s = targetsState(f);
  const op = s.pending.get(key);
  if (!op) return;
  if (f.poll(op).done) s.pending.delete(key);
}

// The major versions Cloud SQL creates instances at (https://cloud.google.com/sql/docs/postgres/db-versions,
// https://cloud.google.com/sql/docs/mysql/db-versions); the proto names more (POSTGRES_19, MYSQL_9_7).
const SQL_OFFERED = new Set([
  ...['9_6', '10', '11', '12', '13', '14', '15', '16', '17', '18'].map((v) => `POSTGRES_${v}`),
  ...['5_6', '5_7', '8_0', '8_4'].map((v) => `MYSQL_${v}`),
  // https://cloud.google.com/sql/docs/sqlserver/db-versions: 2017, 2019, 2022 in four editions each.
  ...['2017', '2019', '2022'].flatMap((y) =>
    ['STANDARD', 'ENTERPRISE', 'EXPRESS', 'WEB'].map((e) => `SQLSERVER_${y}_${e}`),
  ),
]);

/** Enterprise Plus is the default edition from PostgreSQL 16 and MySQL 8.4 (https://cloud.google.com/sql/docs/editions-intro). */
function defaultEdition(version: string): string {
  const pg = /^POSTGRES_(\d+)$/.exec(version);
  return (pg && Number(pg[1]) >= 16) || version === 'MYSQL_8_4' ? 'ENTERPRISE_PLUS' : 'ENTERPRISE';
}

/**
 * Cloud SQL's `field:value` list filter (SqlInstancesListRequest.filter, cloud_sql_instances.proto):
 * space-separated terms, ANDed; fields nested by their JSON names (settings.userLabels.k:v).
 */
function matchesFilter(inst: Record<string, unknown>, filter: string | null): boolean {
  if (!filter) return true;
  return filter
    .split(/\s+/)
    .filter((t) => t && t !== 'AND')
    .every((term) => {
      // Not a Google rule: instances.list takes Cloud SQL's whole filter syntax
      // (https://cloud.google.com/sql/docs/mysql/admin-api/rest/v1/instances/list); the fake serves
      // `field:value` terms only and says so with UNIMPLEMENTED (google/rpc/code.proto).
      if (term === 'OR' || !term.includes(':'))
        throw ApiError.of('UNIMPLEMENTED', `fake: instances.list filter term "${term}" is not served`);
      const [path, ...rest] = term.split(':');
      const want = rest.join(':');
      const value = path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], inst);
      return value !== undefined && String(value) === want;
    });
}

export function cloudSqlRoutes(f: FakeGcp): void {
  const s = targetsState(f);
  const key = (p: string, i: string) => `sql/${p}/${i}`;
  // Cloud SQL answers 403, not 404, for an instance that does not exist in a project the caller can
  // read, on get and delete alike (https://github.com/googleapis/google-api-go-client/issues/1815).
  const missing = () => fail(403, 'The client is not authorized to make this request.', { reason: 'notAuthorized' });

  f.route('GET', new RegExp(`^/v1/projects/${SEG}/instances/${SEG}$`), 'sql.instances.get', ({ params: [p, i] }) => {
    advance(f, key(p, i));
    const inst = f.resources.get(key(p, i));
    // 403 for a missing instance: https://google.aip.dev/211 (PERMISSION_DENIED whether or not it exists).
    if (!inst) throw missing();
    return ok(inst);
  });

  f.route('GET', new RegExp(`^/v1/projects/${SEG}/instances$`), 'sql.instances.list', ({ params: [p], query }) => {
    const items = [...f.resources.entries()]
      .filter(([k]) => k.startsWith(`sql/${p}/`))
      .map(([k, v]) => (advance(f, k), f.resources.get(k) ?? v))
      .filter((v) => f.resources.has(key(p, v.name)) && matchesFilter(v, query.get('filter')));
    // proto3 JSON leaves an empty repeated field out (InstancesListResponse.items).
    return ok({ kind: 'sql#instancesList', ...(items.length ? { items } : {}) });
  });

  // instances.insert takes no request id (SqlInstancesInsertRequest): a repeat is a 409.
  f.route('POST', new RegExp(`^/v1/projects/${SEG}/instances$`), 'sql.instances.insert', (ctx) => {
    const [p] = ctx.params;
    const sqlEnum = (type: string, v: unknown) => enumName('sql', `google.cloud.sql.v1.${type}`, v);
    const given = ctx.body ?? {};
    const settings = {
      ...given.settings,
      ...(given.settings?.edition !== undefined
        ? { edition: sqlEnum('Settings.Edition', given.settings.edition) }
        : {}),
      availabilityType: sqlEnum('SqlAvailabilityType', given.settings?.availabilityType),
      dataDiskType: sqlEnum('SqlDataDiskType', given.settings?.dataDiskType),
    };
    const body = { ...given, databaseVersion: sqlEnum('SqlDatabaseVersion', given.databaseVersion), settings };
    const name: string | undefined = body.name;
    // Instance ID: lower-case letters, digits and hyphens, starting with a letter, at most 98
    // characters (https://cloud.google.com/sql/docs/postgres/instance-settings).
    if (!name || !/^[a-z][a-z0-9-]{0,97}$/.test(name))
      throw new ApiError(400, `Invalid request: invalid instance name "${name}".`);
    checkLabels('settings.userLabels', settings.userLabels);
    const version = String(body.databaseVersion ?? '');
    // https://cloud.google.com/sql/docs/postgres/db-versions, https://cloud.google.com/sql/docs/mysql/db-versions
    if (!SQL_OFFERED.has(version))
      throw new ApiError(400, `Invalid request: database version ${version || 'unset'} is not supported.`);
    // Editions take their own machine series (https://cloud.google.com/sql/docs/postgres/machine-series-overview):
    // Enterprise Plus only the predefined db-perf-optimized-N-* tiers, Enterprise never those.
    const edition = settings.edition ?? defaultEdition(version);
    const perf = /^db-perf-optimized-N-\d+$/.test(String(settings.tier));
    // https://cloud.google.com/sql/docs/postgres/machine-series-overview
    if (edition === 'ENTERPRISE_PLUS' && !perf)
      throw new ApiError(
        400,
        `Invalid request: Invalid Tier (${settings.tier}) for (ENTERPRISE_PLUS) Edition. ` +
          'Use a predefined Tier like db-perf-optimized-N-* instead.',
      );
    // https://cloud.google.com/sql/docs/postgres/machine-series-overview
    if (edition === 'ENTERPRISE' && perf)
      throw new ApiError(400, `Invalid request: Invalid Tier (${settings.tier}) for (ENTERPRISE) Edition.`);
    const ip = settings.ipConfiguration ?? {};
    // 409 instanceAlreadyExists (https://cloud.google.com/sql/docs/mysql/admin-api-error-messages).
    if (f.resources.has(key(p, name)))
      throw fail(409, 'The Cloud SQL instance already exists.', { reason: 'instanceAlreadyExists' });
    const deletedAt = s.sqlDeletedAt.get(key(p, name));
    // A deleted instance's name is not reused for a week (https://cloud.google.com/sql/docs/mysql/delete-instance).
    if (deletedAt !== undefined && Date.now() - deletedAt < s.sqlNameReuseMs)
      throw fail(
        409,
        "The Cloud SQL instance already exists. When you delete an instance, you can't reuse the name of the " +
          'deleted instance until one week from the deletion date.',
        { reason: 'instanceAlreadyExists' },
      );
    // root_password is input-only: kept nowhere, returned never.
    const { rootPassword, ...stored } = body;
    void rootPassword;
    f.resources.set(key(p, name), {
      ...stored,
      kind: 'sql#instance',
      project: p,
      connectionName: `${p}:${body.region}:${name}`,
      instanceType: 'CLOUD_SQL_INSTANCE',
      backendType: 'SECOND_GEN',
      settings: { ...stored.settings, edition },
      state: 'PENDING_CREATE',
    });
    // PENDING_CREATE → RUNNABLE (DatabaseInstance.SqlInstanceState); the private address is assigned then.
    const op = f.operation('sql', () => {
      const inst = f.resources.get(key(p, name));
      if (!inst) return;
      inst.state = 'RUNNABLE';
      inst.ipAddresses = ip.privateNetwork
        ? [{ type: 'PRIVATE', ipAddress: `10.20.0.${(f.resources.size % 250) + 2}` }]
        : [{ type: 'PRIMARY', ipAddress: '203.0.113.99' }];
    });
    if (!op.done) s.pending.set(key(p, name), op.name);
    return ok(renderOp(op));
  });

  f.route(
    'DELETE',
    new RegExp(`^/v1/projects/${SEG}/instances/${SEG}$`),
    'sql.instances.delete',
    ({ params: [p, i] }) => {
      const inst = f.resources.get(key(p, i));
      // 403 for a missing instance: https://google.aip.dev/211 (PERMISSION_DENIED whether or not it exists).
      if (!inst) throw missing();
      refuseWhileInFlight(f, key(p, i));
      inst.state = 'PENDING_DELETE';
      const op = f.operation('sql', () => {
        f.resources.delete(key(p, i));
        s.sqlDeletedAt.set(key(p, i), Date.now());
      });
      if (!op.done) s.pending.set(key(p, i), op.name);
      return ok(renderOp(op));
    },
  );

  // sql.backupRuns.insert (SqlBackupRunsInsertRequest, cloud_sql_backup_runs.proto): an on-demand
  // backup, one of the operations that hold the instance (as the scheduled daily backup does).
  f.route(
    'POST',
    new RegExp(`^/v1/projects/${SEG}/instances/${SEG}/backupRuns$`),
    'sql.backupRuns.insert',
    ({ params: [p, i] }) => {
      advance(f, key(p, i));
      const inst = f.resources.get(key(p, i));
      // 403 for a missing instance: https://google.aip.dev/211 (PERMISSION_DENIED whether or not it exists).
      if (!inst) throw missing();
      refuseWhileInFlight(f, key(p, i));
      const op = f.operation('sql', () => {
        const runs = f.resources.get(`sql-backups/${p}/${i}`) ?? [];
        f.resources.set(`sql-backups/${p}/${i}`, [...runs, { kind: 'sql#backupRun', status: 'SUCCESSFUL' }]);
      });
      if (!op.done) s.pending.set(key(p, i), op.name);
      return ok(renderOp(op));
    },
  );

  f.route('GET', new RegExp(`^/v1/projects/${SEG}/operations/${SEG}$`), 'sql.operations.get', ({ params: [, op] }) =>
    ok(renderOp(f.poll(op))),
  );
}

// AlloyDB machine shapes: a primary instance's vCPUs (MachineConfig.cpu_count) are one of these
// (https://cloud.google.com/alloydb/docs/instance-primary-create, "Machine type").
const ALLOYDB_CPUS = new Set([1, 2, 4, 8, 16, 32, 48, 64, 72, 96, 128]);

export function alloyDbRoutes(f: FakeGcp): void {
  const s = targetsState(f);
  const base = `^/v1/(projects/${SEG}/locations/${SEG})`;
  const k = (name: string) => `alloydb/${name}`;
  const lro = (parent: string, finish: () => unknown, typeUrl?: string) =>
    f.operation('longrunning', finish, { prefix: `${parent}/operations/`, ...(typeUrl ? { typeUrl } : {}) });
  const get: Handler = ({ path }) => {
    const name = path.slice(4);
    advance(f, k(name));
    const res = f.resources.get(k(name));
    // https://cloud.google.com/apis/design/errors (404 NOT_FOUND)
    if (!res) throw new ApiError(404, `Resource '${name}' was not found`);
    return ok(res);
  };
  const started = (key: string, op: FakeOp) => {
    if (!op.done) s.pending.set(key, op.name);
    return ok(renderOp(op));
  };

  f.route('GET', new RegExp(`${base}/clusters/${SEG}$`), `${ALLOYDB}.get`, get);
  f.route('GET', new RegExp(`${base}/clusters/${SEG}/instances/${SEG}$`), `${ALLOYDB}.instances.get`, get);
  f.route('GET', new RegExp(`${base}/clusters/${SEG}/instances$`), `${ALLOYDB}.instances.list`, ({ path }) => {
    const cluster = path.slice(4, -'/instances'.length);
    const instances = [...f.resources.keys()]
      .filter((key) => key.startsWith(`${k(cluster)}/instances/`))
      .map((key) => (advance(f, key), f.resources.get(key)))
      .filter(Boolean);
    return ok(instances.length ? { instances } : {});
  });

  f.route('POST', new RegExp(`${base}/clusters$`), `${ALLOYDB}.create`, (ctx: Ctx) =>
    f.idempotent(ctx, () => {
      const [parent] = ctx.params;
      const id = ctx.query.get('clusterId');
      const body = {
        ...ctx.body,
        databaseVersion: enumName('alloydb', 'google.cloud.alloydb.v1.DatabaseVersion', ctx.body?.databaseVersion),
      };
      // Cluster.name: the cluster id matches [a-z0-9-]+ (resources.proto).
      if (!id || !/^[a-z0-9-]+$/.test(id)) throw new ApiError(400, `cluster_id "${id}" is invalid`);
      // "This is required to create a cluster" (google/cloud/alloydb/v1/resources.proto
      // Cluster.NetworkConfig.network, or the deprecated Cluster.network).
      if (!body.networkConfig?.network && !body.network)
        throw new ApiError(400, 'cluster.network_config.network is required to create a cluster');
      checkLabels('cluster.labels', body.labels);
      const name = `${parent}/clusters/${id}`;
      // https://cloud.google.com/apis/design/errors (409 ALREADY_EXISTS)
      if (f.resources.has(k(name))) throw new ApiError(409, `Resource '${name}' already exists`);
      // initial_user is INPUT_ONLY: never stored, never returned.
      const { initialUser, ...stored } = body;
      void initialUser;
      f.resources.set(k(name), {
        ...stored,
        name,
        uid: `uid-${id}`,
        clusterType: 'PRIMARY',
        // "If a database version is not supplied at cluster creation time, then a default database
        // version will be used" (Cluster.database_version).
        databaseVersion: stored.databaseVersion ?? 'POSTGRES_16',
        state: 'CREATING',
      });
      // Cluster.State: CREATING → READY.
      const op = lro(
        parent,
        () => {
          const c = f.resources.get(k(name));
          if (c) c.state = 'READY';
        },
        'type.googleapis.com/google.cloud.alloydb.v1.Cluster',
      );
      return started(k(name), op);
    }),
  );

  f.route('POST', new RegExp(`${base}/clusters/${SEG}/instances$`), `${ALLOYDB}.instances.create`, (ctx: Ctx) =>
    f.idempotent(ctx, () => {
      const [parent, , , clusterId] = ctx.params;
      const clusterName = `${parent}/clusters/${clusterId}`;
      const body = {
        ...ctx.body,
        instanceType: enumName('alloydb', 'google.cloud.alloydb.v1.Instance.InstanceType', ctx.body?.instanceType),
      };
      advance(f, k(clusterName));
      const cluster = f.resources.get(k(clusterName));
      // https://cloud.google.com/apis/design/errors (404 NOT_FOUND)
      if (!cluster) throw new ApiError(404, `Resource '${clusterName}' was not found`);
      // An instance is created only on a READY cluster. FAILED_PRECONDITION carries a
      // google.rpc.PreconditionFailure (https://cloud.google.com/apis/design/errors#error_payloads).
      if (cluster.state !== 'READY')
        throw ApiError.of(
          'FAILED_PRECONDITION',
          `cluster ${clusterName} is not ready (state ${cluster.state}); retry once it is READY`,
          {
            preconditions: [
              { type: 'STATE', subject: clusterName, description: `cluster is ${cluster.state}, not READY` },
            ],
          },
        );
      const id = ctx.query.get('instanceId');
      // CreateInstanceRequest.instance_id is REQUIRED (google/cloud/alloydb/v1/service.proto) and matches
      // `[a-z]([a-z0-9-]{0,61}[a-z0-9])?` (google/cloud/alloydb/v1/resources.proto Instance.name).
      if (!id || !/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/.test(id))
        throw new ApiError(400, `instance_id "${id}" is invalid`);
      // Instance.instance_type is REQUIRED (google/cloud/alloydb/v1/resources.proto).
      if (!body.instanceType) throw new ApiError(400, 'instance.instance_type is required');
      const cpus = body.machineConfig?.cpuCount;
      // https://cloud.google.com/alloydb/docs/instance-primary-create ("Machine type")
      if (body.instanceType === 'PRIMARY' && !ALLOYDB_CPUS.has(cpus))
        throw new ApiError(
          400,
          `instance.machine_config.cpu_count ${cpus} is not offered: ${[...ALLOYDB_CPUS].join(', ')}`,
        );
      const name = `${clusterName}/instances/${id}`;
      // https://cloud.google.com/apis/design/errors (409 ALREADY_EXISTS)
      if (f.resources.has(k(name))) throw new ApiError(409, `Resource '${name}' already exists`);
      const siblings = [...f.resources.entries()].filter(([key]) => key.startsWith(`${k(clusterName)}/instances/`));
      // One primary per cluster (google/cloud/alloydb/v1/resources.proto Instance.InstanceType PRIMARY:
      // "the cluster's primary instance"); a precondition, so FAILED_PRECONDITION with a
      // google.rpc.PreconditionFailure (https://cloud.google.com/apis/design/errors#error_payloads).
      if (body.instanceType === 'PRIMARY' && siblings.some(([, v]) => v.instanceType === 'PRIMARY'))
        throw ApiError.of('FAILED_PRECONDITION', `cluster ${clusterName} already has a primary instance`, {
          preconditions: [
            { type: 'STATE', subject: clusterName, description: 'cluster already has a primary instance' },
          ],
        });
      f.resources.set(k(name), { ...body, name, uid: `uid-${id}`, state: 'CREATING' });
      // Instance.State: CREATING → READY, with its private address (Instance.ip_address).
      const op = lro(
        parent,
        () => {
          const inst = f.resources.get(k(name));
          if (inst) Object.assign(inst, { state: 'READY', ipAddress: `10.30.0.${(siblings.length % 250) + 7}` });
        },
        'type.googleapis.com/google.cloud.alloydb.v1.Instance',
      );
      return started(k(name), op);
    }),
  );

  f.route('DELETE', new RegExp(`${base}/clusters/${SEG}/instances/${SEG}$`), `${ALLOYDB}.instances.delete`, (ctx) =>
    f.idempotent(ctx, () => {
      const [parent] = ctx.params;
      const name = ctx.path.slice(4);
      const inst = f.resources.get(k(name));
      // https://cloud.google.com/apis/design/errors (404 NOT_FOUND)
      if (!inst) throw new ApiError(404, `Resource '${name}' was not found`);
      inst.state = 'DELETING';
      return started(
        k(name),
        lro(parent, () => f.resources.delete(k(name))),
      );
    }),
  );

  f.route('DELETE', new RegExp(`${base}/clusters/${SEG}$`), `${ALLOYDB}.delete`, (ctx) =>
    f.idempotent(ctx, () => {
      const [parent, , , clusterId] = ctx.params;
      const name = `${parent}/clusters/${clusterId}`;
      const cluster = f.resources.get(k(name));
      // https://cloud.google.com/apis/design/errors (404 NOT_FOUND)
      if (!cluster) throw new ApiError(404, `Resource '${name}' was not found`);
      const children = [...f.resources.keys()].filter((key) => key.startsWith(`${k(name)}/instances/`));
      // DeleteClusterRequest.force (google/cloud/alloydb/v1/service.proto): "Whether to cascade delete
      // child instances for given cluster." Without it, a cluster that still has instances is not
      // deleted: FAILED_PRECONDITION with a google.rpc.PreconditionFailure
      // (https://cloud.google.com/apis/design/errors#error_payloads).
      if (children.length && ctx.query.get('force') !== 'true')
        throw ApiError.of('FAILED_PRECONDITION', `cluster ${name} has instances; delete them first or set force`, {
          preconditions: [{ type: 'STATE', subject: name, description: 'cluster has instances and force is not set' }],
        });
      cluster.state = 'DELETING';
      return started(
        k(name),
        lro(parent, () => [k(name), ...children].forEach((key) => f.resources.delete(key))),
      );
    }),
  );

  // google.longrunning operations; DMS uses the same path shape.
  f.route('GET', new RegExp(`${base}/operations/${SEG}$`), 'google.longrunning.Operations.GetOperation', ({ path }) =>
    ok(renderOp(f.poll(path.slice(4)))),
  );
}
