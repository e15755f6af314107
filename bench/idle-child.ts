/**
 * A child process of the idle bench, so that its CPU and memory can be read apart from the
 * bench's own: `server <linkBudget>` runs a server node and prints its URL; `clients <url> <n>`
 * runs n Node client nodes (each links to that server only) and prints how many are linked.
 * Lines on stdout are JSON. A line `gc` on stdin collects garbage (run with --expose-gc) and
 * answers with the process's memory: what the bench divides by the links.
 */
import { createInterface } from 'node:readline';
import { startNode, type ServerNode } from '../src/server/index.js';

const [role, a, b] = process.argv.slice(2);
const say = (x: unknown) => process.stdout.write(JSON.stringify(x) + '\n');

async function server(linkBudget: number): Promise<void> {
  const node = await startNode({ port: 0, host: '127.0.0.1', linkBudget });
  say({ url: node.url, id: node.id });
}

async function clients(url: string, n: number): Promise<void> {
  const nodes: ServerNode[] = [];
  // A few at a time, each batch linked before the next starts: startNode resolves before its
  // link is up, and a thousand handshakes at once would time out and back off (a join storm is
  // the capacity bench's subject, not this one's).
  for (let i = 0; i < n; i += 20) {
    const batch = await Promise.all(Array.from({ length: Math.min(20, n - i) }, () => startNode({ peers: [url] })));
    nodes.push(...batch);
    await Promise.race([Promise.all(batch.map((x) => x.linked())), new Promise((r) => setTimeout(r, 10_000))]);
  }
  for (;;) {
    const linked = nodes.filter((x) => x.mesh.linkIds().length > 0).length;
    say({ linked });
    if (linked === n) break;
    await new Promise((r) => setTimeout(r, 500));
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'gc') return;
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  say({ rss: m.rss, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers });
});

if (role === 'server') await server(Number(a));
else if (role === 'clients') await clients(a!, Number(b));
else throw new Error(`unknown role ${role}`);
// Stays up (servers listen; client nodes keep their links) until the bench kills it.
setInterval(() => undefined, 1 << 30);
