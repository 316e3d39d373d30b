// A worker's Prometheus endpoint from a test: a free port to give it (DBMIG_METRICS_ADDRESS), and
// a gauge's value for one database, read from /metrics.
import net from 'node:net';

export async function freeAddress(): Promise<string> {
  const srv = net.createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return `127.0.0.1:${port}`;
}

export async function scrape(address: string): Promise<string> {
  const res = await fetch(`http://${address}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics: ${res.status}`);
  return res.text();
}

/** The values of gauge `name` with label database="…": one per series (each activity type has its own). */
export function gauges(text: string, name: string, database: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m && m[1] === name && m[2].split(',').includes(`database="${database}"`)) out.push(Number(m[3]));
  }
  return out;
}

/**
 * The value of gauge `name` with label database="…", or undefined when the worker has not set it:
 * the one series that has a number (a database's gauges are NaN where their step is not running),
 * else NaN.
 */
export function gauge(text: string, name: string, database: string): number | undefined {
  const all = gauges(text, name, database);
  return all.length ? (all.find((v) => !Number.isNaN(v)) ?? NaN) : undefined;
}
