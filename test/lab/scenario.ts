/**
 * What the lab scenarios share: `meshwork serve` (the real CLI) and coturn in the server
 * namespace, browsers in the homes, and bounded waits on what the pages' nodes report.
 */
import { createInterface } from 'node:readline';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildBundles, FIXTURES, waitFor } from '../browser/harness.js';
import { SERVER_IP, type Lab } from './netns.js';
import { RemoteBrowser, type LabEngine, type RemotePage } from './remote-browser.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const HTTP_PORT = 8080;
export const ORIGIN = `http://${SERVER_IP}:${HTTP_PORT}`;
export const TURN_SECRET = 'lab-secret';
export const TURN_URL = `turn:${SERVER_IP}:3478?transport=udp`;

export interface LinkInfo {
  id: string;
  transport: string;
  rttMs: number | null;
  via?: 'direct' | 'turn';
  /** The peer's address the per-address cap counts (WebRTC links: from the selected candidate pair). */
  address?: string;
}
export interface LabStatus {
  id: string;
  links: LinkInfo[];
  rtcDials: { attempted: number; succeeded: number; failed: number; backingOff: number };
  ice: { from?: string; servers: { urls: string[]; username?: string }[] };
  counters: { forwarded: number; delivered: number; sent: number; dropped: Record<string, number> };
}

/**
 * Starts `meshwork serve` in the server namespace; resolves once it printed its URL. `staticDir`:
 * what it serves at / (the browser suites' test pages unless told).
 */
export async function startServer(lab: Lab, extra: string[] = [], log: string[] = [], staticDir = FIXTURES): Promise<void> {
  buildBundles();
  const args = ['serve', '--host', SERVER_IP, '--port', String(HTTP_PORT), '--static', staticDir, ...extra];
  const child = lab.spawn(lab.ns('srv'), [process.execPath, '--import', 'tsx', 'src/cli/index.ts', ...args], { cwd: ROOT });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`meshwork serve did not start in 60 s: ${log.join('\n')}`)), 60_000);
    createInterface({ input: child.stderr! }).on('line', (l) => log.push(`[serve] ${l}`));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      log.push(`[serve] ${l}`);
      if (l.startsWith('meshwork: url ')) (clearTimeout(t), resolve());
    });
    child.on('exit', (code) => (clearTimeout(t), reject(new Error(`meshwork serve exited ${code}: ${log.join('\n')}`))));
  });
}

/** Starts coturn in the server namespace with the TURN REST secret; resolves once it listens. */
export async function startCoturn(lab: Lab, log: string[] = []): Promise<void> {
  const args = [
    '/usr/bin/turnserver', '-n', '--log-file=stdout', '--no-cli', '--no-tls', '--no-dtls',
    `--listening-ip=${SERVER_IP}`, `--relay-ip=${SERVER_IP}`, '--listening-port=3478',
    '--use-auth-secret', `--static-auth-secret=${TURN_SECRET}`, '--realm=lab.meshwork',
    '--min-port=49152', '--max-port=49400', '--fingerprint', '--simple-log',
  ];
  const child = lab.spawn(lab.ns('srv'), args);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`coturn did not start in 20 s: ${log.join('\n')}`)), 20_000);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      log.push(`[coturn] ${l}`);
      if (/listener opened on|Total General servers/i.test(l)) (clearTimeout(t), resolve());
    });
    child.on('exit', (code) => (clearTimeout(t), reject(new Error(`coturn exited ${code}: ${log.join('\n')}`))));
  });
}

export function browserIn(lab: Lab, home: 1 | 2, engine: LabEngine): RemoteBrowser {
  return new RemoteBrowser(lab, lab.ns(`home${home}`), engine, ORIGIN, `${engine}@home${home}`);
}

/** Opens the test page and boots its mesh node; `options` go to connect(). Resolves with the node id. */
export async function bootPage(b: RemoteBrowser, options: Record<string, unknown> = {}): Promise<{ page: RemotePage; id: string }> {
  const page = await b.open(`${ORIGIN}/index.html`);
  const r = await page.eval((o) => (window as any).T.boot(o), options);
  return { page, id: (r as { id: string }).id };
}

export function statusOf(page: RemotePage): Promise<LabStatus> {
  return page.eval(() => (window as any).mesh.status());
}

// Bounded polling, the same as the browser suites'.
export { waitFor } from '../browser/harness.js';

/** Waits for a WebRTC link from `page` to `peer`, and resolves with it once its path is known. */
export async function rtcLink(page: RemotePage, peer: string, timeoutMs: number): Promise<LinkInfo> {
  let last: LabStatus | undefined;
  return waitFor(
    `a WebRTC link from ${page.name} to ${peer.slice(0, 8)} with a known path`,
    async () => {
      last = await statusOf(page);
      return last.links.find((l) => l.id === peer && l.transport === 'webrtc' && l.via);
    },
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last status: ${JSON.stringify(last)}`);
  });
}

/** Sends `n` requests from `page` to `to`, `everyMs` apart; resolves with how many were answered and each one's time. */
export function requests(page: RemotePage, to: string, n: number, everyMs: number, timeoutMs: number): Promise<{ ok: number; ms: number[]; errors: string[] }> {
  return page.eval(
    async (to, n, everyMs, timeoutMs) => {
      const mesh = (window as any).mesh;
      const ms: number[] = [];
      const errors: string[] = [];
      const all: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        all.push(
          mesh.request(to, `q${i}`, { port: 1, timeoutMs }).then(
            (d: unknown) => (d === `echo:q${i}` ? ms.push(performance.now() - t0) : errors.push(`bad reply ${String(d)}`)),
            (e: { code: string; message: string }) => errors.push(`${e.code} ${e.message}`),
          ),
        );
        await new Promise((r) => setTimeout(r, everyMs));
      }
      await Promise.all(all);
      return { ok: ms.length, ms, errors };
    },
    to,
    n,
    everyMs,
    timeoutMs,
  );
}

/**
 * What every lab suite keeps: its log lines and browsers, closed with the lab after the suite
 * (the last 300 lines printed first when a step failed); and `step`, a test that marks the
 * suite failed. Call inside the suite's `describe`.
 */
export function labSuite(lab: Lab): { log: string[]; browsers: RemoteBrowser[]; step: (name: string, fn: () => Promise<void>) => void } {
  const log: string[] = [];
  const browsers: RemoteBrowser[] = [];
  let failed = false;
  after(async () => {
    if (failed) for (const l of [...log, ...browsers.flatMap((b) => b.logs)].slice(-300)) console.log(`# ${l}`);
    await Promise.all(browsers.map((b) => b.close()));
    await lab.down();
  });
  const step = (name: string, fn: () => Promise<void>) =>
    void it(name, async () => {
      try {
        await fn();
      } catch (err) {
        failed = true;
        throw err;
      }
    });
  return { log, browsers, step };
}
