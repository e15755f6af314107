/** The platform-free core of Meshwork. */
export * from './errors.js';
export * from './bytes.js';
export * from './clock.js';
export * from './id.js';
export * from './identity.js';
export * from './limits.js';
export * from './codec.js';
export * from './link.js';
export * from './packets.js';
export * from './payloads.js';
export * from './peer-memory.js';
export * from './node.js';
export { topicId } from './topic-tree.js';
export { CoreStream } from './streams/stream.js';
export type { StreamHandler, StreamStatus } from './streams/service.js';
