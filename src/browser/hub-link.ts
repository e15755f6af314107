/**
 * The app page's side of the hub: `connect({ hub })`. Embeds the hub page of another origin as a
 * hidden iframe, hands it one end of a MessageChannel, and returns that port as the tab's Conn
 * once the hub accepts. Everything is posted to the hub's exact origin, never to '*'.
 */
import { MeshError } from '../core/errors.js';
import { portConn } from './conn.js';
import { HUB_CONNECT, type HubAnswer, type HubConnect, type HubStatus } from './hub-protocol.js';
import type { Conn } from './protocol.js';
import { withTimeout } from './with-timeout.js';

export async function openHub(hubUrl: string, timeoutMs: number): Promise<{ conn: Conn; status: HubStatus; frame: HTMLIFrameElement }> {
  let url: URL;
  try {
    url = new URL(hubUrl, location.href);
  } catch {
    throw MeshError.invalid(`hub "${hubUrl}" is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw MeshError.invalid(`hub "${hubUrl}" is not an http(s) URL`);
  const frame = document.createElement('iframe');
  frame.hidden = true;
  frame.setAttribute('aria-hidden', 'true');
  // Lets the hub use the Storage Access API (the policy's default is already '*'; say it anyway).
  frame.allow = 'storage-access';
  frame.src = url.href;
  const loaded = new Promise<void>((resolve) => frame.addEventListener('load', () => resolve(), { once: true }));
  (document.body ?? document.documentElement).append(frame);
  const { port1, port2 } = new MessageChannel();
  try {
    // The hub's module has run by the time its load event fires, so it is listening.
    await withTimeout(loaded, timeoutMs, `loading the hub ${url.href}`);
    const answered = new Promise<HubAnswer>((resolve) => (port1.onmessage = (e: MessageEvent) => resolve(e.data as HubAnswer)));
    frame.contentWindow?.postMessage({ type: HUB_CONNECT } satisfies HubConnect, url.origin, [port2]);
    const answer = await withTimeout(answered, timeoutMs, `the hub ${url.href} answering`);
    port1.onmessage = null;
    if (!answer.accepted) throw new MeshError('FORBIDDEN', answer.error);
    const conn = portConn(port1);
    return {
      conn: { ...conn, close: () => (conn.close(), frame.remove()) },
      status: { url: url.href, mode: answer.mode, reason: answer.reason },
      frame,
    };
  } catch (err) {
    port1.close();
    frame.remove();
    throw err;
  }
}
