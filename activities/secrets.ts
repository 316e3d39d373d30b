// Plans carry references, never secrets; the value is resolved here, at run time, and is
// never logged, returned or put in an error message.
//
// Whoever can start a workflow writes the plan, and the plan names both the secret and the host
// it is sent to; so the worker decides which references may be resolved at all
// (DBMIG_ALLOWED_SECRETS) and to which hosts a password may go (DBMIG_ALLOWED_HOSTS). The worker's
// own secrets (Temporal's credentials, the local platform's state: its clusters' superuser
// passwords) are refused whatever those say. The check comes before anything is read or sent.
import { realpath, readFile } from 'node:fs/promises';
import net from 'node:net';
import { homedir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { MigrationError } from '../common/failures';

export type SecretResolver = (name: string, ctx: SecretContext) => Promise<string>;

export interface SecretContext {
  /** The plan's Google Cloud project, for short Secret Manager names. */
  project?: string;
}

export const ALLOWED_SECRETS_VAR = 'DBMIG_ALLOWED_SECRETS';
export const ALLOWED_HOSTS_VAR = 'DBMIG_ALLOWED_HOSTS';
/** Source passwords as deployments hand them over: `*_PASSWORD` variables, Docker secret files, Secret Manager. */
export const DEFAULT_ALLOWED_SECRETS = ['env:*_PASSWORD', 'file:/run/secrets/*', 'gcpsm:*'];
/** Fail closed: a source elsewhere than this machine is named by the operator, not by a plan. */
export const DEFAULT_ALLOWED_HOSTS = ['localhost', '127.0.0.1', '::1'];

/** Environment variables that are the worker's own, whatever the allow-list says. */
const OWN_VARIABLES = ['TEMPORAL_*', 'DBMIG_ALLOWED_*'];
/** Files (and directories) that are the worker's own: the local platform adds its state directory. */
const ownPaths = new Set<string>();

const extraResolvers = new Map<string, SecretResolver>();

/** Lets a platform add a scheme (the gcp platform adds gcpsm:). */
export function registerSecretScheme(scheme: string, resolver: SecretResolver): void {
  extraResolvers.set(scheme, resolver);
}

/** Marks a file or directory as the worker's own: no `file:` reference may name it or anything under it. */
export function protectWorkerPath(path: string): void {
  ownPaths.add(resolve(path));
}

export interface SecretPolicy {
  secrets: string[];
  hosts: string[];
}

function list(value: string | undefined, fallback: string[]): string[] {
  const items = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return value === undefined || !items.length ? fallback : items;
}

/** The allow-lists in force; throws on a malformed entry, so a worker can refuse to start with one. */
export function secretPolicy(env: NodeJS.ProcessEnv = process.env): SecretPolicy {
  const secrets = list(env[ALLOWED_SECRETS_VAR], DEFAULT_ALLOWED_SECRETS);
  const hosts = list(env[ALLOWED_HOSTS_VAR], DEFAULT_ALLOWED_HOSTS);
  for (const s of secrets)
    if (!/^[a-z][a-z0-9]*:./.test(s))
      throw new Error(`${ALLOWED_SECRETS_VAR}: "${s}" is not a pattern like env:NAME_*, file:/dir/* or gcpsm:*`);
  for (const h of hosts) if (h.includes('/')) cidr(h);
  return { secrets, hosts };
}

function glob(pattern: string, value: string, flags = ''): boolean {
  const re = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${re}$`, flags).test(value);
}

function cidr(entry: string): net.BlockList {
  const [address, bits] = entry.split('/');
  const type = net.isIPv6(address) ? 'ipv6' : net.isIPv4(address) ? 'ipv4' : undefined;
  const prefix = Number(bits);
  if (!type || !/^\d+$/.test(bits) || prefix > (type === 'ipv4' ? 32 : 128))
    throw new Error(`${ALLOWED_HOSTS_VAR}: "${entry}" is not a CIDR like 10.0.0.0/8 or fd00::/8`);
  const block = new net.BlockList();
  block.addSubnet(address, prefix, type);
  return block;
}

/**
 * Whether a password may go to `host`: a name or pattern (`*.db.internal`, case-insensitive), an
 * address, or a CIDR. A CIDR matches addresses written as such, not names: a name is resolved
 * again by whoever connects, so what it resolved to here would prove nothing.
 */
export function hostAllowed(host: string, hosts: string[] = secretPolicy().hosts): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  const type = net.isIPv6(h) ? 'ipv6' : net.isIPv4(h) ? 'ipv4' : undefined;
  return hosts.some((entry) => {
    if (entry.includes('/')) return !!type && cidr(entry).check(h, type);
    return glob(entry, h, 'i');
  });
}

/** Refuses a source (or target server) host the worker does not allow, before its password is resolved. */
export function checkSourceHost(host: string, role: 'source' | 'target' = 'source'): void {
  const { hosts } = secretPolicy();
  if (hostAllowed(host, hosts)) return;
  throw new MigrationError(
    'SecretUnavailable',
    `${role} host ${host} is not allowed on this worker, so no password is sent to it: add the host (or a pattern ` +
      `like *.db.internal, or a CIDR for an address) to ${ALLOWED_HOSTS_VAR} on the worker ` +
      `(now: ${hosts.join(',')})`,
  );
}

/** The password of a plan's source: its host is checked first, then its reference is resolved. */
export async function sourcePassword(
  source: { host: string; passwordRef: string },
  ctx: SecretContext = {},
): Promise<string> {
  checkSourceHost(source.host);
  return resolveSecret(source.passwordRef, ctx);
}

/** The password of an existing target server (kind postgres): the same host allow-list as sources. */
export async function targetServerPassword(
  target: { host: string; passwordRef: string },
  ctx: SecretContext = {},
): Promise<string> {
  checkSourceHost(target.host, 'target');
  return resolveSecret(target.passwordRef, ctx);
}

function ownFiles(): string[] {
  const env = process.env;
  return [
    ...ownPaths,
    resolve(env.DBMIG_STATE_DIR ?? '.local-platform'),
    // Anything the kernel makes up per process (environ, memory) or a device.
    '/proc',
    '/sys',
    '/dev',
    join(homedir(), '.config', 'temporalio'),
    ...['TEMPORAL_CONFIG_FILE', 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_CLIENT_CERT_PATH']
      .concat('GOOGLE_APPLICATION_CREDENTIALS')
      .map((v) => env[v])
      .filter((v): v is string => !!v)
      .map((v) => resolve(v)),
  ];
}

function under(path: string, dirs: string[]): boolean {
  return dirs.some((d) => path === d || path.startsWith(d.endsWith(sep) ? d : d + sep));
}

/** Throws unless the policy lets `ref` be resolved; `value` is the env name or (resolved) file path. */
function checkReference(ref: string, scheme: string, value: string, secrets: string[]): void {
  const refused = (why: string) =>
    new MigrationError('SecretUnavailable', `secret ${ref} is refused on this worker: ${why}`);
  if (scheme === 'env' && OWN_VARIABLES.some((p) => glob(p, value)))
    throw refused(
      `${value} is the worker's own configuration, never sent to a source (whatever ${ALLOWED_SECRETS_VAR} says)`,
    );
  if (scheme === 'file' && under(value, ownFiles()))
    throw refused(
      `the file is the worker's own (its state directory, Temporal or cloud credentials, /proc), never sent to a ` +
        `source (whatever ${ALLOWED_SECRETS_VAR} says)`,
    );
  if (!secrets.some((p) => glob(p, `${scheme}:${value}`)))
    throw refused(
      `no pattern of ${ALLOWED_SECRETS_VAR} matches it (now: ${secrets.join(',')}); add one (e.g. ${scheme}:` +
        `${scheme === 'file' ? '/path/to/dir/*' : 'NAME'}) to ${ALLOWED_SECRETS_VAR} on the worker to allow it`,
    );
}

