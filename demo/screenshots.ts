// `npm run screenshots`: runs the demo with manual approval, waits until databases await a
// human, and has headless Chromium (Debian's, driven by playwright-core) photograph the Temporal
// UI: the list filtered on MigrationState="AWAITING_APPROVAL", a waiting child's details and
// history, and the fleet's details. Then it approves everything so the demo finishes.
// Needs: apt-get install chromium.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { approveCutover, getStatus } from '../client/client';
import { statusTable } from '../cli/format';

const ROOT = join(__dirname, '..');
const UI = 'http://localhost:8233';
const OUT = join(ROOT, 'docs');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

const browserArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Opens `url`, optionally clicks a tab, waits for `text`, and saves a screenshot. */
async function shoot(browser: Browser, url: string, file: string, text: string, tab?: string): Promise<void> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  try {
    await page.goto(url, { waitUntil: 'domcontentloaded' });
    if (tab) await page.getByText(tab, { exact: true }).first().click({ timeout: 30_000 });
    await page.getByText(text).first().waitFor({ timeout: 30_000 });
    await page.waitForTimeout(1500); // let late panels render
    await page.screenshot({ path: file });
    console.log(`saved ${file}`);
  } finally {
    await page.close();
  }
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const demo = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'demo', 'run.ts'), '--manual'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let id: string | undefined;
  demo.stdout!.on('data', (d: Buffer) => {
    process.stdout.write(d);
    id ??= /started migration (\S+)/.exec(d.toString())?.[1];
  });
  try {
    const connection = await retry(() => Connection.connect({ address: 'localhost:7233' }));
    const client = new Client({ connection });
    const waiting = await retry(async () => {
      if (!id) throw new Error('no migration yet');
      const s = await getStatus(client, id);
      const w = s.databases.filter((d) => d.state === 'AWAITING_APPROVAL');
      if (w.length < 2) throw new Error('not waiting yet');
      return w;
    }, 180);
    const child = waiting[0].childWorkflowId;
    const runId = (await client.workflow.getHandle(child).describe()).runId;
    console.log(`\n$ dbmig status ${id}\n${statusTable(await getStatus(client, id!))}\n`);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: browserArgs });
    try {
      const workflows = `${UI}/namespaces/default/workflows`;
      await shoot(
        browser,
        `${workflows}?query=${encodeURIComponent('MigrationState="AWAITING_APPROVAL"')}`,
        join(OUT, 'ui-awaiting-approval.png'),
        child,
      );
      await shoot(
        browser,
        `${workflows}/${encodeURIComponent(child)}/${runId}/history`,
        join(OUT, 'ui-child-awaiting-approval.png'),
        'Current Details',
        'User Metadata',
      );
      await shoot(
        browser,
        `${workflows}/${encodeURIComponent(child)}/${runId}/history`,
        join(OUT, 'ui-child-history.png'),
        'compare row counts',
      );
      const parentRun = (await client.workflow.getHandle(id!).describe()).runId;
      await shoot(
        browser,
        `${workflows}/${encodeURIComponent(id!)}/${parentRun}/history`,
        join(OUT, 'ui-fleet.png'),
        'Current Details',
        'User Metadata',
      );
    } finally {
      await browser.close();
    }
    for (;;) {
      const s = await getStatus(client, id!);
      for (const d of s.databases.filter((x) => x.state === 'AWAITING_APPROVAL'))
        await approveCutover(client, id!, d.database, 'screenshots').catch(() => undefined);
      if (s.databases.every((d) => d.state === 'COMPLETED')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await connection.close();
  } finally {
    demo.kill('SIGINT');
    await new Promise((r) => demo.once('exit', r));
  }
}

async function retry<T>(fn: () => Promise<T>, seconds = 60): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= seconds) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
