// The cost estimate `dbmig plan` prints for a gcp plan: per database, the migration workers'
// capacity for the time it is held and the target per month, from a price table (the dated one in
// common/prices, or the Cloud Billing Catalog's prices laid over it). Pure: no I/O.
import { capacityMode, workerCount, type CapacityMode } from './capacity';
import type { DatabasePlan, Plan } from './plan';
import dated from './prices/gcp-2026-11.json';

export interface Price {
  usd: number;
  unit: string;
  source: string;
}

export interface PriceTable {
  id: string;
  region: string;
  currency: string;
  /** When the prices were read from their sources (YYYY-MM-DD). */
  read: string;
  approximate: boolean;
  caveat: string;
  hoursPerMonth: number;
  prices: Record<string, Price>;
}

export const DATED_PRICES: PriceTable = dated;

/**
 * The workers are held at most this long per database: the platform's capacity requests run
 * 7 days (activities/platforms/gcp/compute/capacity.ts HOLD_DAYS), so the estimate is an upper bound.
 */
export const CAPACITY_HOLD_HOURS = 7 * 24;

/** The target defaults the gcp platform applies (activities/platforms/gcp/sql/cloudsql.ts, alloydb.ts). */
export const TARGET_DEFAULTS = { cloudsqlTier: 'db-custom-4-16384', alloydbCpuCount: 4 } as const;

export interface MachineShape {
  vcpus: number;
  memoryGb: number;
}

/**
 * vCPUs and memory of a predefined machine type, from its name
 * (https://cloud.google.com/compute/docs/general-purpose-machines): standard 4 GiB per vCPU
 * (N1 3.75), highmem 8 (N1 6.5), highcpu 1 (N1 0.9). Undefined for shapes it cannot read.
 */
export function machineShape(machineType: string): MachineShape | undefined {
  const m = machineType.match(/^([a-z0-9]+)-(standard|highmem|highcpu)-(\d+)$/);
  if (!m) return undefined;
  const n1 = m[1] === 'n1';
  const perVcpu = { standard: n1 ? 3.75 : 4, highmem: n1 ? 6.5 : 8, highcpu: n1 ? 0.9 : 1 }[m[2] as 'standard'];
  return { vcpus: Number(m[3]), memoryGb: Number(m[3]) * perVcpu };
}

/** vCPUs and memory of a Cloud SQL tier (https://cloud.google.com/sql/docs/mysql/instance-settings). */
export function cloudSqlShape(tier: string): MachineShape | undefined {
  const custom = tier.match(/^db-custom-(\d+)-(\d+)$/);
  if (custom) return { vcpus: Number(custom[1]), memoryGb: Number(custom[2]) / 1024 };
  const n1 = tier.match(/^db-n1-(standard|highmem)-(\d+)$/);
  if (n1) return { vcpus: Number(n1[2]), memoryGb: Number(n1[2]) * (n1[1] === 'standard' ? 3.75 : 6.5) };
  return undefined;
}

export interface DatabaseCost {
  database: string;
  capacity: {
    mode: CapacityMode;
    workers: number;
    machineType: string;
    hours: number;
    /** Undefined when the table has no price for the machine type. */
    usd?: number;
    onDemandUsd?: number;
  };
  target: { kind: 'cloudsql' | 'alloydb'; spec: string; monthlyUsd?: number };
}

export interface CostEstimate {
  databases: DatabaseCost[];
  total: { capacityUsd: number; onDemandUsd: number; targetsMonthlyUsd: number };
  /** Items the table could not price (their cost is left out of the totals). */
  unpriced: string[];
  /** What the workers run and as whom (activities/platforms/gcp/compute/worker-startup.ts), in words. */
  workload?: string;
}

type Rates = Record<string, Price>;
const rate = (r: Rates, key: string) => r[key]?.usd;
const round2 = (n: number) => Math.round(n * 100) / 100;

function capacityCost(db: DatabasePlan, plan: Plan, r: Rates, unpriced: string[]): DatabaseCost['capacity'] {
  const machineType = plan.gcp!.machineType;
  const mode = capacityMode(db.priority, machineType);
  const workers = workerCount(db.sizeGb);
  const shape = machineShape(machineType);
  const family = machineType.split('-')[0];
  const vcpu = rate(r, `compute.${family}.vcpu`);
  const ram = rate(r, `compute.${family}.ram`);
  const base = { mode, workers, machineType, hours: CAPACITY_HOLD_HOURS };
  if (!shape || vcpu === undefined || ram === undefined) {
    unpriced.push(`${db.name}: workers (${machineType})`);
    return base;
  }
  const onDemand = workers * (shape.vcpus * vcpu + shape.memoryGb * ram) * CAPACITY_HOLD_HOURS;
  const discount = rate(r, `dws.${mode}.discount`) ?? 0;
  return { ...base, usd: round2(onDemand * (1 - discount)), onDemandUsd: round2(onDemand) };
}

