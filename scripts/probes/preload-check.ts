import { join } from 'node:path';
import { launchChromium, ROOT } from '../../bench/lib.js';
import { startNode } from '../../src/server/index.js';
const node = await startNode({ port: 0, static: join(ROOT, 'bench', 'pages') });
const origin = `http://127.0.0.1:${new URL(node.url!).port}`;
const browser = await launchChromium();
const wait = Number(process.argv[2] ?? 1000);
for (const q of ['?preload', '', '?preload', '', '?preload', '']) {
  await Promise.all([0, 1].map(async (n) => {
  const ctx = await browser.createBrowserContext();
  const page = await ctx.newPage();
  await page.goto(`${origin}/mesh.html${q}`);
  await page.waitForFunction(() => (window as any).ready === true);
  const t = wait ? await page.evaluate(() => (window as any).preloaded?.started.then(() => performance.timeOrigin + performance.now())) : undefined;
  if (wait) await new Promise((r) => setTimeout(r, wait));
  await page.evaluate((ws: string) => (window as any).T.boot({ bootstrap: [ws] }), node.url!);
  const boot = await page.evaluate(() => (window as any).mesh.status().then((s: any) => s.boot));
  const c = boot.tab.connect;
  console.log(q, 'started', t ? Math.round(t - c) : '-', Object.entries(boot.node).map(([k, v]) => `${k} ${Math.round((v as number) - c)}`).join(', '));
  await ctx.close();
  }));
}
await browser.close(); await node.stop();
