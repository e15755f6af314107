/** Argument checks of the node's API: each failure is a MeshError INVALID_ARGUMENT or PAYLOAD_TOO_LARGE. */
import { utf8 } from './bytes.js';
import { MeshError } from './errors.js';
import { MAX_PAYLOAD_BYTES } from './limits.js';
import { MAX_PORT } from './payloads.js';

export function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > MAX_PORT) throw MeshError.invalid(`port must be an integer from 0 to ${MAX_PORT}, got ${port}`);
  return port;
}

export function checkData(data: unknown): void {
  if (typeof data === 'string') {
    if (data.length * 3 > MAX_PAYLOAD_BYTES) {
      const size = utf8(data).length;
      if (size > MAX_PAYLOAD_BYTES) throw MeshError.payloadTooLarge(size, MAX_PAYLOAD_BYTES);
    }
    return;
  }
  if (!(data instanceof Uint8Array)) throw MeshError.invalid('data must be a string or a Uint8Array');
  if (data.length > MAX_PAYLOAD_BYTES) throw MeshError.payloadTooLarge(data.length, MAX_PAYLOAD_BYTES);
}

export function safeCall(fn: () => void): void {
  try {
    fn();
  } catch {
    // A listener's exception belongs to the listener; the node carries on.
  }
}

