// The workflow bundle, built once per change of the workflow sources and reused by every test
// file (each file runs in its own process, and bundling costs seconds on 2 cores). The key is
// a hash of everything the bundle is made of: workflows/, common/ and the locked dependencies.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { WorkflowBundle } from '@temporalio/worker';
import { bundleWorkflows } from '../../worker/bundle';

const ROOT = resolve(__dirname, '..', '..');

function sourcesHash(): string {
  const h = createHash('sha256');
  for (const dir of ['workflows', 'common']) {
    for (const f of readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' }).sort()) {
      if (!f.endsWith('.ts')) continue;
      h.update(`${dir}/${f}\0`).update(readFileSync(join(ROOT, dir, f)));
    }
  }
  h.update(readFileSync(join(ROOT, 'package-lock.json')));
  return h.digest('hex').slice(0, 16);
}

let cached: Promise<WorkflowBundle> | undefined;

export function cachedWorkflowBundle(): Promise<WorkflowBundle> {
  cached ??= (async () => {
    const dir = join(ROOT, '.local-platform', 'bundles');
    const file = join(dir, `workflows-${sourcesHash()}.js`);
    if (existsSync(file)) return { code: readFileSync(file, 'utf8') };
    const bundle = await bundleWorkflows();
    mkdirSync(dir, { recursive: true });
    // Write then rename, so a concurrent test file never reads half a bundle.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, bundle.code);
    renameSync(tmp, file);
    return bundle;
  })();
  return cached;
}
