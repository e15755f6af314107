/**
 * A child process as tests meet it: its output so far, a promise for each line a test waits on,
 * and its exit code once every byte of its output has been read. Node emits `exit` as soon as
 * the process ends, possibly before its stdio pipes are drained; `close` comes after them, so a
 * test that reads the output "after exit" must wait for `close` (the cause of a flaky CLI test).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface Child {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** The exit code (null when killed by a signal), after stdout and stderr are fully read. */
  closed: Promise<number | null>;
  /** Resolves with the first match of `pattern` in stdout; rejects if the process ends first. */
  line(pattern: RegExp): Promise<RegExpExecArray>;
}

export function startChild(command: string, args: string[], options: SpawnOptions = {}): Child {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) w();
  });
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const closed = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  let ended = false;
  void closed.then(() => {
    ended = true;
    for (const w of [...waiters]) w();
  });
  const line = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const m = new RegExp(pattern.source, pattern.flags.includes('m') ? pattern.flags : `${pattern.flags}m`).exec(out);
        if (m) {
          waiters.delete(check);
          resolve(m);
        } else if (ended) {
          waiters.delete(check);
          reject(new Error(`the process ended (code ${proc.exitCode}) before printing ${pattern}: ${out}${err}`));
        }
      };
      waiters.add(check);
      check();
    });
  return { proc, stdout: () => out, stderr: () => err, closed, line };
}
