/**
 * The streams part of a browser node (the core service and the host's side of tab streams), built apart as streams.js and loaded only when an app of
 * the node uses streams or a peer opens one to it (lazy-stream-service.ts). Its imports from
 * outside core/streams and host-streams.ts are the node's own modules, handed over on a global
 * (scripts/streams-build.mjs): so it is loaded with importScripts() in the SharedWorker and with
 * import() in a leader tab, and carries no second copy of the codec or MeshError.
 */
import { StreamService } from '../core/streams/service.js';
import { HostStreams } from './host-streams.js';
import { STREAMS_GLOBAL, type StreamsGlobal } from './streams-global.js';

Object.assign((globalThis as unknown as Record<string, StreamsGlobal>)[STREAMS_GLOBAL]!, { StreamService, HostStreams });
