/**
 * Figure 5: bytes a page downloads, minified by esbuild and gzipped (level 9): Meshwork's tab
 * module + SharedWorker, PeerJS's client, and a minimal js-libp2p browser node (WebRTC and
 * WebSocket transports with what they need to dial: Noise, Yamux, circuit relay, identify),
 * all bundled here from npm with the same settings.
 */
import { build, type BuildOptions } from 'esbuild';
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

export async function size(_c: BenchContext): Promise<Record<string, unknown>> {
  const meshwork = await measure({ client: { file: 'src/browser/client.ts' }, worker: { file: 'src/browser/worker.ts' } });
  // What a page would load if the tab module left the leader-tab fallback (which bundles the whole
  // node host: leader.ts imports host.ts) to a chunk imported only where SharedWorker is missing.
  const leaderSplit = await measure(
    { client: { file: 'src/browser/client.ts' }, worker: { file: 'src/browser/worker.ts' } },
    { plugins: [{ name: 'leader-external', setup: (b) => void b.onResolve({ filter: /\/leader\.js$/ }, () => ({ path: '/meshwork/leader.js', external: true })) }] },
  );
  const peerjs = await soft(() => measure({ peerjs: { contents: `export { Peer } from 'peerjs';` } }), 'peerjs');
  const libp2p = await soft(() => measure({ libp2p: { contents: LIBP2P_ENTRY } }), 'libp2p');
  return {
    method: 'esbuild --bundle --minify --format=esm --platform=browser, then gzip -9; sum of every file a page loads',
    bundleGzipBytes: meshwork.gzipBytes,
    bundleMinBytes: meshwork.minBytes,
    meshwork,
    estimateIfLeaderTabSplit: { gzipBytes: leaderSplit.gzipBytes, clientGzipBytes: leaderSplit.files.client!.gzipBytes, note: 'client.ts without the leader-tab node (leader.ts -> host.ts -> core) + worker.js; not shipped, an estimate' },
    peerjs,
    libp2p,
    vsPeerjs: peerjs.gzipBytes ? Math.round((meshwork.gzipBytes / peerjs.gzipBytes) * 1000) / 1000 : null,
    vsLibp2p: libp2p.gzipBytes ? Math.round((meshwork.gzipBytes / libp2p.gzipBytes) * 1000) / 1000 : null,
  };
}
