/**
 * App namespaces: several apps share one node (the tabs of an origin, or apps of many origins
 * through a hub), and each must see only its own datagrams, requests and topics, however its
 * neighbours name themselves.
 *
 * On the wire a namespace is a 128-bit id: the first 16 bytes of SHA-256 over a label and the
 * whole name (the default app, named '', is the empty id). A node delivers a datagram or
 * request only to the app whose id matches exactly. Taking another app's traffic means finding
 * a second name with the same id as a name someone else uses: a second preimage of a truncated
 * SHA-256, about 2^128 hashes, where the 8-bit slot this replaces fell to a few hundred tries.
 * The id rides inside the payload, so end-to-end encryption hides it from relays as well.
 *
 * Ports are numbers per app (0..65535). Topics of a named app travel as `app:<id hex>/<topic>`;
 * topics of the default app may not begin with `app:`, so the two forms never meet.
 */
import { sha256 } from '@noble/hashes/sha256';
import { toHex, utf8 } from './bytes.js';
import { MeshError } from './errors.js';

export const APP_ID_BYTES = 16;
/** Longest app name: an origin (a hub's namespaces are `<origin>/<app>`) and a name, with room. */
export const MAX_APP_NAME = 2048;
const LABEL = 'meshwork/1 app\u0000';
const APP_TOPIC = 'app:';
const DEFAULT_APP = new Uint8Array(0);

/** The wire id of `app`: empty for the default app, else 16 bytes. */
export function appId(app: string): Uint8Array {
  if (app === '') return DEFAULT_APP;
  return sha256(utf8(LABEL + app)).subarray(0, APP_ID_BYTES);
}

/** Checks an app name from the API; returns it ('' when absent). */
export function checkApp(app: unknown): string {
  if (app === undefined) return '';
  if (typeof app !== 'string' || app.length > MAX_APP_NAME) throw MeshError.invalid(`an app name is a string of at most ${MAX_APP_NAME} characters`);
  return app;
}

/** Whether `id` is a well-formed app id (decoders use it). */
export function isAppId(id: unknown): id is Uint8Array {
  return id instanceof Uint8Array && (id.length === 0 || id.length === APP_ID_BYTES);
}

/** The key an app's listeners and handlers are filed under. */
export function appKey(id: Uint8Array): string {
  return toHex(id);
}

/** The topic name `topic` of `app` travels under. */
export function appTopic(app: string, topic: string): string {
  if (app === '') {
    if (topic.startsWith(APP_TOPIC)) throw MeshError.invalid(`topics beginning with "${APP_TOPIC}" belong to named apps: subscribe with { app }`);
    return topic;
  }
  return `${APP_TOPIC}${toHex(appId(app))}/${topic}`;
}

/** The topic as `app` named it, from the name it travels under. */
export function localTopic(app: string, wire: string): string {
  if (app === '') return wire;
  const prefix = `${APP_TOPIC}${toHex(appId(app))}/`;
  return wire.startsWith(prefix) ? wire.slice(prefix.length) : wire;
}
