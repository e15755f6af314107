// The first request between two nodes linked only to one server node, in virtual time: how many
// link latencies the key exchange costs (docs/ENCRYPTION.md, "The exchange"; key cards,
// src/core/key-cards.ts). Not part of the product, the tests or the bench: run it by hand, from
// each of two checkouts to compare them, free of the machine's load:
//   node --import tsx scripts/probes/first-request-virtual.ts [latencyMs=20]
// A and B dial S (memory links, `latencyMs` each way, no jitter); once both are linked A requests
// B on port 1. It prints the virtual ms from the request to B's handler and to A's answer.
import { drive, driveUntil } from '../../test/helpers/wait.js';
import { TestNet } from '../../test/helpers/mesh.js';

const latencyMs = Number(process.argv[2] ?? 20);
const net = new TestNet({ latencyMs, jitterMs: 0 });
const s = (await net.addNode('probe/s')).node;
const a = (await net.addNode('probe/a', { addrs: [], bootstrap: ['mem:probe/s'] })).node;
const b = (await net.addNode('probe/b', { addrs: [], bootstrap: ['mem:probe/s'] })).node;
let seenAt = 0;
b.handle(1, (m) => ((seenAt = net.clock.now()), m.data));
await drive(net.clock, Promise.all([s.start(), a.start(), b.start()]), 1000, 'start');
await driveUntil(net.clock, () => s.linkIds().length === 2, 5000, 'A and B linked to S');
const sentAt = net.clock.now();
await drive(net.clock, a.request(b.id, 'first', { port: 1 }), 5000, 'request');
const answerAt = net.clock.now();
const e2e = a.status().e2e as { keyRequests: number; keyCards?: number };
console.log(`latency ${latencyMs} ms a link: request -> B's handler ${seenAt - sentAt} ms, -> answer in A ${answerAt - sentAt} ms (key requests ${e2e.keyRequests}, key cards ${e2e.keyCards ?? 0})`);
await net.stopAll();
