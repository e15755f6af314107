/**
 * Figure 4: routing at scale, from the simulator (the real core, real Ed25519, virtual time):
 * hops and links per node at several N, each run in a child process with its own time limit,
 * and their growth against log2 N drawn to docs/routing-scale.svg.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from './run.js';
import { ROOT, round } from './lib.js';

interface Run {
  nodes: number;
  log2N: number;
  hopsMean?: number;
  hopsP50?: number;
  hopsP99?: number;
  linksMean?: number;
  linksMax?: number;
  deliveryRate?: number;
  converged?: boolean;
  wallSeconds?: number;
  peakRssMB?: number;
  error?: string;
}

function simulate(nodes: number, messages: number, limitMs: number): Promise<Run> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/sim-child.ts'), String(nodes), String(messages)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let lastProgress = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (lastProgress = d.toString().trim().split('\n').pop() ?? lastProgress));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    // If the whole bench ends first (its own time limit for this part), take the child along.
    const onExit = () => child.kill('SIGKILL');
    process.once('exit', onExit);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      process.off('exit', onExit);
      const base = { nodes, log2N: round(Math.log2(nodes), 2)! };
      const line = out.trim().split('\n').pop();
      if (code === 0 && line) {
        const r = JSON.parse(line);
        return resolve({
          ...base,
          hopsMean: r.hopsMean, hopsP50: r.hopsP50, hopsP99: r.hopsP99, linksMean: r.linksMean, linksMax: r.linksMax,
          deliveryRate: r.deliveryRate, converged: r.converged, wallSeconds: r.wallSeconds, peakRssMB: r.peakRssMB,
        });
      }
      const why = signal === 'SIGKILL' ? `did not finish within ${Math.round(limitMs / 1000)} s (last progress: ${lastProgress})` : `exited ${code ?? signal}: ${lastProgress}`;
      resolve({ ...base, wallSeconds: Math.round((Date.now() - started) / 1000), error: why });
    });
  });
}

export async function routing(c: BenchContext): Promise<Record<string, unknown>> {
  // N = 10 000 takes about 7 minutes on this 2-core machine when it is idle: the full run gives
  // it what is left of a 12-minute budget and records how far it got on a busier machine;
  // --routing-long lets it run to the end whatever the load.
  const plan = c.quick ? [300, 1000] : [300, 1000, 3000, 10_000];
  const budgetEnd = Date.now() + (c.long ? 4 * 3_600_000 : c.quick ? 140_000 : 720_000);
  const runs: Run[] = [];
  for (const n of plan) {
    const left = budgetEnd - Date.now();
    if (left < 30_000) {
      runs.push({ nodes: n, log2N: round(Math.log2(n), 2)!, error: 'not started: the routing time budget was spent' });
      continue;
    }
    runs.push(await simulate(n, c.quick ? 300 : 1000, left));
  }
  const ok = runs.filter((r) => r.hopsMean !== undefined);
  // hops / log2 N at each N: flat means logarithmic growth.
  const perLog = ok.map((r) => ({ nodes: r.nodes, hopsPerLog2N: round(r.hopsMean! / r.log2N), linksPerLog2N: round(r.linksMean! / r.log2N) }));
  const svg = plot(ok);
  writeFileSync(join(ROOT, 'docs/routing-scale.svg'), svg);
  return {
    runs,
    perLog2N: perLog,
    notRun: c.quick
      ? 'N = 10 000 and 100 000 (quick mode)'
      : 'N = 100 000: the simulator takes about 7 minutes and 3.4 GB for 10 000 nodes; 100 000 would need over an hour and tens of GB, far past the bench budget',
    svg: 'docs/routing-scale.svg',
  };
}

/** A small hand-made SVG: mean and p99 hops, and mean links / 10, against log2 N, with log2 N itself for reference. */
export function plot(runs: Run[]): string {
  const W = 560, H = 340, L = 56, R = 150, T = 40, B = 48;
  const xs = runs.map((r) => r.log2N);
  const xMin = Math.floor(Math.min(7, ...xs)), xMax = Math.ceil(Math.max(14, ...xs));
  const series = [
    { name: 'hops, mean', color: '#1f77b4', pts: runs.map((r) => [r.log2N, r.hopsMean!]) },
    { name: 'hops, p99', color: '#ff7f0e', pts: runs.map((r) => [r.log2N, r.hopsP99!]) },
    { name: 'links per node / 10', color: '#2ca02c', pts: runs.map((r) => [r.log2N, r.linksMean! / 10]) },
    { name: 'log2 N / 2 (reference)', color: '#999', dash: true, pts: [[xMin, xMin / 2], [xMax, xMax / 2]] },
  ];
  const yMax = Math.ceil(Math.max(8, ...series.flatMap((s) => s.pts.map((p) => p[1]!))));
  const px = (x: number) => Math.round((L + ((x - xMin) / (xMax - xMin)) * (W - L - R)) * 10) / 10;
  const py = (y: number) => Math.round((H - B - (y / yMax) * (H - T - B)) * 10) / 10;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${L}" y="20" font-size="14" font-weight="bold">Meshwork routing at scale (simulator, link budget 24)</text>`);
  for (let x = xMin; x <= xMax; x++) {
    parts.push(`<line x1="${px(x)}" y1="${py(0)}" x2="${px(x)}" y2="${py(yMax)}" stroke="#eee"/>`);
    parts.push(`<text x="${px(x)}" y="${H - B + 16}" text-anchor="middle">${x}</text>`);
  }
  for (let y = 0; y <= yMax; y++) {
    parts.push(`<line x1="${L}" y1="${py(y)}" x2="${W - R}" y2="${py(y)}" stroke="#eee"/>`);
    parts.push(`<text x="${L - 6}" y="${py(y) + 4}" text-anchor="end">${y}</text>`);
  }
  parts.push(`<line x1="${L}" y1="${py(0)}" x2="${W - R}" y2="${py(0)}" stroke="#333"/><line x1="${L}" y1="${py(0)}" x2="${L}" y2="${py(yMax)}" stroke="#333"/>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">log2 N (N = nodes)</text>`);
  series.forEach((s, i) => {
    const d = s.pts.map((p, k) => `${k ? 'L' : 'M'}${px(p[0]!).toFixed(1)},${py(p[1]!).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ' stroke-dasharray="5,4"' : ''}/>`);
    if (!s.dash) for (const p of s.pts) parts.push(`<circle cx="${px(p[0]!).toFixed(1)}" cy="${py(p[1]!).toFixed(1)}" r="3.5" fill="${s.color}"><title>${s.name}: ${round(p[1]!, 2)} at log2 N = ${p[0]}</title></circle>`);
    const ly = T + 10 + i * 18;
    parts.push(`<line x1="${W - R + 12}" y1="${ly}" x2="${W - R + 32}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash ? ' stroke-dasharray="5,4"' : ''}/>`);
    parts.push(`<text x="${W - R + 36}" y="${ly + 4}">${s.name}</text>`);
  });
  runs.forEach((r, i) => parts.push(`<text x="${W - R + 12}" y="${T + 100 + i * 16}" fill="#555">N=${r.nodes}: ${r.hopsMean} hops, ${r.linksMean} links</text>`));
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
