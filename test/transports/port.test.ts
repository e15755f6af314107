/**
 * The MessagePort link (a tab's DataChannel reaching the SharedWorker) held to the Link
 * compliance suite, over Node's own MessageChannel: both ends of a pair are PortLinks, as the
 * worker end and the tab end are in a browser.
 */
import { MessageChannel } from 'node:worker_threads';
import { PortLink, type PortLike } from '../../src/transports/port.js';
import { runLinkCompliance } from './link-compliance.js';

runLinkCompliance('port', async () => {
  const { port1, port2 } = new MessageChannel();
  // Node's ports take listeners with `on`; the DOM shape is what PortLink asks for.
  const dom = (p: typeof port1): PortLike => ({
    postMessage: (m, transfer) => p.postMessage(m, transfer as never),
    addEventListener: (_type, listener) => void p.on('message', (data: unknown) => listener({ data })),
    close: () => p.close(),
  });
  const a = new PortLink(dom(port1));
  const b = new PortLink(dom(port2));
  return {
    a,
    b,
    async cleanup() {
      a.close();
      b.close();
    },
  };
});
