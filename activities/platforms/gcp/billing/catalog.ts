// List prices from the Cloud Billing Catalog API (cloudbilling v1; google/cloud/billing/v1/cloud_catalog.proto
// in @google-cloud/billing): services.list finds the services by display name, services.skus.list
// (https://cloud.google.com/billing/docs/reference/rest/v1/services.skus/list) their SKUs. Only
// on-demand SKUs offered in the plan's region are used, and only where their description and unit
// are the ones the estimate prices; every other price stays the dated table's, and the estimate says
// which. Bounded by one deadline: `dbmig plan` must never hang offline.
import type { AuthClient } from 'google-auth-library';
import type { Price } from '../../../../common/cost';
import type { GcpEndpoint } from '../clients';

interface Sku {
  description?: string | null;
  serviceRegions?: string[] | null;
  category?: { usageType?: string | null } | null;
  pricingInfo?:
    | {
        pricingExpression?: {
          usageUnit?: string | null;
          tieredRates?:
            | { startUsageAmount?: number | null; unitPrice?: { units?: unknown; nanos?: number | null } | null }[]
            | null;
        } | null;
      }[]
    | null;
}

interface Rule {
  key: string;
  service: RegExp;
  description: RegExp;
  /** The pricing expression's usage unit (https://cloud.google.com/billing/docs/reference/rest/v1/services.skus/list#PricingExpression). */
  unit: string;
}

const CATALOG = 'https://cloud.google.com/billing/docs/reference/rest/v1/services.skus/list';

/** Which SKU prices which table key. The descriptions follow the catalog's naming of these SKUs. */
function rules(machineFamily: string): Rule[] {
  const fam = machineFamily.toUpperCase();
  const compute = /^Compute Engine$/;
  const sql = /^Cloud SQL$/;
  const alloy = /^AlloyDB/i;
  return [
    {
      key: `compute.${machineFamily}.vcpu`,
      service: compute,
      description: new RegExp(`^${fam} Instance Core running in `),
      unit: 'h',
    },
    {
      key: `compute.${machineFamily}.ram`,
      service: compute,
      description: new RegExp(`^${fam} Instance Ram running in `),
      unit: 'GiBy.h',
    },
    { key: 'cloudsql.zonal.vcpu', service: sql, description: /^Cloud SQL for PostgreSQL: Zonal - vCPU in /, unit: 'h' },
    {
      key: 'cloudsql.zonal.ram',
      service: sql,
      description: /^Cloud SQL for PostgreSQL: Zonal - RAM in /,
      unit: 'GiBy.h',
    },
    {
      key: 'cloudsql.regional.vcpu',
      service: sql,
      description: /^Cloud SQL for PostgreSQL: Regional - vCPU in /,
      unit: 'h',
    },
    {
      key: 'cloudsql.regional.ram',
      service: sql,
      description: /^Cloud SQL for PostgreSQL: Regional - RAM in /,
      unit: 'GiBy.h',
    },
    {
      key: 'cloudsql.zonal.ssd',
      service: sql,
      description: /^Cloud SQL for PostgreSQL: Zonal - (SSD|Standard) storage in /,
      unit: 'GiBy.mo',
    },
    {
      key: 'cloudsql.regional.ssd',
      service: sql,
      description: /^Cloud SQL for PostgreSQL: Regional - (SSD|Standard) storage in /,
      unit: 'GiBy.mo',
    },
    { key: 'alloydb.vcpu', service: alloy, description: /^AlloyDB.* vCPU in /i, unit: 'h' },
    { key: 'alloydb.ram', service: alloy, description: /^AlloyDB.* (RAM|Memory) in /i, unit: 'GiBy.h' },
    { key: 'alloydb.storage', service: alloy, description: /^AlloyDB.* Storage in /i, unit: 'GiBy.mo' },
  ];
}

