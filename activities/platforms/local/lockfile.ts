// A lock file shared by every worker process on this machine; a lock whose owner died is taken over.
import { open, readFile, rm } from 'node:fs/promises';

export async function acquireLock(path: string): Promise<() => Promise<void>> {
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => rm(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(await readFile(path, 'utf8').catch(() => '0'));
      if (!owner || !processAlive(owner)) {
        await rm(path, { force: true });
        continue;
      }
      if (attempt > 600) throw new Error(`cluster lock ${path} held by pid ${owner} for over a minute`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
