/**
 * A Meshwork node for Node.js: a core MeshNode with WebSocket dialling, and, given a port, an
 * HTTP server carrying the mesh endpoint, the status and static files. This is the public
 * Node API (`startNode`); the CLI's `meshwork serve` is a thin wrapper around it.
 */
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { ReadableStream, WritableStream } from 'node:stream/web';
import { resolve } from 'node:path';
import { MeshError } from '../core/errors.js';
import { generateWithWork } from '../core/pow.js';
import { MeshNode, type Message, type NodeStatus, type TopicMessage } from '../core/node.js';
import { ICE_CONFIG_ASK, ICE_CONFIG_PORT } from '../core/ice-protocol.js';
import { reachabilityCaps } from '../core/reachability.js';
import type { AppData } from '../core/payloads.js';
import { NodeWebSocketDialer } from '../transports/websocket-node.js';
import { openDataDir, type DataDir } from './data-dir.js';
import { createRequestHandler } from './http-routes.js';
import { iceConfigFor, stunUrlFor } from './ice-config.js';
import { closeServer } from './listen.js';
import { attachMeshEndpoint, type MeshEndpoint } from './mesh-endpoint.js';
import { listenWithStun, type StunServer } from './stun-server.js';
import { checkOptions, DEFAULT_HOST, DEFAULT_LINK_BUDGET, listenerUrl, type StartNodeOptions } from './options.js';

export type Data = string | Uint8Array;

/** A stream to or from another node (docs/STREAMS.md): ordered, reliable, flow-controlled end to end. */
export interface MeshStream {
  /** The other end's node id. */
  readonly remote: string;
  readonly port: number;
  /** The app (namespace) the stream was opened to: '' for the default app. */
  readonly app: string;
  /** What the other end writes; errors with MeshError ABORTED, REFUSED or TIMEOUT when the stream fails. */
  readonly readable: ReadableStream<Uint8Array>;
  /** What this end sends; closing it ends this direction only (half-close). */
  readonly writable: WritableStream<Uint8Array>;
  /** Closes the writable (when no writer holds it); resolves once the other end acknowledged everything. */
  close(): Promise<void>;
  /** Ends both directions now; the other end sees MeshError ABORTED with `reason`. */
  abort(reason?: string): void;
}

export interface ServerStatus extends NodeStatus {
  url: string | undefined;
  startedAt: string;
  uptimeMs: number;
  /** Open WebSocket connections on the endpoint, including ones still in their handshake. */
  connections: number;
  /** Absolute path of the data dir; undefined when memory is kept in memory only. */
  dataDir: string | undefined;
  /** The STUN responder on UDP at the HTTP port number; undefined when off (`stun: false`) or not listening. */
  stun: { port: number; answered: number } | undefined;
  /** Proof of work this node asks of every key (browsers read it here to make theirs). */
  powBits: number;
}

/** Starts a node; resolves once it listens (when given a port) and has begun dialling its peers. */
export async function startNode(options: StartNodeOptions = {}): Promise<ServerNode> {
  const { origins, appOrigins } = await checkOptions(options);
  const linkBudget = options.linkBudget ?? DEFAULT_LINK_BUDGET;
  const warn = options.onWarning ?? ((m: string) => process.emitWarning(m, 'MeshworkWarning'));
  const powBits = options.powBits ?? 0;
  const generate = () => generateWithWork(powBits);
  const data = options.dataDir === undefined ? undefined : await openDataDir(options.dataDir, warn, generate);
  let server: Server | undefined;
  let stun: StunServer | undefined;
  try {
    const identity = data?.identity ?? (await generate());
    let mesh!: MeshNode;
    const drop = (reason: string) => mesh.counters.drop(reason);
    const dialer = new NodeWebSocketDialer({ timeoutMs: options.dialTimeoutMs, onDrop: drop, ca: options.ca === undefined ? undefined : [options.ca].flat() });
    mesh = new MeshNode({
      ...options.tuning,
      identity,
      dialer,
      store: data?.peers,
      bootstrap: options.peers ?? [],
      // Nobody can dial a node without a port (a leaf); a listening one also hands out ICE servers.
      caps: reachabilityCaps({ listens: options.port !== undefined, webrtc: false }),
      linkBudget,
      encryption: options.encryption,
      requireEncryption: options.requireEncryption,
      e2eKeys: data?.e2eKeys,
      powBits,
    });
    let endpoint: MeshEndpoint | undefined;
    let url: string | undefined;
    let self: ServerNode | undefined;
    if (options.port !== undefined) {
      const host = options.host ?? DEFAULT_HOST;
      const handler = createRequestHandler({ status: () => self?.status() ?? mesh.status(), staticDir: options.static && resolve(options.static), appOrigins, compress: options.compress });
      server = options.tls ? tlsServer(options.tls, handler) : createServer(handler);
      endpoint = attachMeshEndpoint(server, {
        origins,
        // Room for every link plus as many handshakes in flight (refused dials close within seconds).
        maxConnections: 2 * linkBudget + 64,
        drop,
        accept: (link) => void mesh.addLink(link, { outbound: false }).catch(() => undefined), // the core counts why
      });
      const bound = await listenWithStun(server, options.port, host, options.stun !== false, drop);
      const port = bound.port;
      stun = bound.stun;
      url = options.publicUrl ?? listenerUrl(host, port, options.tls !== undefined);
      mesh.setAddrs([url]);
      const ice = { ownStun: stun && stunUrlFor(url), iceServers: options.iceServers ?? [], turnSecret: options.turnSecret, ttlSeconds: options.turnTtlSeconds };
      mesh.handle(ICE_CONFIG_PORT, (m) => (m.data === ICE_CONFIG_ASK ? JSON.stringify(iceConfigFor(ice, m.from, Date.now())) : undefined));
    }
    self = new ServerNode(mesh, url, { dialer, server, endpoint, data, stun, powBits });
    await mesh.start();
    return self;
  } catch (err) {
    await stun?.close();
    if (server?.listening) await closeServer(server);
    await data?.release();
    throw err;
  }
}

