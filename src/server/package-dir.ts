/**
 * Where this package is installed, found by walking up from this module to the package.json
 * named "meshwork". The same answer whether the code runs from dist/ or, under tsx, from src/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function packageDir(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && readName(manifest) === 'meshwork') return (cached = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the meshwork package directory');
    dir = up;
  }
}

function readName(manifest: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name;
  } catch {
    return undefined;
  }
}

/** The browser bundle, built by the browser build into dist/browser/. */
export function browserBundleDir(): string {
  return join(packageDir(), 'dist', 'browser');
}

/** The demo app that `meshwork serve` shows at `/`: demo/ with its built app.js, or undefined when not built. */
export function builtDemoDir(): string | undefined {
  const dir = join(packageDir(), 'demo');
  return existsSync(join(dir, 'index.html')) && existsSync(join(dir, 'app.js')) ? dir : undefined;
}
