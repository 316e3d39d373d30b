#!/usr/bin/env node
// Runs the compiled CLI after `npm run build`, the TypeScript sources (through tsx) otherwise.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const built = join(__dirname, '..', 'dist', 'cli', 'main.js');
if (existsSync(built)) {
  require(built).runCli();
} else {
  require('tsx/cjs/api').register();
  require('../cli/main').runCli();
}
