/** Conn adapters: a MessagePort as a Conn. */
import type { Conn } from './protocol.js';

export function portConn(port: MessagePort): Conn {
  const fns: ((m: unknown) => void)[] = [];
  port.addEventListener('message', (e: MessageEvent) => {
    for (const fn of fns) fn(e.data);
  });
  port.start();
  return {
    post: (m, transfer) => port.postMessage(m, transfer ?? []),
    onMessage: (fn) => void fns.push(fn),
    close: () => port.close(),
  };
}
