/**
 * What a node tells its peers about how it can be reached, decided in one place for every
 * platform. Greedy routing (docs/ROUTING.md) hands a packet to any link closer to its target,
 * and counts on that node being linkable by the nodes near it. A node nobody can dial (no
 * listening address, no WebRTC) breaks that: it becomes a local minimum that nobody near the
 * target can link to, so a topic's subscribers and publishers stop at different nodes. Such a
 * node announces `leaf`: it carries no transit and is never a rendezvous.
 */
import { ICE_CAP } from './ice-protocol.js';
import { LEAF_CAP } from './routing-table.js';

/** Capability of a node that other WebRTC nodes can dial through the mesh's signalling. */
export const WEBRTC_CAP = 'webrtc';

export interface Reachability {
  /** It listens on an address others can dial (a server's port). */
  listens: boolean;
  /** It can answer WebRTC offers (a browser with RTCPeerConnection). */
  webrtc: boolean;
}

/** The capabilities a node announces in its hello, from how it can be reached. */
export function reachabilityCaps(r: Reachability): string[] {
  const caps: string[] = [];
  // A listening server also hands ICE servers (its STUN, the operator's TURN) to browsers.
  if (r.listens) caps.push(ICE_CAP);
  if (r.webrtc) caps.push(WEBRTC_CAP);
  // Nobody can dial it, so it must not be a hop between others, nor a topic's rendezvous.
  if (!r.listens && !r.webrtc) caps.push(LEAF_CAP);
  return caps;
}
