/**
 * App namespaces. Several apps of one origin share one node; each sees only its own ports and
 * topics. The namespace travels on the wire in the port number itself, so a remote node (a
 * Node API node too) reaches app "chat" port 3 by sending to `wirePort('chat', 3)`:
 *
 * - every app, the default one included, has local ports 0..255;
 * - the default app (no name) maps them to wire ports 0..255 unchanged;
 * - a named app maps them to `256 * slot + port`, slot in 1..255 from a hash of its name.
 *
 * Two names can share a slot (1 chance in 255): such apps would see each other's ports. Topics
 * of a named app are prefixed with its name.
 */
import { MeshError } from '../core/errors.js';

export const APP_PORTS = 256;

export function appSlot(app: string): number {
  if (app === '') return 0;
  // FNV-1a over the UTF-16 code units: small, stable, no dependency.
  let h = 0x811c9dc5;
  for (let i = 0; i < app.length; i++) {
    h ^= app.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return 1 + (h % 255);
}

export function wirePort(app: string, port: number): number {
  if (!Number.isInteger(port) || port < 0 || port >= APP_PORTS) throw MeshError.invalid(`port must be an integer from 0 to ${APP_PORTS - 1}, got ${port}`);
  return appSlot(app) * APP_PORTS + port;
}

/** The local port of `wire` for `app`, or undefined when the port belongs to another namespace. */
export function localPort(app: string, wire: number): number | undefined {
  return Math.floor(wire / APP_PORTS) === appSlot(app) ? wire % APP_PORTS : undefined;
}

export function wireTopic(app: string, topic: string): string {
  if (typeof topic !== 'string' || topic.length === 0) throw MeshError.invalid('a topic is a non-empty string');
  return app === '' ? topic : `${app}/${topic}`;
}

export function localTopic(app: string, wire: string): string | undefined {
  if (app === '') return wire;
  return wire.startsWith(`${app}/`) ? wire.slice(app.length + 1) : undefined;
}
