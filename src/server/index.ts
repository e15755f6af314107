/** The package root for Node: start a node, and the types and errors you meet using it. */
export { startNode, ServerNode, type ServerStatus, type Data, type MeshStream } from './server-node.js';
export type { StartNodeOptions } from './options.js';
export { MeshError, isMeshError, type MeshErrorCode } from '../core/errors.js';
export type { Message, TopicMessage, NodeStatus, LinkStatus, NodeEvents } from '../core/node.js';
export { MAX_PAYLOAD_BYTES, MAX_FRAME_BYTES } from '../core/limits.js';
