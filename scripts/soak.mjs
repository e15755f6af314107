#!/usr/bin/env node
// Runs the test suite again and again while other processes keep cores busy, and names every
// test that failed in any run: the way to find a test that fails once in ten before CI does.
//
//   npm run test:soak -- --runs 5 --load 1 --suite all|node|browser
//
// --runs N     how many runs in a row (default 5)
// --load K     busy-loop processes beside the suite (default 1; 0 for none)
// --suite S    which part: `all` (as `npm test`: typecheck, Node, browser and lab suites), `node`,
//              `browser` or `lab` (default all)
// --keep-going run every round even after a failure (default: stop at the first failing round)
// Logs go to test-results/soak/run-<n>.log; the exit code is 1 when any run failed.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    load: { type: 'string', default: '1' },
    suite: { type: 'string', default: 'all' },
    'keep-going': { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const load = Number(values.load);
const scripts = { all: 'test', node: 'test:node', browser: 'test:browser', lab: 'test:lab' };
const script = scripts[values.suite];
if (!Number.isInteger(runs) || runs < 1 || runs > 100) fail(`--runs must be a whole number from 1 to 100, got ${values.runs}`);
if (!Number.isInteger(load) || load < 0 || load > 16) fail(`--load must be a whole number from 0 to 16, got ${values.load}`);
if (!script) fail(`--suite must be one of ${Object.keys(scripts).join(', ')}, got ${values.suite}`);

const dir = join('test-results', 'soak');
mkdirSync(dir, { recursive: true });

// The load: plain busy loops, each pinning one core as long as the soak lasts.
const burners = Array.from({ length: load }, () => spawn(process.execPath, ['-e', 'for(;;);'], { stdio: 'ignore' }));
const stopBurners = () => burners.forEach((b) => b.kill('SIGKILL'));
process.on('exit', stopBurners);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

const failures = new Map(); // test name -> runs it failed in
let failedRuns = 0;
for (let run = 1; run <= runs; run++) {
  const started = Date.now();
  const log = join(dir, `run-${run}.log`);
  const { code, failed } = await runSuite(log);
  const secs = Math.round((Date.now() - started) / 1000);
  for (const name of failed) failures.set(name, [...(failures.get(name) ?? []), run]);
  if (code !== 0) failedRuns++;
  console.log(`soak: run ${run}/${runs} ${code === 0 ? 'passed' : `FAILED (exit ${code})`} in ${secs} s, load ${load}; log ${log}`);
  for (const name of failed) console.log(`soak:   not ok: ${name}`);
  if (code !== 0 && !values['keep-going']) break;
}
stopBurners();
console.log(`soak: ${failedRuns} failed run(s)${failures.size ? `; failing tests: ${[...failures].map(([n, r]) => `${n} (runs ${r.join(', ')})`).join('; ')}` : ''}`);
process.exit(failedRuns ? 1 : 0);

/** One run of the chosen npm script; returns its exit code and the names of the tests that failed. */
function runSuite(logPath) {
  return new Promise((resolve) => {
    const out = createWriteStream(logPath);
    const child = spawn('npm', ['run', '--silent', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const failed = new Set();
    let tail = '';
    const scan = (chunk) => {
      out.write(chunk);
      const text = tail + chunk.toString();
      const lines = text.split('\n');
      tail = lines.pop();
      // Piped, node:test reports in TAP: `not ok <n> - <name>` for a failed test (and its suite).
      for (const line of lines) {
        const m = /^\s*not ok \d+ - (.+?)(?: # .*)?$/.exec(line);
        if (m) failed.add(m[1]);
      }
    };
    child.stdout.on('data', scan);
    child.stderr.on('data', scan);
    // `close`, not `exit`: only then has every line of the child's output been read.
    child.on('close', (code) => out.end(() => resolve({ code, failed: [...failed] })));
  });
}

function fail(message) {
  console.error(`soak: ${message}`);
  process.exit(2);
}
