/**
 * The network lab: Linux network namespaces wired as a small internet. A bridge in `inet`
 * holds 198.51.100.0/24 (TEST-NET-2); the server namespace is 198.51.100.10; two NAT routers
 * sit at .21 and .22, each with a home behind it (10.N.0.2, default route through its router).
 *
 * Router kinds, as measured in /work/shared/probes (BROWSER-FACTS.md, "browsers behind NAT"):
 * - 'cone': MASQUERADE plus a WAN-side rule dropping unsolicited NEW packets. Without that
 *   rule the far side's first check creates a conntrack entry that takes the mapping, and
 *   the router picks another port for our own flow: hole punching then fails.
 * - 'symmetric': MASQUERADE --random-fully: a new port for every destination.
 *
 * Every namespace is named with this lab's prefix (the test process id and a counter), and
 * `down()` removes them all, killing what runs inside first; a lab left behind by a killed
 * test process is removed by the next lab that starts. No traffic leaves these namespaces.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { DelayLine, delayLineUnavailable } from './delay-line.js';

const run = promisify(execFile);

export type RouterKind = 'cone' | 'symmetric';

export const SERVER_IP = '198.51.100.10';

/** Why the lab cannot run here, or undefined when it can (root, ip, iptables, tc, turnserver). */
export function labUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'the network lab needs Linux';
  if (process.getuid?.() !== 0) return 'the network lab needs root (network namespaces, iptables)';
  for (const bin of ['/usr/sbin/ip', '/usr/sbin/iptables', '/usr/sbin/tc', '/usr/bin/turnserver']) {
    if (!existsSync(bin)) return `the network lab needs ${bin} (apt-get install -y iproute2 iptables coturn)`;
  }
  return undefined;
}

let labs = 0;

export interface LabOptions {
  /**
   * The lab will shape its WANs (`shape()`): where the kernel has no sch_netem, wire each WAN
   * through a delay line (delay-line.py between two TAPs) instead of a veth pair, so that
   * latency can still be added. Off by default: the other scenarios need no userspace hop.
   */
  shapeable?: boolean;
}

export class Lab {
  readonly prefix: string;
  /** Why the WANs carry no added delay even when shaped, if they cannot (printed by the tests). */
  noDelayReason: string | undefined;
  private readonly children = new Set<ChildProcess>();
  private made: string[] = [];
  private readonly delayLines: DelayLine[] = [];

  constructor(
    private readonly routers: [RouterKind, RouterKind],
    private readonly options: LabOptions = {},
  ) {
    this.prefix = `mwlab${process.pid}x${labs++}`;
  }

  ns(name: 'inet' | 'srv' | 'nat1' | 'nat2' | 'home1' | 'home2'): string {
    return `${this.prefix}-${name}`;
  }

  /** Runs `cmd` in namespace `ns` and resolves with its stdout; rejects with stderr on failure. */
  async exec(ns: string, ...cmd: string[]): Promise<string> {
    const { stdout } = await run('ip', ['netns', 'exec', ns, ...cmd]);
    return stdout;
  }

