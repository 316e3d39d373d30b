// The layout's import rules (eslint.config.mjs, docs/architecture.md "Layout") refuse what they are
// meant to: engines use no platform, no platform imports another, one engine does not import the
// other, and what is allowed stays allowed. Linted as text at the paths the code would have, with
// type-aware rules off (the snippets are not in the TypeScript project).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';

const eslint = new ESLint({
  cwd: `${__dirname}/..`,
  overrideConfig: [{ files: ['**/*.ts'], ...tseslint.configs.disableTypeChecked }],
});

async function refusals(filePath: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath });
  return r.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

const refused: [string, string, RegExp][] = [
  [
    'activities/engines/postgres/x.ts',
    "import { LocalClusters } from '../../platforms/local/clusters';\nexport const a = LocalClusters;\n",
    /engines use no platform/,
  ],
  [
    'activities/engines/postgres/x.ts',
    [
      "import type { MigrationPlatform } from '../../platforms/platform';\n",
      'export type A = MigrationPlatform;\n',
    ].join(''),
    /engines use no platform/,
  ],
  [
    'activities/engines/write-block.ts',
    "import { gcpNames } from '../platforms/gcp/names';\nexport const a = gcpNames;\n",
    /engines use no platform/,
  ],
  [
    'activities/engines/mysql/x.ts',
    "import { connect } from '../postgres/sessions';\nexport const a = connect;\n",
    /one engine does not import another/,
  ],
  [
    'activities/engines/postgres/x.ts',
    "import { withMysql } from '../mysql/sessions';\nexport const a = withMysql;\n",
    /one engine does not import another/,
  ],
  [
    'activities/platforms/gcp/cutover/x.ts',
    "import { LocalClusters } from '../../local/clusters';\nexport const a = LocalClusters;\n",
    /the gcp platform does not import the local platform/,
  ],
  [
    'activities/platforms/local/x.ts',
    "import type { Counts } from '../sim/world';\nexport type A = Counts;\n",
    /the local platform does not import the sim platform/,
  ],
  [
    'activities/platforms/sim/x.ts',
    "import { gcpNames } from '../gcp/names';\nexport const a = gcpNames;\n",
    /the sim platform does not import the gcp platform/,
  ],
  [
    'activities/engines/postgres/x.ts',
    "import { google } from 'googleapis';\nexport const a = google;\n",
    /only activities\/platforms\/gcp knows Google Cloud/,
  ],
];

for (const [path, code, why] of refused) {
  test(`refused: ${path} ${code.split('\n')[0]}`, async () => {
    const found = await refusals(path, code);
    assert.equal(found.length, 1, found.join('\n'));
    assert.match(found[0], why);
  });
}

const allowed: [string, string][] = [
  [
    'activities/platforms/gcp/cutover/x.ts',
    [
      "import { withClient } from '../../../engines/postgres/sessions';\n",
      "import { withMysql } from '../../../engines/mysql/sessions';\n",
      'export const a = [withClient, withMysql];\n',
    ].join(''),
  ],
  [
    'activities/platforms/local/x.ts',
    [
      "import { runCutover } from '../../engines/postgres/cutover';\n",
      "import type { MigrationPlatform } from '../platform';\n",
      'export const a = runCutover;\n',
      'export type B = MigrationPlatform;\n',
    ].join(''),
  ],
  [
    'activities/engines/mysql/x.ts',
    [
      "import type { ServerAddress } from '../server-address';\n",
      "import type { Finding } from '../../steps';\n",
      'export type A = [ServerAddress, Finding];\n',
    ].join(''),
  ],
  ['workflows/x.ts', "import type { CutoverResult } from '../activities/steps';\nexport type A = CutoverResult;\n"],
];

for (const [path, code] of allowed) {
  test(`allowed: ${path} ${code.split('\n')[0]}`, async () => {
    assert.deepEqual(await refusals(path, code), []);
  });
}
