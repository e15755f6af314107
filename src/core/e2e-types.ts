/** The shapes end-to-end encryption (e2e.ts) takes and gives: its options, its status, how a payload is sealed. */
import type { Clock } from './clock.js';
import type { NodeId } from './id.js';
import type { CryptoKeyLike, CryptoKeyPairLike } from './webcrypto.js';

export interface E2eOptions {
  /** This node's id. */
  id: NodeId;
  enabled: boolean;
  require: boolean;
  /** This node's X25519 key pair; generated in memory when absent. */
  keys?: CryptoKeyPairLike;
  clock: Clock;
  /** Runs a task on the node's actor. */
  run: <T>(task: () => T | Promise<T>) => Promise<T>;
  /** Signs and routes a packet of ours (call inside the actor). */
  originate: (dst: NodeId, kind: number, payload: Uint8Array) => Promise<void>;
  drop: (reason: string) => void;
  /**
   * Told when what this node may seal to `peer` changes: its key was learned or replaced, or it
   * became known to hold our key, or may no longer (a host tab's data plane grant follows it).
   */
  keyState?: (peer: string) => void;
  /** The key card (key-cards.ts) of `peer` when we link to it directly: its Ed25519 key, its X25519 key, its signature. */
  cardOf?: (peer: NodeId) => { publicKey: Uint8Array; key: Uint8Array; signature: Uint8Array } | undefined;
}

/** What a host tab needs to seal to and open from one peer itself (docs/DATA-PLANE.md). */
export interface PeerPair {
  aes: Promise<CryptoKeyLike>;
  peerPublic: Uint8Array;
  ownPublic: Uint8Array;
}

export interface PeerKey {
  publicKey: Uint8Array;
  aes: Promise<CryptoKeyLike>;
}

/** How a payload to one destination is to be sent: sealed to a key, or in the clear. */
export type Sealing = { peer: PeerKey } | { plaintext: true };

export interface Opened {
  payload: Uint8Array;
  sealed: boolean;
}

export interface E2eStatus {
  enabled: boolean;
  required: boolean;
  /** This node's X25519 public key, hex; empty until known or when encryption is off. */
  publicKey: string;
  sealed: number;
  opened: number;
  plaintextSent: number;
  keyRequests: number;
  /** Sealed packets sent without a signature (the destination held our key), and opened so. */
  unsignedSent: number;
  unsignedOpened: number;
  /**
   * Application packets sent to, and taken from, the peer at the other end of a bound channel
   * without AES-GCM (session.ts `channelBound`: DTLS bound to both identities carries them).
   */
  directSent: number;
  directOpened: number;
  /** Our key requests a forwarder answered with the destination's key card; requests of others we answered so. */
  keyCards: number;
  cardsGiven: number;
  peersCached: number;
}
