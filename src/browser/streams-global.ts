/**
 * The handshake between a browser node and its streams part (streams.js, loaded on first use:
 * lazy-stream-service.ts): the core service and the host's side of tab streams (host-streams.ts). The node puts the modules the part shares with it on this global
 * before loading the script; the script puts its StreamService there. One copy of each shared
 * module, so MeshError, the codec and the hashes are the node's own.
 */
import type { StreamService } from '../core/streams/service.js';
import type { HostStreams } from './host-streams.js';

export const STREAMS_GLOBAL = '__meshworkStreams';

export interface StreamsGlobal {
  /** Exports of the modules streams.js imports from outside core/streams, by name (scripts/streams-build.mjs). */
  deps: Record<string, unknown>;
  /** Set by streams.js once it ran. */
  StreamService?: typeof StreamService;
  HostStreams?: typeof HostStreams;
}
