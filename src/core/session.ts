/**
 * The link handshake as a state machine driven by the node's actor. Both sides send a hello
 * (major version in the frame header, minor version, public key, nonce, capabilities, dial
 * addresses), then a proof: a signature over a transcript binding the signer's key to both
 * nonces. A peer whose key does not hash to the id we dialled, whose proof fails, or whose
 * major version we do not speak is refused with an error frame and a reason.
 *
 * Channel binding: on a link whose transport names its secure channel (a WebRTC link: both DTLS
 * fingerprints, link.ts `ChannelBinding`), the hello says so (BOUND_CAP), and when both hellos
 * do, each proof also covers the fingerprints as its signer sees them (its own, then the other
 * end's). A party that terminated DTLS on each side (it had swapped the fingerprints in the
 * signalling) sees two different pairs, so the proofs it relays fail on both ends. A link whose
 * two proofs covered them is `channelBound`: the channel itself then proves that what arrives
 * on it comes from the peer, and stays between the two (e2e.ts takes its plaintext packets).
 * Stripping the mark from a hello only gives an unbound link, which is what it was before.
 */
import { concatBytes, toHex, utf8 } from './bytes.js';
import { decodeFrame, encodeFrame, FrameType, Want, type Frame, type HelloFrame, type KeyCard, type PeerInfo, type WantLevel } from './codec.js';
import { MeshError } from './errors.js';
import { idFromPublicKey, type NodeId } from './id.js';
import { type Identity, prepareVerify, verifySignature } from './identity.js';
import type { Link } from './link.js';
import { CARD_MINOR, WIRE_MINOR } from './limits.js';
import { hasWork } from './pow.js';

const TRANSCRIPT_LABEL = utf8('meshwork/1 link proof');
const BINDING_LABEL = utf8('meshwork/1 channel');
/** In a hello: this end knows its link's channel binding and will sign over it. Never stored as a node capability. */
export const BOUND_CAP = 'bound';

/** Set once this runtime has decoded a frame of ours (Session.begin). */
let decoderWarm = false;

export type SessionState = 'hello' | 'open' | 'closed';

export interface SessionOptions {
  identity: Identity;
  nonce: Uint8Array;
  caps: string[];
  addrs: string[];
  /** The id we meant to reach, when we dialled a known peer. */
  expectedId?: NodeId;
  outbound: boolean;
  /** How much the dialling side wants this link (inbound sessions send Optional). */
  want: WantLevel;
  /** Leading zero bits the peer's key must carry (pow.ts); 0 asks for none. */
  powBits?: number;
  /** Our key card, sent with our proof to a peer of wire minor CARD_MINOR or later (key-cards.ts). */
  card?: () => Promise<KeyCard | undefined>;
}

export class Session {
  state: SessionState = 'hello';
  peer?: PeerInfo & { id: NodeId; idText: string; minor: number };
  /** How much the peer said it wants this link, in its hello. */
  get peerWant(): WantLevel {
    return this.theirHello?.want ?? Want.Optional;
  }
  private theirHello?: HelloFrame;
  private proofVerified = false;
  private proofSent = false;
  /** Both hellos offered channel binding, so both proofs cover it. */
  private binding = false;
  /** Set when the peer said this link keeps its routing invariant. */
  peerNeedsUs = false;
  /** What we last told the peer about our need of this link. */
  weNeedSent?: boolean;
  rttMs?: number;
  lastHeard = 0;
  pingSent?: { n: number; at: number };
  /** When we last pinged this peer (liveness.ts). */
  probedAt?: number;
  openedAt = 0;
  /** When this link last carried an application packet, either way (idle-links.ts). */
  lastAppAt = 0;
  /** When we last offered the peer to rest this idle link (a Rest frame), if we did. */
  restOfferedAt?: number;
  helloSent = false;
  /** Malformed or unexpected frames received; too many closes the link. */
  badFrames = 0;
  /** When we last asked this peer for nodes in our empty buckets (a Tell is welcome only then). */
  askedAt?: number;
  /** When this peer last asked us: one Ask per peer per ASK_INTERVAL_MS is answered. */
  answeredAskAt?: number;
  /** The peer's key card (key-cards.ts), as its proof gave it; gone with the link. */
  card?: KeyCard;

  constructor(
    readonly link: Link,
    readonly options: SessionOptions,
  ) {}

  get outbound(): boolean {
    return this.options.outbound;
  }

  /**
   * The handshake proved that the link's secure channel ends at the peer (see the file comment).
   * It stays so after the link closes: frames the peer sent before still arrive, from it.
   */
  get channelBound(): boolean {
    return this.binding && this.proofSent && this.proofVerified;
  }

  /** Sends our hello (once). The dialling side calls it at once; the answering side after the dialler's hello. */
  begin(): void {
    if (this.helloSent) return;
    this.helloSent = true;
    const o = this.options;
    const hello = helloFrame(o, this.link.channelBinding !== undefined);
    this.sendFrame(hello);
    // A fresh worker compiles the decoder at its first frame: several ms (up to tens at load) on
    // the first link's path. Our own hello is one to decode while the peer's is on its way.
    if (o.outbound && !decoderWarm) {
      decoderWarm = true;
      decodeFrame(encodeFrame(hello));
    }
  }

