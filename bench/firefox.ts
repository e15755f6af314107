/**
 * Figure 1 again, in Firefox: the mesh path against a raw RTCDataChannel between two pages of
 * the same Firefox, in the same run (firefox.rttRatioP50, firefox.throughputRatio). Firefox is
 * launched here (Debian's firefox-esr through puppeteer-core's WebDriver BiDi) and closed after.
 */
import type { BrowserContext } from 'puppeteer-core';
import { latency } from './latency.js';
import { launchFirefox } from './lib.js';
import type { BenchContext } from './run.js';

export async function firefox(c: BenchContext): Promise<Record<string, unknown>> {
  const browser = await launchFirefox();
  const contexts: BrowserContext[] = [];
  try {
    const fc: BenchContext = {
      ...c,
      browser,
      async context() {
        const ctx = await browser.createBrowserContext();
        contexts.push(ctx);
        return ctx;
      },
    };
    const r = await latency(fc, { peerjs: false, diagnostics: false });
    const keep = ['rttRatioP50', 'rttRatioP99', 'throughputRatio', 'throughputRatioRoundMedian', 'rawRttP50Ms', 'meshRttP50Ms', 'rawMBps', 'meshMBps', 'rawMBpsRounds', 'meshMBpsRounds', 'meshToOwnNodeMBps', 'meshTputLoss', 'crossOriginIsolated', 'samples', 'nodePathRttP50Ms', 'nodePathMBps', 'nodePathRttRatioP50', 'nodePathThroughputRatio', 'nodePathError', 'fastPathRequests', 'fastPathSent'];
    return { browser: await browser.version(), ...Object.fromEntries(keep.map((k) => [k, r[k]])) };
  } finally {
    await Promise.all(contexts.map((x) => x.close().catch(() => undefined)));
    await browser.close().catch(() => undefined);
  }
}