/** The first tier's unit price (google.type.Money: units + nanos). */
function unitPrice(sku: Sku, unit: string): number | undefined {
  const expr = sku.pricingInfo?.[0]?.pricingExpression;
  if (expr?.usageUnit !== unit) return undefined;
  const tier = (expr.tieredRates ?? []).find((t) => Number(t.startUsageAmount ?? 0) === 0);
  if (!tier?.unitPrice) return undefined;
  return Number(tier.unitPrice.units ?? 0) + Number(tier.unitPrice.nanos ?? 0) / 1e9;
}

export interface CatalogOptions {
  endpoint?: GcpEndpoint;
  authClient?: AuthClient;
  region: string;
  machineFamily: string;
  /** The whole lookup's deadline (default 5 s). */
  timeoutMs?: number;
}

export interface CatalogPrices {
  prices: Record<string, Price>;
  /** Why the catalog was not used, when it was not. */
  problem?: string;
}

/** Application Default Credentials (https://cloud.google.com/docs/authentication/application-default-credentials). */
export async function applicationDefault(): Promise<AuthClient> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { GoogleAuth } = require('google-auth-library') as typeof import('google-auth-library');
  try {
    return (await new GoogleAuth({
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
    }).getClient()) as AuthClient;
  } catch {
    throw new Error('no Google credentials (gcloud auth application-default login, or GOOGLE_APPLICATION_CREDENTIALS)');
  }
}

async function lookup(o: CatalogOptions, signal: { timedOut: boolean }): Promise<Record<string, Price>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { CloudCatalogClient } = require('@google-cloud/billing') as typeof import('@google-cloud/billing');
  const e = o.endpoint;
  // Credentials first, within the deadline: gax would look them up itself and, failing, throw
  // outside any promise the caller holds.
  const authClient = o.authClient ?? (await applicationDefault());
  if (signal.timedOut) return {};
  const client = new CloudCatalogClient({
    fallback: true,
    ...(e ? { apiEndpoint: e.host, port: e.port, protocol: e.protocol } : {}),
    authClient,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  } as any);
  const timeout = o.timeoutMs ?? 5_000;
  try {
    const [services] = await client.listServices({}, { timeout });
    const wanted = rules(o.machineFamily);
    const prices: Record<string, Price> = {};
    for (const service of services) {
      const mine = wanted.filter((r) => r.service.test(service.displayName ?? ''));
      if (mine.length === 0 || signal.timedOut) continue;
      const [skus] = await client.listSkus({ parent: service.name!, currencyCode: 'USD' }, { timeout });
      for (const sku of skus as Sku[]) {
        if (sku.category?.usageType !== 'OnDemand' || !(sku.serviceRegions ?? []).includes(o.region)) continue;
        for (const r of mine) {
          const usd = r.description.test(sku.description ?? '') ? unitPrice(sku, r.unit) : undefined;
          if (usd !== undefined && !prices[r.key])
            prices[r.key] = { usd, unit: r.unit, source: `${CATALOG} (${service.name}: ${sku.description})` };
        }
      }
    }
    return prices;
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** Catalog prices for the keys it could match, or none and the reason; never throws, never outlasts the deadline. */
export async function catalogPrices(o: CatalogOptions): Promise<CatalogPrices> {
  const timeoutMs = o.timeoutMs ?? 5_000;
  const signal = { timedOut: false };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      signal.timedOut = true;
      reject(new Error(`no answer within ${timeoutMs / 1000}s`));
    }, timeoutMs);
  });
  try {
    const pending = lookup(o, signal);
    // Past the deadline its answer (or error) is no longer awaited by anyone.
    pending.catch(() => undefined);
    const prices = await Promise.race([pending, deadline]);
    return Object.keys(prices).length ? { prices } : { prices, problem: 'no SKU matched the plan' };
  } catch (err) {
    return { prices: {}, problem: String((err as Error)?.message ?? err).split('\n')[0] };
  } finally {
    clearTimeout(timer);
  }
}
