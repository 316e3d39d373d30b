// Where dbmig connects, and why there: --address/--namespace/--profile over Temporal's environment
// configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_PROFILE, then the temporal.toml
// profile), over the defaults, the order the `temporal` CLI uses. Each setting keeps its source,
// so a connection that fails can say what it tried and where each value came from.
import { homedir, platform } from 'node:os';
import { join } from 'node:path';
import { loadClientConfigProfile, loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';

export interface TemporalFlags {
  address?: string;
  namespace?: string;
  profile?: string;
}

export interface Setting {
  value: string;
  /** `--address`, `TEMPORAL_ADDRESS`, `profile "x" in FILE` or `default`. */
  from: string;
}

export interface ResolvedTemporal {
  address: Setting;
  namespace: Setting;
  profile: Setting;
  /** The environment with the flags applied as TEMPORAL_* variables: what envconfig and the worker read. */
  env: Record<string, string>;
  /** Connection options (TLS, API key, metadata included) and namespace, as envconfig builds them. */
  connect: ClientConnectConfig;
}

/** A connection setting that cannot be used (an unknown profile, a broken config file): bad input. */
export class TemporalConfigError extends Error {
  override name = 'TemporalConfigError';
}

export const DEFAULT_ADDRESS = 'localhost:7233';
export const DEFAULT_NAMESPACE = 'default';

/** The config file envconfig reads: TEMPORAL_CONFIG_FILE, else the user's config directory. */
export function configFilePath(env: Record<string, string | undefined>): string {
  if (env.TEMPORAL_CONFIG_FILE) return env.TEMPORAL_CONFIG_FILE;
  const os = platform();
  const dir =
    os === 'win32'
      ? (env.APPDATA ?? '')
      : os === 'darwin'
        ? join(env.HOME ?? homedir(), 'Library', 'Application Support')
        : (env.XDG_CONFIG_HOME ?? join(env.HOME ?? homedir(), '.config'));
  return join(dir, 'temporalio', 'temporal.toml');
}

export function resolveTemporal(flags: TemporalFlags = {}, base: NodeJS.ProcessEnv = process.env): ResolvedTemporal {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  if (flags.address) env.TEMPORAL_ADDRESS = flags.address;
  if (flags.namespace) env.TEMPORAL_NAMESPACE = flags.namespace;
  if (flags.profile) env.TEMPORAL_PROFILE = flags.profile;
  const file = configFilePath(env);
  const profileName = env.TEMPORAL_PROFILE;
  const profile: Setting = flags.profile
    ? { value: flags.profile, from: '--profile' }
    : base.TEMPORAL_PROFILE
      ? { value: base.TEMPORAL_PROFILE, from: 'TEMPORAL_PROFILE' }
      : { value: 'default', from: 'default' };
  let fromFile: { address?: string; namespace?: string };
  let connect: ClientConnectConfig;
  try {
    fromFile = loadClientConfigProfile({ profile: profileName, disableEnv: true, overrideEnvVars: env });
    connect = loadClientConnectConfig({ profile: profileName, overrideEnvVars: env });
  } catch (err) {
    const why = (err as Error).message.replace(/ in config data$/, '');
    throw new TemporalConfigError(
      `Temporal configuration: ${why} (profile "${profile.value}" from ${profile.from}, config file ${file})`,
    );
  }
  const inFile = `profile "${profile.value}" in ${file}`;
  const pick = (flag: string | undefined, flagName: string, envName: string, file: string | undefined, dflt: string) =>
    flag
      ? { value: flag, from: flagName }
      : base[envName]
        ? { value: base[envName]!, from: envName }
        : file
          ? { value: file, from: inFile }
          : { value: dflt, from: 'default' };
  return {
    address: pick(flags.address, '--address', 'TEMPORAL_ADDRESS', fromFile.address, DEFAULT_ADDRESS),
    namespace: pick(flags.namespace, '--namespace', 'TEMPORAL_NAMESPACE', fromFile.namespace, DEFAULT_NAMESPACE),
    profile,
    env,
    connect,
  };
}

/** "address A (from X), namespace N (from Y), profile P (from Z)": never a credential. */
export function describeTarget(t: Pick<ResolvedTemporal, 'address' | 'namespace' | 'profile'>): string {
  return (['address', 'namespace', 'profile'] as const).map((k) => `${k} ${t[k].value} (from ${t[k].from})`).join(', ');
}

/** The connection failed: what was tried, and what fixes it. */
export class ConnectionFailedError extends Error {
  override name = 'ConnectionFailed';
  constructor(target: Pick<ResolvedTemporal, 'address' | 'namespace' | 'profile'>, why: string) {
    super(
      `cannot reach Temporal: ${why}\n` +
        `  tried ${describeTarget(target)}\n` +
        '  fix: start a server (for a local one: `temporal server start-dev`), or point dbmig at yours with\n' +
        '  --address HOST:PORT (or TEMPORAL_ADDRESS, or a temporal.toml profile with --profile)',
    );
  }
}
