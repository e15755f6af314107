/** Wire limits: one place, so the codec, the services and the docs agree. */
export const WIRE_VERSION = 1;
/**
 * 1: Rest frames (idle WebRTC links, idle-links.ts); a peer of minor 0 is never sent one.
 * 2: key cards in Proof frames (key-cards.ts); a peer of minor 0 or 1 gets the bare proof.
 * 3: Unreachable packets (unreachable.ts), routed to the source of a packet dropped as
 *    `no-route`. A node of an older minor drops one as `unknown-kind`, and carries it like any
 *    unicast packet; a peer linked to us that says an older minor is never sent one.
 */
export const WIRE_MINOR = 3;
/** The wire minor from which a peer takes our key card with our proof (key-cards.ts). */
export const CARD_MINOR = 2;
/** The wire minor from which a node understands Unreachable packets (unreachable.ts). */
export const UNREACHABLE_MINOR = 3;
/** Largest frame any link carries or accepts, header included. */
export const MAX_FRAME_BYTES = 96 * 1024;
/** Largest application payload in one datagram, request, reply or publication. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
export const DEFAULT_HOP_LIMIT = 64;
export const MAX_ADDRS = 8;
export const MAX_ADDR_LENGTH = 256;
export const MAX_CAPS = 16;
export const MAX_REFERRALS = 16;
/** Most buckets one Ask frame may name. */
export const MAX_ASKED_BUCKETS = 32;
/** Deepest CBOR nesting any frame or payload needs is 4 (a referral list in an error frame); 8 leaves room. */
export const MAX_CBOR_DEPTH = 8;
