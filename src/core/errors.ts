/**
 * Every way Meshwork can fail, in one screen. Callers test `err.code`, never the message text.
 */
export type MeshErrorCode =
  | 'TIMEOUT'
  | 'UNREACHABLE'
  | 'PAYLOAD_TOO_LARGE'
  | 'INVALID_ARGUMENT'
  | 'LINK_CLOSED'
  | 'HANDSHAKE_FAILED'
  | 'VERSION_MISMATCH'
  | 'ID_MISMATCH'
  | 'BUSY'
  | 'STOPPED'
  | 'STORE_CORRUPT'
  | 'STORE_LOCKED'
  | 'DIAL_FAILED'
  | 'CONGESTED'
  | 'PORT_IN_USE'
  | 'LISTEN_FAILED'
  /** The other side refuses this caller (a hub that does not list the app's origin). */
  | 'FORBIDDEN'
  | 'REMOTE_ERROR'
  /** End-to-end encryption is required, and the destination does not encrypt. */
  | 'ENCRYPTION_UNAVAILABLE'
  /** The peer's key lacks the proof of work this node asks for (powBits). */
  | 'INSUFFICIENT_WORK'
  /** This node already has its most links from the peer's network address. */
  | 'ADDRESS_LIMIT'
  /** A stream was aborted, by this end (abort, a cancelled reader) or by the other. */
  | 'ABORTED'
  /**
   * The other end takes no streams on that port (no handleStreams), or has too many open; or no
   * requests on that port (no handler there: it answered at once, nothing ran).
   */
  | 'REFUSED'
  /** A WebRTC link closed because it carried no application traffic for its idle time (idle-links.ts). */
  | 'IDLE'
  /** A link between the two nodes already exists, or is being made by the other's dial: the tie-break kept that one (no fault). */
  | 'DUPLICATE'
  /**
   * The browser tab running the request's handler closed before it answered (it said so as it
   * went): the handler may have done part of its work, so it is not run again in another tab.
   */
  | 'HANDLER_CLOSED';

/** Set on every MeshError, whichever copy of this module made it (see Symbol.hasInstance below). */
const MESH_ERROR: unique symbol = Symbol.for('meshwork.MeshError');

export class MeshError extends Error {
  override readonly name = 'MeshError';
  readonly [MESH_ERROR] = true;
  constructor(
    readonly code: MeshErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /**
   * `err instanceof MeshError` holds for a MeshError made by any copy of this class: the browser
   * tab's module (client.js) and the parts it loads later (the data plane, the hub link, the
   * leader-tab fallback) are built as separate files, and each carries its own copy.
   */
  static override [Symbol.hasInstance](x: unknown): boolean {
    return typeof x === 'object' && x !== null && (x as { [MESH_ERROR]?: unknown })[MESH_ERROR] === true;
  }

  static timeout(what: string, ms: number): MeshError {
    return new MeshError('TIMEOUT', `${what} timed out after ${ms} ms`);
  }
  static unreachable(to: string): MeshError {
    return new MeshError('UNREACHABLE', `no route to ${to}`);
  }
  static payloadTooLarge(size: number, max: number): MeshError {
    return new MeshError('PAYLOAD_TOO_LARGE', `payload of ${size} bytes exceeds the limit of ${max} bytes`);
  }
  static invalid(message: string): MeshError {
    return new MeshError('INVALID_ARGUMENT', message);
  }
  static linkClosed(reason: string): MeshError {
    return new MeshError('LINK_CLOSED', `link closed: ${reason}`);
  }
  static stopped(): MeshError {
    return new MeshError('STOPPED', 'the node is stopped');
  }
}

/**
 * The codes a node may give with a failed Response (payloads.ts), which its requester then
 * rejects with: only those that say what became of the handler (HANDLER_CLOSED: it closed
 * mid-run; REFUSED: there is none on that port, services.ts `serve`), never one that would pass
 * for a local failure (TIMEOUT, UNREACHABLE). Anything else a handler throws reaches it as
 * REMOTE_ERROR; so does REFUSED thrown by a handler, since REFUSED says that nothing ran.
 */
const REMOTE_CODES: ReadonlySet<string> = new Set<MeshErrorCode>(['HANDLER_CLOSED', 'REFUSED']);

/** The code a failed Response carries, if it is one a node may give (REMOTE_CODES). */
export function remoteCode(code: unknown): MeshErrorCode | undefined {
  return typeof code === 'string' && REMOTE_CODES.has(code) ? (code as MeshErrorCode) : undefined;
}

/** What the requester of a failed Response rejects with: its code when it is one a node may give, else REMOTE_ERROR. */
export function remoteFailure(data: unknown, code?: string): MeshError {
  const known = remoteCode(code);
  return known ? new MeshError(known, String(data)) : new MeshError('REMOTE_ERROR', `remote handler failed: ${String(data)}`);
}

export function isMeshError(err: unknown, code?: MeshErrorCode): err is MeshError {
  return err instanceof MeshError && (code === undefined || err.code === code);
}
