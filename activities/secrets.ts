// Plans carry references, never secrets; the value is resolved here, at run time, and is
// never logged, returned or put in an error message.
import { readFile } from 'node:fs/promises';
import { MigrationError } from './platforms/platform';

export type SecretResolver = (name: string, ctx: SecretContext) => Promise<string>;

export interface SecretContext {
  /** The plan's Google Cloud project, for short Secret Manager names. */
  project?: string;
}

const extraResolvers = new Map<string, SecretResolver>();

/** Lets a platform add a scheme (the gcp platform adds gcpsm:). */
export function registerSecretScheme(scheme: string, resolver: SecretResolver): void {
  extraResolvers.set(scheme, resolver);
}

export async function resolveSecret(ref: string, ctx: SecretContext = {}): Promise<string> {
  const colon = ref.indexOf(':');
  const scheme = ref.slice(0, colon);
  const name = ref.slice(colon + 1);
  if (scheme === 'env') {
    const value = process.env[name];
    if (value === undefined)
      throw new MigrationError(
        'SecretUnavailable',
        `secret ${ref}: environment variable ${name} is not set on this worker`,
      );
    return value;
  }
  if (scheme === 'file') {
    try {
      return (await readFile(name, 'utf8')).replace(/\r?\n$/, '');
    } catch (err) {
      throw new MigrationError(
        'SecretUnavailable',
        `secret ${ref}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  const extra = extraResolvers.get(scheme);
  if (extra) return extra(name, ctx);
  throw new MigrationError('SecretUnavailable', `secret ${ref}: scheme "${scheme}" is not available on this worker`);
}
