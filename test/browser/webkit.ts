/**
 * WebKit for the browser tests: Debian's WebKitGTK MiniBrowser, driven by `WebKitWebDriver`
 * (package webkit2gtk-driver) on a private Xvfb display (package xvfb). Each `launchWebKit`
 * is one browser: its own driver, its own MiniBrowser process, its own storage. Everything it
 * starts is stopped by process id in `close()`; nothing is killed by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { log, waitFor, type PageStatus } from './harness.js';
import { WebDriverSession } from './webdriver.js';

export const MINIBROWSER = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
const DRIVER = '/usr/bin/WebKitWebDriver';
const XVFB = '/usr/bin/Xvfb';
const INSTALL = 'apt-get install -y webkit2gtk-driver xvfb';

/**
 * A WebDriver for another WebKit, already running: `safaridriver --port 4444` on a Mac, then
 * MESHWORK_WEBDRIVER_URL=http://127.0.0.1:4444 (capabilities from MESHWORK_WEBDRIVER_CAPS, JSON;
 * default Safari). No Xvfb, no MiniBrowser flags; see docs/BROWSER.md for what then changes.
 */
export const REMOTE_DRIVER = process.env.MESHWORK_WEBDRIVER_URL;

async function remoteWebKit(): Promise<WebKitBrowser> {
  const capabilities = JSON.parse(process.env.MESHWORK_WEBDRIVER_CAPS ?? '{"browserName":"safari"}') as Record<string, unknown>;
  const session = await WebDriverSession.create({ driverUrl: REMOTE_DRIVER!, capabilities });
  return { session, close: () => session.quit() };
}

export function webkitMissing(): string | undefined {
  if (REMOTE_DRIVER) return undefined;
  const missing = [MINIBROWSER, DRIVER, XVFB].filter((p) => !existsSync(p));
  return missing.length ? `missing ${missing.join(', ')}: run as root: ${INSTALL}` : undefined;
}

/** An X display for the whole test process, started on first use; Xvfb picks a free number itself. */
let display: Promise<{ name: string; proc: ChildProcess }> | undefined;
export function xDisplay(): Promise<{ name: string; proc: ChildProcess }> {
  display ??= new Promise((resolve, reject) => {
    // -displayfd: Xvfb chooses an unused display and writes its number on fd 3 once it listens.
    const proc = spawn(XVFB, ['-displayfd', '3', '-nolisten', 'tcp', '-screen', '0', '1280x900x24'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    let out = '';
    const fail = (why: string) => reject(new Error(`Xvfb: ${why}`));
    proc.on('error', (e) => fail(e.message));
    proc.on('exit', (code) => fail(`exited with ${code} before naming a display`));
    (proc.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve({ name: `:${out.trim()}`, proc });
    });
  });
  return display;
}

/** Stops this process's Xvfb, by its pid. */
export async function stopDisplay(): Promise<void> {
  const d = await display?.catch(() => undefined);
  display = undefined;
  if (!d || d.proc.exitCode !== null) return;
  const gone = new Promise((r) => d.proc.once('exit', r));
  d.proc.kill('SIGTERM');
  await gone;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface WebKitBrowser {
  session: WebDriverSession;
  close(): Promise<void>;
}

/**
 * One WebKit browser. `name` tags the driver's lines in the test log; `args` go to MiniBrowser.
 * Classic WebDriver has no console access, and this driver refuses WebDriver BiDi
 * (`webSocketUrl: true`: "Failed to match capabilities") and drops MiniBrowser's stdout, so
 * pages that must prove a clean console record it themselves (see webkit.test.ts).
 */
export async function launchWebKit(name: string, o: { args?: string[] } = {}): Promise<WebKitBrowser> {
  if (REMOTE_DRIVER) return remoteWebKit();
  const missing = webkitMissing();
  if (missing) throw new Error(missing);
  const { name: disp } = await xDisplay();
  const port = await freePort();
  const driver = spawn(DRIVER, [`--port=${port}`, '--host=127.0.0.1'], {
    env: { ...process.env, DISPLAY: disp },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true, // its own process group: close() ends the driver and the browser it started
  });
  driver.stderr!.on('data', (d: Buffer) => log(`[${name} driver] ${d.toString().trim()}`));
  const driverUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (driver.exitCode === null && driver.signalCode === null) {
      const gone = new Promise((r) => driver.once('exit', r));
      try {
        process.kill(-driver.pid!, 'SIGTERM');
        await gone;
      } catch {
        // already gone
      }
    }
  };
  try {
    await waitForDriver(driverUrl, driver);
    const session = await WebDriverSession.create({
      driverUrl,
      capabilities: {
        'webkitgtk:browserOptions': {
          binary: MINIBROWSER,
          args: ['--automation', ...(o.args ?? [])],
        },
      },
    });
    return {
      session,
      close: async () => {
        await session.quit();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The driver answers /status once it listens: polled, bounded. */
async function waitForDriver(url: string, proc: ChildProcess): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`WebKitWebDriver exited with ${proc.exitCode}`);
    const ok = await fetch(`${url}/status`, { signal: AbortSignal.timeout(1_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error('WebKitWebDriver did not answer /status within 15 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The test page's helpers (fixtures/index.html), called in the session's current tab. */
export const wk = {
  /** Opens `url` in the current tab, waits for the page's module, boots the mesh there. */
  async boot(s: WebDriverSession, url: string, options: Record<string, unknown> = {}): Promise<{ id: string; host: string }> {
    await s.goto(url);
    await waitFor('the test page to load', () => s.run(() => (window as any).ready === true));
    return s.run((o) => (window as any).T.boot(o), options);
  },
  status(s: WebDriverSession): Promise<PageStatus & { startedAt: number }> {
    return s.run(() => (window as any).mesh.status());
  },
};