export async function resolveSecret(ref: string, ctx: SecretContext = {}): Promise<string> {
  const colon = ref.indexOf(':');
  const scheme = ref.slice(0, colon);
  const name = ref.slice(colon + 1);
  const { secrets } = secretPolicy();
  if (scheme === 'env') {
    checkReference(ref, scheme, name, secrets);
    const value = process.env[name];
    if (value === undefined)
      throw new MigrationError(
        'SecretUnavailable',
        `secret ${ref}: environment variable ${name} is not set on this worker`,
      );
    return value;
  }
  if (scheme === 'file') {
    // As written (so a refused path's existence is not told), then as it really is (symlinks, ..).
    checkReference(ref, scheme, resolve(name), secrets);
    try {
      const real = await realpath(name);
      checkReference(ref, scheme, real, secrets);
      return (await readFile(real, 'utf8')).replace(/\r?\n$/, '');
    } catch (err) {
      if (err instanceof MigrationError) throw err;
      throw new MigrationError(
        'SecretUnavailable',
        `secret ${ref}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  const extra = extraResolvers.get(scheme);
  if (extra) {
    checkReference(ref, scheme, name, secrets);
    return extra(name, ctx);
  }
  throw new MigrationError('SecretUnavailable', `secret ${ref}: scheme "${scheme}" is not available on this worker`);
}
