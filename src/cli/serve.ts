/** `meshwork serve`: runs a server node until SIGINT/SIGTERM, logging links as they come and go. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { MeshError } from '../core/errors.js';
import { shortId } from '../core/id.js';
import { startNode, type ServerNode } from '../server/index.js';
import { builtDemoDir } from '../server/package-dir.js';
import { collect, parseInteger } from './options.js';

interface ServeOptions {
  port: number;
  host: string;
  peer: string[];
  dataDir?: string;
  static?: string;
  demo: boolean;
  compress: boolean;
  allowOrigin: string[];
  allowAppOrigin: string[];
  linkBudget: number;
  publicUrl?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  encryption: boolean;
  requireEncryption?: boolean;
  powBits: number;
  stun: boolean;
  iceServer: string[];
  turnSecret?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run a server node: the mesh WebSocket endpoint at /mesh, its status at /meshwork/status, the demo (or your files) at /')
    .option('--port <n>', 'TCP port for HTTP and the mesh endpoint (0 picks a free one)', parseInteger('--port', 0, 65535), 8080)
    .option('--host <addr>', 'interface to listen on (0.0.0.0 for every interface)', '127.0.0.1')
    .option('--peer <url>', 'ws:// or wss:// URL of a server to join through; repeatable; needed only on the first start', collect, [])
    .option('--data-dir <dir>', 'keep the identity key and peer memory in this directory (without it, both are lost on stop)')
    .option('--static <dir>', 'serve this directory at / instead of the demo')
    .option('--no-demo', 'serve a plain status page at / instead of the demo')
    .option('--no-compress', 'send files as they are, not in brotli or gzip (where a proxy in front compresses)')
    .option('--allow-origin <origin>', 'browser origin allowed to join, e.g. https://example.com; repeatable (default: any)', collect, [])
    .option('--allow-app-origin <origin>', 'app origin allowed to embed the hub (/meshwork/hub.html) and share the browser node; repeatable; \'*\' for any origin (default: none but this server\'s own)', collect, [])
    .option('--link-budget <n>', 'most links kept at once', parseInteger('--link-budget', 2, 100_000), 256)
    .option('--pow-bits <n>', 'proof of work asked of every peer key (and made for a new identity of ours); all nodes of a mesh must agree', parseInteger('--pow-bits', 0, 32), 0)
    .option('--public-url <url>', 'ws:// or wss:// URL other nodes should dial to reach this one (behind a proxy, or with --host 0.0.0.0)')
    .option('--no-stun', 'do not answer STUN on UDP at the HTTP port number (browsers then need ICE servers from elsewhere)')
    .option('--ice-server <url>', 'stun:, turn: or turns: URL handed to browser nodes over the mesh; repeatable (TURN needs --turn-secret)', collect, [])
    .option('--turn-secret <secret>', "TURN REST shared secret (coturn's static-auth-secret); browsers get short-lived TURN credentials made from it")
    .option('--tls-cert <file>', 'serve https:// and wss:// on the port with this certificate (PEM, chain included); needs --tls-key')
    .option('--tls-key <file>', 'the private key (PEM) of --tls-cert')
    .option('--tls-ca <file>', 'also trust the authorities in this PEM file when dialling wss:// peers')
    .option('--no-encryption', 'send datagrams, requests and replies in the clear (end-to-end encryption is on by default)')
    .option('--require-encryption', 'never send or accept datagrams, requests or replies in the clear')
    // Mistakes in options are one line, prefixed like every other error of this command.
    .showHelpAfterError(false)
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'meshwork: ')) })
    .action((o: ServeOptions) => serve(o));
}

async function serve(o: ServeOptions): Promise<void> {
  const page = pageDir(o);
  const tls = await readTls(o);
  const node = await startNode({
    port: o.port,
    host: o.host,
    peers: o.peer,
    dataDir: o.dataDir,
    static: page,
    compress: o.compress,
    allowOrigins: o.allowOrigin.length > 0 ? o.allowOrigin : undefined,
    allowAppOrigins: o.allowAppOrigin.length > 0 ? o.allowAppOrigin : undefined,
    linkBudget: o.linkBudget,
    publicUrl: o.publicUrl,
    ...tls,
    encryption: o.encryption,
    requireEncryption: o.requireEncryption,
    powBits: o.powBits,
    stun: o.stun,
    iceServers: o.iceServer,
    turnSecret: o.turnSecret ?? process.env.MESHWORK_TURN_SECRET,
    onWarning: (m) => log(`warning: ${m}`),
  });
  const status = node.status();
  console.log(`meshwork: node ${node.id}`);
  console.log(`meshwork: url ${node.url}`);
  console.log(`meshwork: http ${node.url!.replace(/^ws/, 'http').replace(/\/mesh$/, '/')}`);
  console.log(`meshwork: page ${page === undefined ? 'status page' : page === o.static ? `static ${o.static}` : 'demo'} at /`);
  console.log(`meshwork: stun ${status.stun ? `udp ${status.stun.port}` : 'off'}`);
  console.log(`meshwork: data ${status.dataDir ?? 'in memory only (pass --data-dir to keep identity and peers)'}; ${status.knownPeers} known peers`);
  if ((o.host === '0.0.0.0' || o.host === '::') && !o.publicUrl) log(`note: other machines cannot dial ${node.url}; pass --public-url`);
  const links = () => node.mesh.linkIds().length;
  node.events.on('link-up', (e) => log(`link up   ${shortId(e.id)} ${e.transport} ${e.outbound ? 'out' : 'in'} (${links()} links)`));
  node.events.on('link-down', (e) => log(`link down ${shortId(e.id)} ${e.transport}: ${e.reason} (${links()} links)`));
  logRefusals(node);
  await untilSignal(node);
}

/** At the link budget every newcomer is refused (counted as handshake:BUSY): say so, at most once a minute. */
function logRefusals(node: ServerNode): void {
  let seen = 0;
  const check = () => {
    const s = node.status();
    const now = s.counters.dropped['handshake:BUSY'] ?? 0;
    if (now > seen) log(`full: refused ${now - seen} newcomer${now - seen === 1 ? '' : 's'} in the last minute (link budget of ${s.linkBudget} is full); raise --link-budget or add a server`);
    seen = now;
  };
  setInterval(check, 60_000).unref();
}

