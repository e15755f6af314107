/**
 * A WAN link with latency and loss where the kernel has no sch_netem: two TAP devices joined by
 * delay-line.py, one TAP in the NAT router's namespace (its WAN interface), the other moved to
 * the internet bridge's namespace. The script runs in the router's namespace as a lab child, so
 * `Lab.down()` kills it and the TAPs vanish with it.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const DELAY_LINE_SCRIPT = fileURLToPath(new URL('./delay-line.py', import.meta.url));

/** Why delay lines cannot run here (no python3), or undefined when they can. */
export function delayLineUnavailable(): string | undefined {
  try {
    execFileSync('python3', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'no python3 for the delay line (apt-get install -y python3)';
  }
}

export class DelayLine {
  private readonly replies: ((line: string) => void)[] = [];
  private stderr = '';

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (l) => this.replies.shift()?.(l));
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  /** Starts the script (via `spawn`, which runs it in the router's namespace); resolves once both TAPs exist. */
  static async start(spawn: (cmd: string[]) => ChildProcess, tapA: string, tapB: string): Promise<DelayLine> {
    const line = new DelayLine(spawn(['python3', DELAY_LINE_SCRIPT, tapA, tapB]));
    await line.reply('ready', 10_000);
    return line;
  }

  /** Sets the one-way delay and loss, both directions. */
  async shape(oneWayDelayMs: number, lossPercent: number): Promise<void> {
    this.child.stdin!.write(`shape ${oneWayDelayMs} ${lossPercent}\n`);
    await this.reply('ok', 5_000);
  }

  private reply(expected: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`the delay line did not answer "${expected}" in ${timeoutMs} ms: ${this.stderr}`)), timeoutMs);
      const onExit = (code: number | null) => (clearTimeout(t), reject(new Error(`the delay line exited ${code}: ${this.stderr}`)));
      this.child.once('exit', onExit);
      this.replies.push((l) => {
        clearTimeout(t);
        this.child.off('exit', onExit);
        if (l === expected) resolve();
        else reject(new Error(`the delay line answered "${l}", not "${expected}"`));
      });
    });
  }
}
