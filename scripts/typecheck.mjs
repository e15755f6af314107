// `npm run typecheck`: the four type-checks (everything; the core alone with no DOM and no Node
// types, which proves the layering; the browser code; the demo), as separate tsc programs run
// side by side, as many at once as the machine has cores. tsc uses one core, and one after the
// other they took about 35 s of CPU on CI's 2 cores where the longest alone takes about 20 s.
// Each run's output is printed whole once it ends (no interleaving); the exit code is 1 if any
// of them failed. The longest (tsconfig.json) starts first, so it does not finish last alone.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const RUNS = [
  ['-p', 'tsconfig.json', '--noEmit'],
  ['-p', 'tsconfig.core.json'],
  ['-p', 'tsconfig.browser.json'],
  ['-p', 'tsconfig.demo.json'],
];

function check(args) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [tsc, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => out.push(d));
    child.on('error', (err) => out.push(Buffer.from(`${err.message}\n`)));
    child.on('close', (code) => {
      const ok = code === 0;
      process.stdout.write(`typecheck: tsc ${args.join(' ')}: ${ok ? 'ok' : `failed (exit ${code})`} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      process.stdout.write(Buffer.concat(out));
      resolve(ok);
    });
  });
}

const queue = [...RUNS];
const workers = Array.from({ length: Math.max(1, Math.min(availableParallelism(), RUNS.length)) }, async () => {
  let ok = true;
  for (let args; (args = queue.shift()); ) ok = (await check(args)) && ok;
  return ok;
});
const results = await Promise.all(workers);
process.exitCode = results.every(Boolean) ? 0 : 1;
