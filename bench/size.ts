/**
 * Figure 5: bytes a page downloads, minified by esbuild and gzipped (level 9): Meshwork's tab
 * module + SharedWorker, PeerJS's client, and a minimal js-libp2p browser node (WebRTC and
 * WebSocket transports with what they need to dial: Noise, Yamux, circuit relay, identify),
 * all bundled here from npm with the same settings.
 */
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { BenchContext } from './run.js';
import { errorText, ROOT } from './lib.js';

const COMMON: BuildOptions = {
  absWorkingDir: ROOT,
  bundle: true,
  write: false,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome110', 'firefox115'],
  minify: true,
  legalComments: 'none',
  logLevel: 'silent',
};

export const LIBP2P_ENTRY = `
import { createLibp2p } from 'libp2p';
import { webRTC } from '@libp2p/webrtc';
import { webSockets } from '@libp2p/websockets';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { identify } from '@libp2p/identify';
export function start() {
  return createLibp2p({
    addresses: { listen: ['/p2p-circuit', '/webrtc'] },
    transports: [webSockets(), webRTC(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  });
}
`;

interface Measured { files: Record<string, { minBytes: number; gzipBytes: number }>; minBytes: number; gzipBytes: number; version?: string }

async function measure(entries: Record<string, { file?: string; contents?: string }>, extra: Partial<BuildOptions> = {}): Promise<Measured> {
  const files: Measured['files'] = {};
  for (const [name, e] of Object.entries(entries)) {
    const r = await build({
      ...COMMON,
      ...extra,
      ...(e.file ? { entryPoints: [e.file], outfile: `out/${name}.js` } : { stdin: { contents: e.contents!, resolveDir: ROOT, loader: 'js' }, outfile: `out/${name}.js` }),
    });
    const js = r.outputFiles!.find((f) => f.path.endsWith('.js'))!.contents;
    files[name] = { minBytes: js.length, gzipBytes: gzipSync(js, { level: 9 }).length };
  }
  const sum = (k: 'minBytes' | 'gzipBytes') => Object.values(files).reduce((s, f) => s + f[k], 0);
  return { files, minBytes: sum('minBytes'), gzipBytes: sum('gzipBytes') };
}

function version(pkg: string): string | undefined {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

async function soft(what: () => Promise<Measured>, pkg: string): Promise<Measured | { gzipBytes: null; reason: string }> {
  try {
    return { ...(await what()), version: version(pkg) };
  } catch (err) {
    return { gzipBytes: null, reason: errorText(err) };
  }
}

/** client.ts's dynamic imports of the parts it loads only when needed stay imports (as in scripts/build-browser.mjs). */
const LAZY_EXTERNAL: Plugin = {
  name: 'lazy-external',
  setup(b) {
    b.onResolve({ filter: /^\.\/(fast-path|hub-link|leader)\.js$/ }, (a) => (a.importer.endsWith('client.ts') ? { path: a.path, external: true } : undefined));
  },
};

/**
 * Meshwork as shipped (scripts/build-browser.mjs): client.js one module with no static imports,
 * worker.js one classic script; a page with SharedWorker loads both. The leader-tab fallback
 * (leader.js and its chunks, built with the hub page's script and the data plane), loaded only
 * where SharedWorker is missing, is reported apart.
 */
async function measureMeshwork(): Promise<Measured & { leaderFallbackGzipBytes: number }> {
  const r = await build({ ...COMMON, entryPoints: { client: 'src/browser/client.ts' }, outdir: 'out', plugins: [LAZY_EXTERNAL], metafile: true });
  const w = await build({ ...COMMON, format: 'iife', entryPoints: { worker: 'src/browser/worker.ts' }, outdir: 'out', metafile: true });
  const l = await build({ ...COMMON, entryPoints: { leader: 'src/browser/leader.ts' }, outdir: 'out', splitting: true, chunkNames: 'chunk-[hash]', metafile: true });
  for (const x of [w, l]) {
    Object.assign(r.metafile!.outputs, x.metafile!.outputs);
    r.outputFiles!.push(...x.outputFiles!);
  }
  const outputs = r.metafile!.outputs;
  const gz = new Map(r.outputFiles!.filter((f) => f.path.endsWith('.js')).map((f) => [f.path.slice(f.path.lastIndexOf('/out/') + 1), f.contents]));
  const loaded = new Set<string>();
  const visit = (path: string) => {
    if (loaded.has(path)) return;
    loaded.add(path);
    for (const i of outputs[path]?.imports ?? []) if (i.kind === 'import-statement') visit(i.path);
  };
  visit('out/client.js');
  visit('out/worker.js');
  const files: Measured['files'] = {};
  for (const path of loaded) {
    const js = gz.get(path)!;
    files[path.slice(4)] = { minBytes: js.length, gzipBytes: gzipSync(js, { level: 9 }).length };
  }
  let leaderFallbackGzipBytes = 0;
  for (const [path, js] of gz) if (!loaded.has(path)) leaderFallbackGzipBytes += gzipSync(js, { level: 9 }).length;
  const sum = (k: 'minBytes' | 'gzipBytes') => Object.values(files).reduce((s, f) => s + f[k], 0);
  return { files, minBytes: sum('minBytes'), gzipBytes: sum('gzipBytes'), leaderFallbackGzipBytes };
}

export async function size(_c: BenchContext): Promise<Record<string, unknown>> {
  const meshwork = await measureMeshwork();
  const peerjs = await soft(() => measure({ peerjs: { contents: `export { Peer } from 'peerjs';` } }), 'peerjs');
  const libp2p = await soft(() => measure({ libp2p: { contents: LIBP2P_ENTRY } }), 'libp2p');
  return {
    method: 'esbuild --bundle --minify --format=esm --platform=browser, then gzip -9; sum of every file a page loads',
    bundleGzipBytes: meshwork.gzipBytes,
    bundleMinBytes: meshwork.minBytes,
    meshwork,
    peerjs,
    libp2p,
    vsPeerjs: peerjs.gzipBytes ? Math.round((meshwork.gzipBytes / peerjs.gzipBytes) * 1000) / 1000 : null,
    vsLibp2p: libp2p.gzipBytes ? Math.round((meshwork.gzipBytes / libp2p.gzipBytes) * 1000) / 1000 : null,
  };
}
