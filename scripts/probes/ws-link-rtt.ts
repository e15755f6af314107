// How long a Node node's first WebSocket link takes to a server some way off: node.start() to
// its link up, and the socket's own open within it. A TCP relay on loopback holds every chunk
// half of RTT_MS each way (its own connect is instant: a real network's TCP handshake is not in
// it). Not part of the product, the tests or the bench: run it by hand from two checkouts in
// turn to compare them (issue 14, the dialler's hello in the upgrade URL):
//   node --import tsx scripts/probes/ws-link-rtt.ts [dials] [rttMs]
import { connect, createServer, type Socket } from 'node:net';
import { Identity } from '../../src/core/identity.js';
import { MeshNode } from '../../src/core/node.js';
import { startNode } from '../../src/server/index.js';
import { NodeWebSocketDialer } from '../../src/transports/websocket-node.js';

const dials = Number(process.argv[2] ?? 20);
const rttMs = Number(process.argv[3] ?? 80);
const server = await startNode({ port: 0, onWarning: () => undefined });
const relay = createServer((down: Socket) => {
  const up = connect(Number(new URL(server.url!).port), '127.0.0.1');
  down.setNoDelay(true); // Nagle's wait for delayed ACKs would add stalls of its own
  up.setNoDelay(true);
  const later = (f: () => void) => setTimeout(f, rttMs / 2); // one delay: each direction keeps its order
  for (const [from, to] of [[down, up], [up, down]] as const) {
    from.on('data', (d) => later(() => to.write(d)));
    from.on('end', () => later(() => to.end()));
    from.on('error', () => later(() => to.destroy()));
  }
});
await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
const url = `ws://127.0.0.1:${(relay.address() as { port: number }).port}/mesh`;
const took: number[] = [];
for (let i = 0; i < dials; i++) {
  const node = new MeshNode({ identity: await Identity.generate(), dialer: new NodeWebSocketDialer(), bootstrap: [url], keepaliveMs: 0 });
  const t0 = performance.now();
  await node.start();
  await node.linked();
  took.push(performance.now() - t0);
  await node.stop();
}
relay.close();
await server.stop();
const sorted = [...took].sort((a, b) => a - b);
const q = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
console.log(`server ${rttMs} ms away, ${dials} dials: start -> link up p50 ${q(0.5)} ms (p25 ${q(0.25)}, p75 ${q(0.75)}, min ${q(0)})`);
console.log(JSON.stringify(took.map(Math.round)));
