// Bundles the browser node: dist/browser/client.js (the tab API, an ES module) and
// dist/browser/worker.js (the SharedWorker), minified with source maps, plus the client's
// type declarations under dist/browser/types for `meshwork/client`; and the demo app, demo/app.js.
// `--outdir=DIR`: only the browser bundles, into DIR instead of dist/browser (the bench builds
// its own copy there: a browser test file rebuilds dist/browser when its sources changed,
// deleting it first, so a bench serving dist/browser while tests run in the same checkout could
// lose its files mid-run).
// `--no-types`: all but the type declarations, which are most of the build's time (tsc: about 6 s
// of CPU of 7, 23 s at load 12); the browser tests build so, at most once per test file (not
// when the bundles there came from the same sources: buildBundles, test/browser/harness.ts), and keep
// dist/browser/types as `npm run build` (npm install) last wrote it: no test reads them but
// test/package/pack.test.ts, which packs the tree npm install built.
// `--no-minify`: readable bundles, for a CPU profile that names our functions (scripts/probes/).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lazyStreams, streamsFromNode } from './streams-build.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const common = {
  absWorkingDir: root,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome110', 'firefox115'],
  minify: !process.argv.includes('--no-minify'),
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
};

/** The tab module's `import('./fast-path.js')` (mesh.ts) and the like (client.ts) stay imports of those files, built apart. */
const lazyExternal = {
  name: 'meshwork-lazy-external',
  setup(b) {
    b.onResolve({ filter: /^\.\/(fast-path|hub-link|leader)\.js$/ }, (a) => (/\/(client|mesh)\.ts$/.test(a.importer) ? { path: a.path, external: true } : undefined));
    // The tab's stream code, loaded by the data plane on the app's first use of streams (stream-tap.ts).
    b.onResolve({ filter: /^\.\/tab-stream-plane\.js$/ }, (a) => (/\/stream-tap\.ts$/.test(a.importer) ? { path: a.path, external: true } : undefined));
  },
};

const outArg = process.argv.find((a) => a.startsWith('--outdir='))?.slice('--outdir='.length);
const outdir = outArg ? resolve(outArg) : `${root}/dist/browser`;
const types = !process.argv.includes('--no-types');

// Start clean: no file of an older build (they used to include content-named chunks) lingers;
// without a build of the declarations, those that are there stay.
if (types) rmSync(outdir, { recursive: true, force: true });
else if (existsSync(outdir)) for (const f of readdirSync(outdir).filter((n) => n !== 'types')) rmSync(`${outdir}/${f}`, { recursive: true, force: true });

// The tab module: one file with no static imports, so a page fetches it in one round trip (a
// module that imports chunks costs a second round before it runs: docs/BENCHMARKS.md, "Time to
// first message"). What it loads only when needed (the data plane, the hub link, the leader-tab
// fallback, which carries a whole node) stays out of it, and each of those is one file too, with
// no shared chunks: a shared chunk holds the union of what its entries use of each module, so
// the data plane, split with the leader fallback, fetched 4 files and 12.6 KB gzipped where on
// its own it is 1 file and 8.7 KB (docs/BENCHMARKS.md, "Bundle size"). Only a page without
// SharedWorker loads two of them (the leader fallback, then the data plane): 1.4 KB more there.
// hub.js is the script of /meshwork/hub.html, the page other origins embed (src/browser/hub.ts).
const LAZY = ['fast-path', 'tab-stream-plane', 'hub-link', 'leader'];
for (const [name, plugins] of [['client', [lazyExternal]], ['hub', []], ...LAZY.map((n) => [n, n === 'leader' ? [lazyStreams] : n === 'fast-path' ? [lazyExternal] : []])]) {
  await build({ ...common, entryPoints: { [name]: `src/browser/${name}.ts` }, outdir, plugins });
}

// Streams, loaded by the node (worker.js or leader.js) only when an app of it uses streams or a
// peer opens one to it (src/browser/lazy-stream-service.ts): one classic script, which the
// SharedWorker runs with importScripts() and a leader tab with import(), built without the
// modules it shares with the node, which hands them over (scripts/streams-build.mjs).
await build({ ...common, format: 'iife', entryPoints: { streams: 'src/browser/streams.ts' }, outdir, plugins: [streamsFromNode] });

// The SharedWorker: one classic script, no imports. A module worker first fetches worker.js,
// then its chunks, and Chromium starts a classic SharedWorker sooner; the worker's start is most
// of connect() (docs/BENCHMARKS.md, "Time to first message"). It repeats the few small modules
// it shares with client.js (about 2 KB gzipped).
await build({
  ...common,
  format: 'iife',
  entryPoints: { worker: 'src/browser/worker.ts' },
  outdir,
  plugins: [lazyStreams],
});

if (outArg) process.exit(0);

// The demo app (demo/src) to demo/app.js, served with the demo page. It imports the tab API
// as 'meshwork/client', which is left out of the bundle and loaded from /meshwork/client.js:
// the page uses the very bundle built above, as any app would.
await build({
  ...common,
  entryPoints: ['demo/src/main.ts'],
  outfile: 'demo/app.js',
  plugins: [{
    name: 'meshwork-client-external',
    setup(b) {
      b.onResolve({ filter: /^meshwork\/client$/ }, () => ({ path: '/meshwork/client.js', external: true }));
    },
  }],
});

if (types) {
  execFileSync(
    process.execPath,
    [
      'node_modules/typescript/bin/tsc', '-p', 'tsconfig.browser.json',
      '--noEmit', 'false', '--declaration', '--emitDeclarationOnly', '--outDir', 'dist/browser/types',
    ],
    { cwd: root, stdio: 'inherit' },
  );
}
