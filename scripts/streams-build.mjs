// How the browser node's streams part is built apart (docs/BROWSER.md, "What loads when"); used
// by scripts/build-browser.mjs and bench/size.ts, so that the bench measures what ships.
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const STREAMS_DIR = `${root}src/core/streams/`;
const STUB = `${root}src/browser/lazy-stream-service.ts`;
const HOST_STREAMS = `${root}src/browser/host-streams.ts`;

/**
 * For worker.js and leader.js: core/streams/service.ts becomes src/browser/lazy-stream-service.ts,
 * which loads streams.js on first use, and its `import('./streams.js')` stays an import.
 */
export const lazyStreams = {
  name: 'meshwork-lazy-streams',
  setup(b) {
    b.onResolve({ filter: /(^|\/)streams\/service\.js$/ }, (a) => (a.importer.startsWith(STREAMS_DIR) || a.importer === STUB ? undefined : { path: STUB }));
    b.onResolve({ filter: /^\.\/streams\.js$/ }, (a) => (a.importer === STUB ? { path: a.path, external: true } : undefined));
  },
};

/**
 * What streams.js takes from the node, by name (lazy-stream-service.ts hands them over, typed
 * against SharedName in streams-build.d.mts): an import the part adds from outside core/streams
 * fails the build until it is listed here.
 */
export const SHARED_NAMES = [
  'encode', 'encodeInto', 'appId', 'appKey', 'checkApp', 'isAppId', 'decodeCbor', 'isBytes', 'isString', 'isUint', 'BoundedMap',
  'isMeshError', 'MeshError', 'idFromText', 'checkPort', 'safeCall', 'MAX_PORT', 'TAB_CREDIT_BYTES',
];

/**
 * For streams.js: what core/streams and host-streams.ts import from outside them (the codec,
 * errors, ids, app names, a protocol constant, cborg) is not bundled again but read from the object the node hands over
 * (lazy-stream-service.ts, DEPS), so both use one MeshError and one codec.
 */
export const streamsFromNode = {
  name: 'meshwork-streams-from-node',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (a) => {
      if (!a.importer.startsWith(STREAMS_DIR) && a.importer !== HOST_STREAMS) return undefined;
      if (a.path === 'cborg' || a.path.startsWith('../') || a.path === './protocol.js') return { path: 'deps', namespace: 'meshwork-node' };
      return undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'meshwork-node' }, () => ({
      contents: `const d = globalThis.__meshworkStreams.deps;\nexport const { ${SHARED_NAMES.join(', ')} } = d;`,
      loader: 'js',
    }));
  },
};
