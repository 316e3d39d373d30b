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

/** The value of gauge `name` with label database="…", or undefined when the worker has not set it. */
export function gauge(text: string, name: string, database: string): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m && m[1] === name && m[2].split(',').includes(`database="${database}"`)) return Number(m[3]);
  }
  return undefined;
}
