/** Opening and closing the HTTP listener, with listen failures turned into one clear sentence. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MeshError } from '../core/errors.js';

/** Listens on host:port and resolves with the port actually bound (useful with port 0). */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(listenError(err, port, host));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

function listenError(err: NodeJS.ErrnoException, port: number, host: string): MeshError {
  switch (err.code) {
    case 'EADDRINUSE':
      return new MeshError('PORT_IN_USE', `port ${port} is already in use on ${host}`, { cause: err });
    case 'EACCES':
      return new MeshError('LISTEN_FAILED', `not allowed to listen on port ${port} of ${host} (ports below 1024 need privileges)`, { cause: err });
    case 'EADDRNOTAVAIL':
      return new MeshError('LISTEN_FAILED', `address ${host} does not belong to this machine`, { cause: err });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new MeshError('LISTEN_FAILED', `host ${host} cannot be resolved`, { cause: err });
    default:
      return new MeshError('LISTEN_FAILED', `cannot listen on ${host}:${port}: ${err.message}`, { cause: err });
  }
}

/** Stops accepting and drops idle keep-alive connections, so close() does not wait on browsers. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // Requests in progress get a moment to finish, then go too.
    setTimeout(() => server.closeAllConnections(), 1000).unref();
  });
}