/** An https server (an http.Server underneath, so the rest is the same); a bad certificate or key is INVALID_ARGUMENT. */
function tlsServer(tls: NonNullable<StartNodeOptions['tls']>, handler: ReturnType<typeof createRequestHandler>): Server {
  try {
    return createTlsServer({ cert: pemText(tls.cert), key: pemText(tls.key) }, handler);
  } catch (err) {
    throw MeshError.invalid(`the TLS certificate or key cannot be used: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function pemText(v: string | Uint8Array): string {
  return typeof v === 'string' ? v : new TextDecoder().decode(v);
}

interface Parts {
  dialer: NodeWebSocketDialer;
  server?: Server;
  endpoint?: MeshEndpoint;
  data?: DataDir;
  stun?: StunServer;
  powBits: number;
}

export class ServerNode {
  readonly id: string;
  private readonly started = Date.now();
  private stopping?: Promise<void>;

  /** @internal Use startNode(). */
  constructor(
    /** The core node, for what this wrapper does not cover (events, signalling). */
    readonly mesh: MeshNode,
    /** ws://host:port/mesh when listening (or the publicUrl), else undefined. */
    readonly url: string | undefined,
    private readonly parts: Parts,
  ) {
    this.id = mesh.id;
  }

  /**
   * Resolves once the node has its first link (at once when it has one). `startNode()` does not
   * wait for it, since the first server of a mesh has nobody to link to; a node started with
   * `peers` awaits `linked()` before its first send, which is then routed, not UNREACHABLE.
   */
  linked(): Promise<void> {
    return this.mesh.linked();
  }

  /** Link and peer events: 'link-up', 'link-down', 'drop', 'peer-learned'. */
  get events(): MeshNode['events'] {
    return this.mesh.events;
  }

  /**
   * Sends a datagram to node `to`, app `app` (default: the default app), `port` (default 0);
   * strings arrive as strings, bytes as bytes. With `reliable`, resolves once `to` acknowledged
   * it (delivered at most once), or rejects with TIMEOUT after `deadlineMs` (default 10 000).
   */
  send(to: string, data: Data, options: { app?: string; port?: number; reliable?: boolean; deadlineMs?: number } = {}): Promise<void> {
    return this.mesh.send(to, plain(data), options);
  }

  /** Calls `fn` for every datagram this node receives for `app` (default: the default app). Returns the unsubscribe function. */
  onMessage(fn: (m: Message) => void, options: { app?: string } = {}): () => void {
    return this.mesh.onMessage(fn, options);
  }

  /** Answers requests on `port` of `app` with what `fn` returns; a thrown error reaches the caller as REMOTE_ERROR. */
  handle(port: number, fn: (m: Message) => Data | void | Promise<Data | void>, options: { app?: string } = {}): () => void {
    return this.mesh.handle(
      port,
      async (m) => {
        const reply = await fn(m);
        return reply === undefined ? undefined : plain(reply);
      },
      options,
    );
  }

  /** Resolves with the reply, or rejects with MeshError TIMEOUT (or UNREACHABLE, REMOTE_ERROR). */
  request(to: string, data: Data, options: { app?: string; port?: number; timeoutMs?: number } = {}): Promise<AppData> {
    return this.mesh.request(to, plain(data), options);
  }

  /**
   * Opens a stream to node `to` on `port` (default 0). Write at once: data waits for the other
   * end's window. Fails (on its readable and writable) with REFUSED when `to` takes no streams on
   * that port, TIMEOUT when nothing is heard from `to` for `timeoutMs` (default 30 000).
   */
  openStream(to: string, options: { port?: number; timeoutMs?: number; app?: string } = {}): MeshStream {
    return this.mesh.openStream(to, options) as unknown as MeshStream;
  }

  /** Calls `fn` with every stream another node opens to `port`. Returns a function that stops accepting. */
  handleStreams(port: number, fn: (stream: MeshStream) => void, options: { app?: string } = {}): () => void {
    return this.mesh.handleStreams(port, (s) => fn(s as unknown as MeshStream), options);
  }

  subscribe(topic: string, fn: (m: TopicMessage) => void, options: { app?: string } = {}): () => void {
    return this.mesh.subscribe(topic, fn, options);
  }

  publish(topic: string, data: Data, options: { app?: string } = {}): Promise<void> {
    return this.mesh.publish(topic, plain(data), options);
  }

  status(): ServerStatus {
    return {
      ...this.mesh.status(),
      url: this.url,
      startedAt: new Date(this.started).toISOString(),
      uptimeMs: Date.now() - this.started,
      connections: this.parts.endpoint?.connections ?? 0,
      dataDir: this.parts.data?.dir,
      stun: this.parts.stun && { port: this.parts.stun.port, answered: this.parts.stun.answered },
      powBits: this.parts.powBits,
    };
  }

  /** Closes every link (peers see "node stopped"), saves peer memory, stops listening, releases the data dir. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const { dialer, server, endpoint, data, stun } = this.parts;
    dialer.close();
    try {
      await this.mesh.stop();
    } finally {
      await stun?.close();
      await endpoint?.close(500);
      if (server) await closeServer(server);
      await data?.release();
    }
  }
}

/** A Node Buffer is a Uint8Array subclass; send a plain view so the far side gets plain bytes. */
function plain(data: Data): Data {
  if (typeof data === 'string' || data.constructor === Uint8Array) return data;
  if (data instanceof Uint8Array) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw MeshError.invalid('data must be a string or a Uint8Array');
}
