/**
 * Helpers for the server tests: real servers on ephemeral ports, with timings shortened so a
 * small mesh settles in a second or two, and retrying waits that always have a deadline.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNode, type ServerNode, type StartNodeOptions } from '../../src/server/index.js';
import { sleep } from '../helpers/wait.js';

export const FAST: StartNodeOptions['tuning'] = { maintainMs: 2_000, saveDelayMs: 50, subscribeRefreshMs: 1_000, requestTimeoutMs: 1_000 };

/** A server listening on 127.0.0.1 and a free port. */
export function server(options: StartNodeOptions = {}): Promise<ServerNode> {
  return startNode({ port: 0, dialTimeoutMs: 1_000, tuning: FAST, onWarning: () => undefined, ...options });
}

/** A Node API client: no port, it only dials out. */
export function client(peers: string[], options: StartNodeOptions = {}): Promise<ServerNode> {
  return startNode({ peers, dialTimeoutMs: 1_000, tuning: FAST, ...options });
}

/**
 * Runs `attempt` until it resolves, retrying on failure every `pauseMs`; rejects after `ms`
 * with `what` and the last failure. Meshes converge over time: early sends may find no route.
 */
export async function eventually<T>(attempt: () => Promise<T>, ms: number, what: string, pauseMs = 100): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await attempt();
    } catch (err) {
      last = err;
    }
    await sleep(pauseMs);
  }
  throw new Error(`${what}: still failing after ${ms} ms; last error: ${last instanceof Error ? last.message : String(last)}`);
}

/** Resolves with the first value `take` returns for something pushed to `box`, within `ms`. */
export function nextMatching<T, R>(subscribe: (fn: (v: T) => void) => () => void, take: (v: T) => R | undefined, ms: number, what: string): Promise<R> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`${what}: nothing within ${ms} ms`));
    }, ms);
    const stop = subscribe((v) => {
      const r = take(v);
      if (r === undefined) return;
      clearTimeout(timer);
      stop();
      resolve(r);
    });
  });
}

export async function tempDir(label: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `meshwork-${label}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export async function stopAll(nodes: (ServerNode | undefined)[]): Promise<void> {
  await Promise.all(nodes.map((n) => n?.stop()));
}
