#!/usr/bin/env node
// The `meshwork` command. Runs the compiled CLI (built by `npm install` through `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('meshwork: the compiled CLI is missing (dist/). Run `npm install` (or `npm run build`) in the package first.');
  process.exit(1);
}
await import(entry.href);