  /**
   * Feeds one decoded handshake frame. Resolves true when the session just became open;
   * throws a MeshError (after sending an error frame) when the peer must be refused.
   */
  async handshake(frame: Frame): Promise<boolean> {
    if (frame.type === FrameType.Error) {
      // A full node's refusal keeps its code (the dialler tries elsewhere, and counts why), and so
      // does a duplicate's (no fault: the other link stays); any other refusal is a failed handshake.
      const code = frame.code === 'BUSY' || frame.code === 'ADDRESS_LIMIT' || frame.code === 'DUPLICATE' ? frame.code : 'HANDSHAKE_FAILED';
      throw new MeshError(code, `peer refused the link: ${frame.code}: ${frame.message}`);
    }
    if (frame.type === FrameType.Hello) {
      if (this.theirHello) return this.refuse('HANDSHAKE_FAILED', 'second hello');
      const id = idFromPublicKey(frame.publicKey);
      const expected = this.options.expectedId;
      if (expected && toHex(expected) !== toHex(id)) {
        return this.refuse('ID_MISMATCH', `expected node ${toHex(expected).slice(0, 16)}…, key hashes to ${toHex(id).slice(0, 16)}…`);
      }
      if (toHex(id) === this.options.identity.idText) return this.refuse('HANDSHAKE_FAILED', 'a node cannot link to itself');
      // One hash, before any signature is made or checked: grinding keys must cost the peer, not us.
      const bits = this.options.powBits ?? 0;
      if (!hasWork(frame.publicKey, bits)) return this.refuse('INSUFFICIENT_WORK', `this mesh asks for keys with ${bits} bits of work`);
      this.theirHello = frame;
      this.peerNeedsUs = frame.want !== Want.Optional;
      const binding = this.link.channelBinding;
      this.binding = binding !== undefined && frame.caps.includes(BOUND_CAP);
      const caps = frame.caps.filter((c) => c !== BOUND_CAP);
      this.peer = { id, idText: toHex(id), publicKey: frame.publicKey, addrs: frame.addrs, caps, minor: frame.minor };
      const ours = transcript(this.options.identity.publicKey, frame.nonce, this.options.nonce, this.binding ? [binding!.local, binding!.remote] : undefined);
      prepareVerify(frame.publicKey); // the key its proof needs, imported beside our signature
      // Our card (made once, at the node's start) rides with the proof: no frame of its own.
      const card = frame.minor >= CARD_MINOR ? this.options.card?.() : undefined;
      const signature = await this.options.identity.sign(ours);
      const proof: Frame = { type: FrameType.Proof, signature, card: await card };
      if (this.state === 'closed') return false;
      this.sendFrame(proof);
      this.proofSent = true;
      return this.maybeOpen();
    }
    if (frame.type === FrameType.Proof) {
      const hello = this.theirHello;
      if (!hello) return this.refuse('HANDSHAKE_FAILED', 'proof before hello');
      if (this.proofVerified) return this.refuse('HANDSHAKE_FAILED', 'second proof');
      // Their proof covers the channel as they see it: their certificate first, then ours.
      const binding = this.binding ? [this.link.channelBinding!.remote, this.link.channelBinding!.local] : undefined;
      const ok = await verifySignature(hello.publicKey, frame.signature, transcript(hello.publicKey, this.options.nonce, hello.nonce, binding));
      if (!ok && binding) return this.refuse('HANDSHAKE_FAILED', 'the proof does not cover this channel: the peer sees other DTLS fingerprints, so the channel does not end at it');
      if (!ok) return this.refuse('HANDSHAKE_FAILED', 'the proof of key possession does not verify');
      this.proofVerified = true;
      // Not verified here: the peer may sign what it likes about itself; whoever takes the card checks it.
      this.card = frame.card;
      return this.maybeOpen();
    }
    return this.refuse('HANDSHAKE_FAILED', `unexpected frame type ${frame.type} during handshake`);
  }

  private maybeOpen(): boolean {
    if (this.state !== 'hello' || !this.proofSent || !this.proofVerified) return false;
    this.state = 'open';
    return true;
  }

  /** Sends an error frame, closes the link and throws the matching MeshError. */
  refuse(code: MeshError['code'], message: string, referrals: PeerInfo[] = []): never {
    this.sendError(code, message, referrals);
    this.close(`${code}: ${message}`);
    throw new MeshError(code, message);
  }

  sendError(code: string, message: string, referrals: PeerInfo[] = []): void {
    this.sendFrame({ type: FrameType.Error, code, message, referrals });
  }

  /** Sends a frame unless the link is gone; returns the link's backpressure signal. */
  sendFrame(frame: Frame): boolean {
    if (this.link.closed) return false;
    return this.link.send(encodeFrame(frame));
  }

  close(reason: string): void {
    this.state = 'closed';
    this.link.close(reason);
  }
}

/**
 * The hello a session with these options sends. Made before the dial too (maintenance.ts): a
 * WebSocket dialer carries it in its upgrade request, and the session's own send of the same
 * bytes is then swallowed by the link (transports/websocket.ts).
 */
export function helloFrame(o: SessionOptions, bound: boolean): Frame {
  const caps = bound ? [...o.caps, BOUND_CAP] : o.caps;
  return { type: FrameType.Hello, minor: WIRE_MINOR, want: o.want, publicKey: o.identity.publicKey, nonce: o.nonce, caps, addrs: o.addrs };
}

/**
 * What a signer proves: its own key, the verifier's nonce (freshness) and its own nonce; on a
 * bound link also the channel's fingerprints, the signer's own first. Each part has a fixed
 * length but the fingerprints, which come last and length-prefixed.
 */
function transcript(signerKey: Uint8Array, verifierNonce: Uint8Array, signerNonce: Uint8Array, channel?: Uint8Array[]): Uint8Array {
  const base = concatBytes(TRANSCRIPT_LABEL, signerKey, verifierNonce, signerNonce);
  if (!channel) return base;
  const parts = channel.flatMap((c) => [new Uint8Array([c.length >> 8, c.length & 0xff]), c]);
  return concatBytes(base, BINDING_LABEL, ...parts);
}