  async up(): Promise<void> {
    await removeOrphans();
    const ip = (...a: string[]) => run('ip', a);
    for (const n of ['inet', 'srv', 'nat1', 'nat2', 'home1', 'home2'] as const) {
      await ip('netns', 'add', this.ns(n));
      this.made.push(this.ns(n));
      await this.exec(this.ns(n), 'ip', 'link', 'set', 'lo', 'up');
    }
    const inet = this.ns('inet');
    await this.exec(inet, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    await this.exec(inet, 'ip', 'link', 'set', 'br0', 'up');
    // The veth ends are created straight in their namespaces: the root namespace never sees them.
    await ip('link', 'add', 'srv0', 'netns', this.ns('srv'), 'type', 'veth', 'peer', 'name', 'srv-br', 'netns', inet);
    await this.exec(inet, 'ip', 'link', 'set', 'srv-br', 'master', 'br0', 'up');
    await this.exec(this.ns('srv'), 'ip', 'addr', 'add', `${SERVER_IP}/24`, 'dev', 'srv0');
    await this.exec(this.ns('srv'), 'ip', 'link', 'set', 'srv0', 'up');
    const useDelayLines = this.options.shapeable === true && !(await this.hasNetem());
    if (useDelayLines) this.noDelayReason = delayLineUnavailable();
    for (const i of [1, 2] as const) {
      const nat = this.ns(`nat${i}`);
      const home = this.ns(`home${i}`);
      if (useDelayLines && !this.noDelayReason) {
        const line = await DelayLine.start((cmd) => this.spawn(nat, cmd), `wan${i}`, `nat${i}-br`);
        this.delayLines.push(line);
        await this.exec(nat, 'ip', 'link', 'set', `nat${i}-br`, 'netns', inet);
      } else {
        await ip('link', 'add', `wan${i}`, 'netns', nat, 'type', 'veth', 'peer', 'name', `nat${i}-br`, 'netns', inet);
      }
      await this.exec(inet, 'ip', 'link', 'set', `nat${i}-br`, 'master', 'br0', 'up');
      await this.exec(nat, 'ip', 'addr', 'add', `198.51.100.2${i}/24`, 'dev', `wan${i}`);
      await this.exec(nat, 'ip', 'link', 'set', `wan${i}`, 'up');
      await ip('link', 'add', `lan${i}`, 'netns', nat, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', home);
      await this.exec(nat, 'ip', 'addr', 'add', `10.${i}.0.1/24`, 'dev', `lan${i}`);
      await this.exec(nat, 'ip', 'link', 'set', `lan${i}`, 'up');
      await this.exec(home, 'ip', 'addr', 'add', `10.${i}.0.2/24`, 'dev', 'eth0');
      await this.exec(home, 'ip', 'link', 'set', 'eth0', 'up');
      await this.exec(home, 'ip', 'route', 'add', 'default', 'via', `10.${i}.0.1`);
      await this.exec(nat, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
      await this.exec(nat, 'iptables', '-A', 'INPUT', '-i', `wan${i}`, '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'DROP');
      // Nothing from the internet may open a connection into the home either.
      await this.exec(nat, 'iptables', '-A', 'FORWARD', '-i', `wan${i}`, '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'DROP');
      const masq = ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', `wan${i}`, '-j', 'MASQUERADE'];
      await this.exec(nat, ...masq, ...(this.routers[i - 1] === 'symmetric' ? ['--random-fully'] : []));
    }
  }

  /** Whether this kernel has sch_netem (tried on the internet namespace's loopback). */
  private async hasNetem(): Promise<boolean> {
    const inet = this.ns('inet');
    try {
      await this.exec(inet, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms');
    } catch (err) {
      if (/qdisc kind is unknown/.test((err as Error).message)) return false;
      throw err;
    }
    await this.exec(inet, 'tc', 'qdisc', 'del', 'dev', 'lo', 'root');
    return true;
  }

  /**
   * Latency and loss on both directions of each home's WAN link: with the delay lines where the
   * lab has them (a `shapeable` lab on a kernel without sch_netem, such as this project's
   * machine), else with netem; a kernel with neither gets the loss alone, from iptables'
   * statistic match. Resolves with whether the delay could be applied.
   */
  async shape(oneWayDelayMs: number, lossPercent: number): Promise<{ delay: boolean }> {
    if (this.delayLines.length > 0) {
      for (const line of this.delayLines) await line.shape(oneWayDelayMs, lossPercent);
      return { delay: true };
    }
    const netem = ['netem', 'delay', `${oneWayDelayMs}ms`, 'loss', `${lossPercent}%`];
    try {
      for (const i of [1, 2] as const) {
        await this.exec(this.ns(`nat${i}`), 'tc', 'qdisc', 'replace', 'dev', `wan${i}`, 'root', ...netem);
        await this.exec(this.ns('inet'), 'tc', 'qdisc', 'replace', 'dev', `nat${i}-br`, 'root', ...netem);
      }
      return { delay: true };
    } catch (err) {
      if (!/qdisc kind is unknown/.test((err as Error).message)) throw err;
    }
    for (const i of [1, 2] as const) {
      for (const dir of ['-i', '-o']) {
        const drop = ['-m', 'statistic', '--mode', 'random', '--probability', String(lossPercent / 100), '-j', 'DROP'];
        await this.exec(this.ns(`nat${i}`), 'iptables', '-I', 'FORWARD', dir, `wan${i}`, ...drop);
      }
    }
    return { delay: false };
  }

  /** Takes home `i`'s uplink down or up (the router's WAN interface). */
  async uplink(i: 1 | 2, up: boolean): Promise<void> {
    await this.exec(this.ns(`nat${i}`), 'ip', 'link', 'set', `wan${i}`, up ? 'up' : 'down');
  }

  /** Starts a long-running process in namespace `ns`; it is killed by `down()`. */
  spawn(ns: string, cmd: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...cmd], { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** Kills everything started in the lab and removes its namespaces. Safe to call twice. */
  async down(): Promise<void> {
    for (const c of this.children) if (c.pid) killGroup(c.pid);
    for (const ns of this.made) await killInside(ns);
    for (const ns of this.made.reverse()) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    this.made = [];
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Processes still running inside one of our namespaces (a browser's children) are ours: end them. */
async function killInside(ns: string): Promise<void> {
  const pids = await run('ip', ['netns', 'pids', ns]).then(
    (r) => r.stdout.split('\n').filter(Boolean).map(Number),
    () => [],
  );
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Namespaces of labs whose test process is gone (killed mid-test): removed before a new lab starts. */
async function removeOrphans(): Promise<void> {
  const list = await run('ip', ['netns', 'list']).then(
    (r) => r.stdout,
    () => '',
  );
  for (const line of list.split('\n')) {
    const m = /^(mwlab(\d+)x\d+-\w+)/.exec(line);
    if (!m || alive(Number(m[2]))) continue;
    await killInside(m[1]!);
    await run('ip', ['netns', 'del', m[1]!]).catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
