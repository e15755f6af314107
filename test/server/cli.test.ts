/**
 * `meshwork serve` as an operator meets it: one clear line for each mistake, the id and URL on
 * start, a status that answers, and a clean exit 0 on SIGTERM. Runs the CLI from source (tsx),
 * so it tests what is in src/ without a build.
 */
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { startChild, type Child } from '../helpers/child.js';
import { within } from '../helpers/wait.js';
import { tempDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function meshwork(...args: string[]): Child {
  return startChild(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], { cwd: ROOT });
}

/**
 * How long a run may take before the test calls it hung. These deadlines only turn a hang into a
 * failure with a sentence: on a loaded 2-core machine, starting Node with tsx (which compiles the
 * CLI from source) took more than 15 s when six started at once, so they are generous, and the
 * runs below go one at a time rather than all at once.
 */
const HUNG_MS = 60_000;

/** Runs to completion; returns the exit code and the output. */
async function finished(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = meshwork(...args);
  try {
    const code = await within(run.closed, HUNG_MS, `meshwork ${args.join(' ')} to exit`);
    return { code, stdout: run.stdout(), stderr: run.stderr() };
  } finally {
    // A run that missed its deadline must not outlive the test: with the blocked port or the
    // corrupt key file cleaned up, it would start for real and serve forever.
    run.proc.kill('SIGKILL');
  }
}

/** Asserts a failed run printed exactly one line, matching `pattern`. */
function oneLine(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.code, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got: ${r.stderr}`);
  assert.match(lines[0]!, pattern);
}

describe('meshwork serve', { timeout: 6 * HUNG_MS }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups) await c();
  });

  it('rejects a port that is not a number', async () => {
    oneLine(await finished('serve', '--port', 'abc'), /^meshwork: .*--port must be a whole number, got "abc"/);
  });

  it('rejects a port out of range', async () => {
    oneLine(await finished('serve', '--port', '70000'), /^meshwork: .*--port must be from 0 to 65535, got 70000/);
  });

  it('says so when the port is in use', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const r = await finished('serve', '--port', String(port));
      oneLine(r, new RegExp(`^meshwork: port ${port} is already in use on 127\\.0\\.0\\.1$`));
    } finally {
      blocker.close();
    }
  });

  it('names a corrupt key file', async () => {
    const dir = await tempDir('cli-corrupt');
    cleanups.push(dir.remove);
    await writeFile(join(dir.path, 'identity.key'), 'garbage');
    oneLine(await finished('serve', '--port', '0', '--data-dir', dir.path), new RegExp(`identity key file ${join(dir.path, 'identity.key')}`));
  });

  it('prints its help', async () => {
    const r = await finished('serve', '--help');
    assert.equal(r.code, 0);
    for (const flag of ['--port', '--host', '--peer', '--data-dir', '--static', '--no-demo', '--allow-origin', '--allow-app-origin', '--link-budget', '--public-url']) assert.ok(r.stdout.includes(flag), flag);
  });

  it('refuses --static together with --no-demo', async () => {
    oneLine(await finished('serve', '--port', '0', '--static', ROOT, '--no-demo'), /^meshwork: --static and --no-demo cannot be used together/);
  });

  /** Starts `meshwork serve --port 0 …args`, hands its http:// base to `fn`, then stops it. */
  async function withServe(args: string[], fn: (http: string, stdout: string) => Promise<void>): Promise<void> {
    const run = meshwork('serve', '--port', '0', ...args);
    try {
      await within(run.line(/^meshwork: http /), HUNG_MS, 'the http line');
      const http = /^meshwork: http (http:\/\/\S+\/)$/m.exec(run.stdout())?.[1];
      assert.ok(http, run.stdout());
      await within(run.line(/^meshwork: page /), HUNG_MS, 'the page line');
      await fn(http, run.stdout());
    } finally {
      run.proc.kill('SIGKILL');
    }
  }

  it('serves the demo at / by default, with an icon', async () => {
    await withServe([], async (http, stdout) => {
      assert.match(stdout, /^meshwork: page demo at \/$/m, 'the demo is built by npm install; without it serve falls back to the status page');
      const page = await fetch(http);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>Meshwork demo<\/title>[\s\S]*href="\/meshwork\/favicon\.svg"/);
      const app = await fetch(new URL('app.js', http));
      assert.equal(app.status, 200, 'the demo app is served beside its page');
      await app.arrayBuffer();
      for (const icon of ['favicon.ico', 'meshwork/favicon.svg']) {
        const r = await fetch(new URL(icon, http));
        assert.equal(r.status, 200, icon);
        assert.equal(r.headers.get('content-type'), 'image/svg+xml', icon);
        assert.match(await r.text(), /^<svg /, icon);
      }
    });
  });

  it('serves the plain status page with --no-demo', async () => {
    await withServe(['--no-demo'], async (http, stdout) => {
      assert.match(stdout, /^meshwork: page status page at \/$/m);
      const page = await fetch(http);
      assert.match(await page.text(), /<title>Meshwork server node<\/title>/);
      assert.equal((await fetch(new URL('favicon.ico', http)).then((r) => r.status)), 200);
    });
  });

  it('serves --static DIR instead of the demo, and its own favicon.ico if it has one', async () => {
    const dir = await tempDir('cli-static');
    cleanups.push(dir.remove);
    await writeFile(join(dir.path, 'index.html'), '<title>mine</title>');
    await writeFile(join(dir.path, 'favicon.ico'), 'my icon');
    await withServe(['--static', dir.path], async (http) => {
      assert.equal(await (await fetch(http)).text(), '<title>mine</title>');
      assert.equal(await (await fetch(new URL('favicon.ico', http))).text(), 'my icon');
    });
  });

  it('prints its id and url, answers /meshwork/status, and exits 0 on SIGTERM', async () => {
    const dir = await tempDir('cli-serve');
    cleanups.push(dir.remove);
    const run = meshwork('serve', '--port', '0', '--data-dir', dir.path);
    try {
      await within(run.line(/^meshwork: url /), HUNG_MS, 'the url line');
      const id = /^meshwork: node ([0-9a-f]{64})$/m.exec(run.stdout())?.[1];
      const url = /^meshwork: url (ws:\/\/127\.0\.0\.1:\d+\/mesh)$/m.exec(run.stdout())?.[1];
      assert.ok(id && url, run.stdout());
      const status = (await (await fetch(url.replace(/^ws/, 'http').replace(/\/mesh$/, '/meshwork/status'))).json()) as { id: string; url: string };
      assert.equal(status.id, id);
      assert.equal(status.url, url);
      run.proc.kill('SIGTERM');
      assert.equal(await within(run.closed, HUNG_MS, 'exit after SIGTERM'), 0);
      assert.match(run.stdout(), /stopped/);
      assert.deepEqual((await readdir(dir.path)).sort(), ['e2e.key', 'identity.key'], 'lock released, keys kept');
    } finally {
      run.proc.kill('SIGKILL');
    }
  });
});
