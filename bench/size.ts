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
import { lazyStreams, streamsFromNode } from '../scripts/streams-build.mjs';

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

/** What the tab module (client.ts, mesh.ts) loads with `import()` only when needed (as in scripts/build-browser.mjs). */
const LAZY = ['fast-path', 'tab-stream-plane', 'hub-link', 'leader'];
/** What the node (worker.js or leader.js) loads only when needed: streams (lazy-stream-service.ts). */
const NODE_LAZY = ['streams'];
/** The tab module's dynamic imports of those stay imports. */
const LAZY_EXTERNAL: Plugin = {
  name: 'lazy-external',
  setup(b) {
    b.onResolve({ filter: /^\.\/(fast-path|hub-link|leader)\.js$/ }, (a) => (/\/(client|mesh)\.ts$/.test(a.importer) ? { path: a.path, external: true } : undefined));
    // The data plane's stream code, loaded on the app's first use of streams (stream-tap.ts).
    b.onResolve({ filter: /^\.\/tab-stream-plane\.js$/ }, (a) => (/\/stream-tap\.ts$/.test(a.importer) ? { path: a.path, external: true } : undefined));
  },
};

/** What a page loads after boot, only when it needs it: each entry with the chunks it imports. */
interface Later { gzipBytes: number; minBytes: number; files: string[] }

/**
 * Meshwork as shipped (scripts/build-browser.mjs): client.js one module with no static imports,
 * worker.js one classic script; a page with SharedWorker loads both, and that sum (with any
 * chunk either imports statically) is `bundleGzipBytes`. What client.js imports only when needed
 * is built as shipped (one file each) and reported apart, each with any chunk it imports: the
 * data plane (`fast-path`, which every tab that hosts a WebRTC link loads once the node grants
 * it a link's key), the hub link (pages with `connect({ hub })`), and the leader-tab fallback
 * (`leader`, only where SharedWorker is missing; also `leaderFallbackGzipBytes`, as before).
 * And what the node loads only when needed: streams (`streams`, once an app of the node uses
 * streams or a peer opens one to it), built like worker.js without the modules it takes from it.
 */
async function measureMeshwork(): Promise<Measured & { leaderFallbackGzipBytes: number; later: Record<string, Later> }> {
  const r = await build({ ...COMMON, entryPoints: { client: 'src/browser/client.ts' }, outdir: 'out', plugins: [LAZY_EXTERNAL], metafile: true });
  const w = await build({ ...COMMON, format: 'iife', entryPoints: { worker: 'src/browser/worker.ts' }, outdir: 'out', metafile: true, plugins: [lazyStreams] });
  const lazy = await Promise.all(LAZY.map((name) => build({ ...COMMON, entryPoints: { [name]: `src/browser/${name}.ts` }, outdir: 'out', metafile: true, plugins: name === 'leader' ? [lazyStreams] : name === 'fast-path' ? [LAZY_EXTERNAL] : [] })));
  const s = await build({ ...COMMON, format: 'iife', entryPoints: { streams: 'src/browser/streams.ts' }, outdir: 'out', metafile: true, plugins: [streamsFromNode] });
  for (const x of [w, ...lazy, s]) {
    Object.assign(r.metafile!.outputs, x.metafile!.outputs);
    r.outputFiles!.push(...x.outputFiles!);
  }
  const outputs = r.metafile!.outputs;
  const js = new Map(r.outputFiles!.filter((f) => f.path.endsWith('.js')).map((f) => [f.path.slice(f.path.lastIndexOf('/out/') + 1), f.contents]));
  const gz = (path: string) => gzipSync(js.get(path)!, { level: 9 }).length;
  /** An output and every file it imports statically, transitively. */
  const closure = (entry: string, into = new Set<string>()) => {
    if (into.has(entry)) return into;
    into.add(entry);
    for (const i of outputs[entry]?.imports ?? []) if (i.kind === 'import-statement') closure(i.path, into);
    return into;
  };
  const loaded = closure('out/worker.js', closure('out/client.js'));
  const files: Measured['files'] = {};
  for (const path of loaded) files[path.slice(4)] = { minBytes: js.get(path)!.length, gzipBytes: gz(path) };
  const later: Record<string, Later> = {};
  for (const name of [...LAZY, ...NODE_LAZY]) {
    const paths = [...closure(`out/${name}.js`)];
    later[name] = { gzipBytes: paths.reduce((n, p) => n + gz(p), 0), minBytes: paths.reduce((n, p) => n + js.get(p)!.length, 0), files: paths.map((p) => p.slice(4)) };
  }
  const sum = (k: 'minBytes' | 'gzipBytes') => Object.values(files).reduce((s, f) => s + f[k], 0);
  return { files, minBytes: sum('minBytes'), gzipBytes: sum('gzipBytes'), leaderFallbackGzipBytes: later.leader!.gzipBytes, later };
}

export async function size(_c: BenchContext): Promise<Record<string, unknown>> {
  const meshwork = await measureMeshwork();
  const peerjs = await soft(() => measure({ peerjs: { contents: `export { Peer } from 'peerjs';` } }), 'peerjs');
  const libp2p = await soft(() => measure({ libp2p: { contents: LIBP2P_ENTRY } }), 'libp2p');
  return {
    method: 'esbuild --bundle --minify --format=esm --platform=browser, then gzip -9; sum of every file a page loads at boot',
    bundleGzipBytes: meshwork.gzipBytes,
    bundleMinBytes: meshwork.minBytes,
    /** Loaded later, only when needed (not in bundleGzipBytes): each lazy entry with its chunks. */
    dataPlaneGzipBytes: meshwork.later['fast-path']!.gzipBytes,
    /** The data plane's stream code (tab-stream-plane.js), loaded on an app's first use of streams. */
    tabStreamsGzipBytes: meshwork.later['tab-stream-plane']!.gzipBytes,
    hubLinkGzipBytes: meshwork.later['hub-link']!.gzipBytes,
    streamsGzipBytes: meshwork.later.streams!.gzipBytes,
    meshwork,
    peerjs,
    libp2p,
    vsPeerjs: peerjs.gzipBytes ? Math.round((meshwork.gzipBytes / peerjs.gzipBytes) * 1000) / 1000 : null,
    vsLibp2p: libp2p.gzipBytes ? Math.round((meshwork.gzipBytes / libp2p.gzipBytes) * 1000) / 1000 : null,
  };
}
