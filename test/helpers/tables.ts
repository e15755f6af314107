/**
 * Hand-built routing tables: real RoutingTables holding real Sessions whose peers are set by
 * the test. The sessions sit on inert links (they never carry a frame), because what is under
 * test is the table and the link policy, not the handshake.
 */
import { toHex } from '../../src/core/bytes.js';
import type { Identity } from '../../src/core/identity.js';
import { LinkBase } from '../../src/core/link.js';
import { Want } from '../../src/core/codec.js';
import { LEAF_CAP, RoutingTable } from '../../src/core/routing-table.js';
import { Session } from '../../src/core/session.js';

/** A link to nowhere: accepts frames and drops them. */
class InertLink extends LinkBase {
  readonly transport = 'memory' as const;
  get bufferedAmount(): number {
    return 0;
  }
  send(): boolean {
    return true;
  }
  close(reason = 'closed'): void {
    this.closedWith(reason);
  }
}

/** An open session whose peer has id `id`. */
export function sessionTo(identity: Identity, id: Uint8Array, peerNeedsUs = false, leaf = false): Session {
  const s = new Session(new InertLink(), { identity, nonce: new Uint8Array(32), caps: [], addrs: [], outbound: true, want: Want.Needed });
  s.state = 'open';
  s.peer = { id, idText: toHex(id), publicKey: new Uint8Array(32), addrs: [], caps: leaf ? [LEAF_CAP] : [], minor: 0 };
  s.peerNeedsUs = peerNeedsUs;
  return s;
}

export function tableWith(identity: Identity, self: Uint8Array, links: { id: Uint8Array; peerNeedsUs?: boolean; leaf?: boolean }[]): RoutingTable {
  const t = new RoutingTable(self);
  for (const l of links) t.add(sessionTo(identity, l.id, l.peerNeedsUs, l.leaf));
  return t;
}
