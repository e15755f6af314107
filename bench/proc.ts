/**
 * CPU time of processes, read from /proc (Linux): what the idle bench measures a browser (all
 * its processes) and a server by, from outside, without waking them.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

interface Stat {
  ppid: number;
  cpuMs: number;
}

function stat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_SECOND };
  } catch {
    return undefined; // gone meanwhile
  }
}

/** `root` and every process descended from it. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const s = stat(pid);
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(pid);
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * CPU time used so far by `root` and each of its descendants, in ms, with the kind of process:
 * Chromium names it with --type (renderer, utility with --utility-sub-type, gpu-process); the
 * root is the browser process.
 */
export function treeCpuByProcess(root: number): Map<number, { kind: string; cpuMs: number }> {
  const out = new Map<number, { kind: string; cpuMs: number }>();
  for (const pid of processTree(root)) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const type = /--type=([a-z-]+)/.exec(cmd)?.[1];
    const sub = /--utility-sub-type=([A-Za-z.]+)/.exec(cmd)?.[1]?.split('.').pop();
    const kind = type === undefined ? (pid === root ? 'browser' : 'other') : sub ? `${type}:${sub}` : type;
    const s = stat(pid);
    if (s) out.set(pid, { kind, cpuMs: s.cpuMs });
  }
  return out;
}

/** CPU time used so far by one process (all its threads), in ms. */
export function cpuMs(pid: number): number {
  return stat(pid)?.cpuMs ?? 0;
}
