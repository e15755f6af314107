/**
 * The STUN responder of `meshwork serve`: UDP on the same port number as the HTTP listener, so
 * a browser that reached ws://host:port/mesh can use stun:host:port with nothing more to set
 * up. It answers Binding requests and counts everything else as a drop with its reason.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { Server } from 'node:http';
import { isIPv6 } from 'node:net';
import { MeshError } from '../core/errors.js';
import { closeServer, listen } from './listen.js';
import { answerStun } from './stun-codec.js';

export interface StunServer {
  readonly port: number;
  /** Binding requests answered. */
  readonly answered: number;
  close(): Promise<void>;
}

/** Binds UDP `host:port` and answers STUN there; `drop` counts what is not answered (`stun:<reason>`). */
export function startStunServer(host: string, port: number, drop: (reason: string) => void): Promise<StunServer> {
  const socket: Socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
  let answered = 0;
  socket.on('message', (msg, rinfo) => {
    const r = answerStun(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), rinfo);
    if ('drop' in r) return drop(`stun:${r.drop}`);
    answered++;
    socket.send(r.reply, rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.close();
      const why = err.code === 'EADDRINUSE' ? `UDP port ${port} is already in use on ${host} (pass --no-stun to run without STUN)` : `cannot open STUN on UDP ${host}:${port}: ${err.message}`;
      reject(new MeshError(err.code === 'EADDRINUSE' ? 'PORT_IN_USE' : 'LISTEN_FAILED', why, { cause: err }));
    });
    socket.bind(port, host, () => {
      // After binding, a socket error (an ICMP unreachable on some systems) must not crash the server.
      socket.removeAllListeners('error');
      socket.on('error', () => drop('stun:socket-error'));
      resolve({
        port: socket.address().port,
        get answered() {
          return answered;
        },
        close: () => new Promise<void>((r) => socket.close(() => r())),
      });
    });
  });
}

/**
 * Listens for HTTP on `port` and, with `stun`, for STUN on UDP at the same number. With port 0
 * the number is picked for TCP first; if that UDP port is taken (browsers hold many ephemeral
 * UDP ports), another number is tried, a few times.
 */
export async function listenWithStun(server: Server, port: number, host: string, stun: boolean, drop: (reason: string) => void): Promise<{ port: number; stun?: StunServer }> {
  for (let attempt = 1; ; attempt++) {
    const bound = await listen(server, port, host);
    if (!stun) return { port: bound };
    try {
      return { port: bound, stun: await startStunServer(host, bound, drop) };
    } catch (err) {
      await closeServer(server);
      if (port !== 0 || attempt >= 5 || !(err instanceof MeshError && err.code === 'PORT_IN_USE')) throw err;
    }
  }
}