function targetCost(db: DatabasePlan, r: Rates, hoursPerMonth: number, unpriced: string[]): DatabaseCost['target'] {
  const t = db.target;
  if (t.kind === 'cloudsql') {
    const tier = t.tier ?? TARGET_DEFAULTS.cloudsqlTier;
    const ha = t.highAvailability !== false;
    const storageGb = Math.max(t.storageGb ?? Math.ceil(db.sizeGb * 1.5), 10);
    const edition = db.engine === 'sqlserver' ? (t.edition ?? 'standard') : undefined;
    const spec = `${tier}${ha ? ' HA' : ''}, ${storageGb} GB SSD${edition ? `, SQL Server ${edition} license` : ''}`;
    const shape = cloudSqlShape(tier);
    const where = ha ? 'regional' : 'zonal';
    const [vcpu, ram, ssd] = ['vcpu', 'ram', 'ssd'].map((k) => rate(r, `cloudsql.${where}.${k}`));
    // SQL Server's license is billed per vCPU-hour on top (https://cloud.google.com/sql/pricing#sql-server-pricing).
    const license = edition ? rate(r, `cloudsql.sqlserver.${edition}.license`) : 0;
    if (!shape || vcpu === undefined || ram === undefined || ssd === undefined || license === undefined) {
      unpriced.push(`${db.name}: Cloud SQL ${tier}`);
      return { kind: 'cloudsql', spec };
    }
    const monthly = (shape.vcpus * (vcpu + license) + shape.memoryGb * ram) * hoursPerMonth + storageGb * ssd;
    return { kind: 'cloudsql', spec, monthlyUsd: round2(monthly) };
  }
  // An AlloyDB primary is highly available: two nodes, each billed (https://cloud.google.com/alloydb/pricing);
  // machine shapes have 8 GiB per vCPU; storage is billed as used, about the source's size.
  const cpus = t.cpuCount ?? TARGET_DEFAULTS.alloydbCpuCount;
  const spec = `${cpus} vCPU x2 nodes (HA primary), ~${db.sizeGb} GB`;
  const [vcpu, ram, storage] = ['vcpu', 'ram', 'storage'].map((k) => rate(r, `alloydb.${k}`));
  if (vcpu === undefined || ram === undefined || storage === undefined) {
    unpriced.push(`${db.name}: AlloyDB`);
    return { kind: 'alloydb', spec };
  }
  const monthly = 2 * cpus * (vcpu + 8 * ram) * hoursPerMonth + db.sizeGb * storage;
  return { kind: 'alloydb', spec, monthlyUsd: round2(monthly) };
}

/** The estimate for a gcp plan from `table` (a dated table, or one with catalog prices laid over it). */
export function estimateCost(plan: Plan, table: PriceTable = DATED_PRICES): CostEstimate {
  if (!plan.gcp) throw new Error('a cost estimate needs a gcp plan');
  const unpriced: string[] = [];
  const databases = plan.databases.map((db) => ({
    database: db.name,
    capacity: capacityCost(db, plan, table.prices, unpriced),
    target: targetCost(db, table.prices, table.hoursPerMonth, unpriced),
  }));
  const sum = (f: (d: DatabaseCost) => number | undefined) => round2(databases.reduce((a, d) => a + (f(d) ?? 0), 0));
  return {
    databases,
    total: {
      capacityUsd: sum((d) => d.capacity.usd),
      onDemandUsd: sum((d) => d.capacity.onDemandUsd),
      targetsMonthlyUsd: sum((d) => d.target.monthlyUsd),
    },
    unpriced,
    workload: workload(plan),
  };
}

/** What each worker runs (the gcp platform's worker-startup.ts), or why capacity would be refused. */
function workload(plan: Plan): string | undefined {
  const gcp = plan.gcp;
  if (!gcp) return undefined;
  const missing = [!gcp.workerImage && 'gcp.workerImage', !gcp.workerTemporal?.address && 'gcp.workerTemporal.address'];
  if (missing.some(Boolean))
    return `none: the plan sets no ${missing.filter(Boolean).join(' and ')}, capacity is refused`;
  const account = gcp.workerServiceAccount ?? `dbmig-worker@${gcp.project}.iam.gserviceaccount.com`;
  return (
    `${gcp.workerImage} as \`dbmig worker --data-plane\` on Container-Optimized OS, serving the run's data-plane ` +
    `task queue on ${gcp.workerTemporal!.address}, as ${account}`
  );
}

/** `table` with `prices` (e.g. from the Cloud Billing Catalog) laid over it. */
export function withPrices(table: PriceTable, prices: Rates): PriceTable {
  return { ...table, prices: { ...table.prices, ...prices } };
}