/** What / serves: --static DIR, else the demo unless --no-demo (undefined: the built-in status page). */
function pageDir(o: ServeOptions): string | undefined {
  if (o.static !== undefined) {
    if (!o.demo) throw MeshError.invalid('--static and --no-demo cannot be used together: --static already replaces the demo');
    return o.static;
  }
  if (!o.demo) return undefined;
  const demo = builtDemoDir();
  if (!demo) log('warning: the demo is not built (run npm run build in the package); serving the status page at /');
  return demo;
}

/** Reads the --tls-* files; a missing half or an unreadable file is one clear line. */
async function readTls(o: ServeOptions): Promise<{ tls?: { cert: string; key: string }; ca?: string }> {
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw MeshError.invalid('--tls-cert and --tls-key go together: give both or neither');
  const read = (flag: string, file: string) =>
    readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw MeshError.invalid(`cannot read ${flag} ${file}: ${err.code ?? err.message}`);
    });
  return {
    tls: o.tlsCert !== undefined && o.tlsKey !== undefined ? { cert: await read('--tls-cert', o.tlsCert), key: await read('--tls-key', o.tlsKey) } : undefined,
    ca: o.tlsCa === undefined ? undefined : await read('--tls-ca', o.tlsCa),
  };
}

/** Resolves after a clean stop on the first SIGINT/SIGTERM; a second signal exits at once. */
function untilSignal(node: ServerNode): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      log(`${signal}: stopping, saving peer memory`);
      node.stop().then(
        () => {
          log('stopped');
          resolve();
          // Stopping closed every socket and timer we own; exit now rather than trust that.
          process.exit(0);
        },
        (err: unknown) => {
          log(`stop failed: ${err instanceof Error ? err.message : String(err)}`);
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

function log(line: string): void {
  console.log(`${new Date().toISOString()} ${line}`);
}
