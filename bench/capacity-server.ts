/**
 * The server of the capacity bench, in its own process so that its CPU time and memory are its
 * own, not the clients'. Started by bench/capacity.ts over IPC: prints nothing, answers
 * 'sample' with its CPU time, memory and links, and stops on 'stop'.
 */
import { startNode } from '../src/server/index.js';

const budget = Number(process.argv[2]);
const node = await startNode({ port: 0, host: '127.0.0.1', linkBudget: budget });
const send = (m: unknown) => process.send!(m);
send({ url: node.url });
process.on('message', (m: unknown) => {
  if (m === 'sample') {
    const s = node.status();
    send({
      sample: {
        at: performance.now(),
        cpu: process.cpuUsage(),
        mem: process.memoryUsage(),
        links: s.links.length,
        connections: s.connections,
        forwarded: s.counters.forwarded,
        dropped: s.counters.dropped,
      },
    });
  } else if (m === 'stop') {
    void node.stop().finally(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
