/** A node's tuning once defaults are filled in: one object, shared by the parts of a MeshNode. */
import { DEFAULT_MAX_LINKS_PER_ADDRESS } from './address-limit.js';
import { MeshError } from './errors.js';
import type { Identity } from './identity.js';
import type { MeshNodeOptions } from './node-types.js';
import { checkPowBits, hasWork } from './pow.js';
import { DEFAULT_IDLE_LINK_MS } from './idle-links.js';

/** Every plain setting of MeshNodeOptions, defaults applied. `addrs` may change before start. */
export type NodeSettings = Required<
  Omit<MeshNodeOptions, 'dialer' | 'store' | 'identity' | 'clock' | 'random' | 'wallClock' | 'bootstrap' | 'encryption' | 'requireEncryption' | 'e2eKeys' | 'rateLimits' | 'onForeignResponse' | 'onForeignAck'>
>;

/** Fills in defaults and checks the settings against the identity; INVALID_ARGUMENT when they do not fit. */
export function nodeSettings(options: MeshNodeOptions, identity: Identity): NodeSettings {
  const o: NodeSettings = {
    addrs: options.addrs ?? [],
    caps: options.caps ?? [],
    linkBudget: options.linkBudget ?? 24,
    maintainMs: options.maintainMs ?? 30_000,
    keepaliveMs: options.keepaliveMs ?? 15_000,
    idleLinkMs: options.idleLinkMs ?? DEFAULT_IDLE_LINK_MS,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
    saveDelayMs: options.saveDelayMs ?? 2_000,
    subscribeRefreshMs: options.subscribeRefreshMs ?? 20_000,
    maxPendingDials: options.maxPendingDials ?? 4,
    maxLinksPerAddress: options.maxLinksPerAddress ?? DEFAULT_MAX_LINKS_PER_ADDRESS,
    powBits: checkPowBits(options.powBits ?? 0),
    dialBootstrapFirst: options.dialBootstrapFirst ?? false,
  };
  if (!hasWork(identity.publicKey, o.powBits)) throw MeshError.invalid(`the identity lacks the ${o.powBits} bits of work this node asks of every peer (see generateWithWork)`);
  if (!(o.idleLinkMs >= 0)) throw MeshError.invalid('idleLinkMs must be 0 (never) or a positive number of ms');
  if (!Number.isInteger(o.linkBudget) || o.linkBudget < 2) throw MeshError.invalid('linkBudget must be an integer of at least 2');
  // Zero or a fraction would refuse every link with an address: say so instead.
  if (!(o.maxLinksPerAddress === Infinity || (Number.isInteger(o.maxLinksPerAddress) && o.maxLinksPerAddress >= 1))) throw MeshError.invalid('maxLinksPerAddress must be a positive integer (Infinity: no cap)');
  return o;
}
