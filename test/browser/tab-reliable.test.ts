/**
 * Reliable datagrams on the tab's data plane (docs/DATA-PLANE.md, "Reliable datagrams"), in real
 * Chromium and Firefox over a real WebRTC link: a tab that hosts the bound link to the peer
 * sends, retries and takes the acks of its reliable datagrams itself, and takes the peer's,
 * delivers them and writes their acks itself (`status().fastPath` counts them; neither node's
 * worker sends one, acks one or takes an ack); a message written twice on the wire, and the same
 * message id sent again through the node (what a send that falls back does), are delivered once;
 * sends in flight when the peer's host tab closes go on through the node under their ids, each
 * acked and delivered once; and the receiving host tab closing mid-sequence delivers nothing
 * twice and every acked message once (its window handed back to its node); a second tab of the app,
 * without the link, sends its own through the host tab and takes their acks from it (one leg each
 * way; A's worker writes none). Test/core/tab-reliable.test.ts and relay-reliable.test.ts check the
 * rules without browsers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Page } from 'puppeteer-core';
import { bootTab, browserAndServer, buildBundles, ENGINES, ensureBrowsers, log, waitFor, waitForRtcLinks, withLogs } from './harness.js';
import { fastOf, inbox, probeUntil } from './fast-path-pages.js';

ensureBrowsers();
buildBundles();

/** The node's own counters (its worker): packets it sent straight into a bound channel, and its drops. */
const nodeOf = (page: Page): Promise<{ directSent: number; dropped: Record<string, number> }> =>
  page.evaluate(() => (window as any).mesh.status().then((s: any) => ({ directSent: s.e2e.directSent, dropped: s.counters.dropped })));
/** Reliable datagrams `prefix<i>` for i in [from, to), port 5, one after another; the outcomes in order. */
const sendReliable = (page: Page, to: string, prefix: string, n: number, deadlineMs = 5_000): Promise<string[]> =>
  page.evaluate(
    async (t, p, count, ms) => {
      const out: string[] = [];
      for (let i = 0; i < count; i++) await (window as any).mesh.send(t, `${p}${i}`, { port: 5, reliable: true, deadlineMs: ms }).then(() => out.push('ok'), (e: any) => out.push(String(e.code ?? e)));
      return out;
    },
    to,
    prefix,
    n,
    deadlineMs,
  );

for (const engine of ENGINES) {
  describe(`reliable datagrams on the tab data plane (${engine})`, () => {
    const suite = browserAndServer(engine);

    async function linked(name: string) {
      const { browser, server } = suite;
      const ctxA = await browser.createBrowserContext();
      const ctxB = await browser.createBrowserContext();
      const a = await bootTab(ctxA, server.http, `${engine}:${name}:A`, { bootstrap: [server.url] });
      const b = await bootTab(ctxB, server.http, `${engine}:${name}:B`, { bootstrap: [server.url] });
      await waitForRtcLinks(a.page, [b.id], 'A linked to B over webrtc');
      await waitForRtcLinks(b.page, [a.id], 'B linked to A over webrtc');
      await waitFor('both tabs hold a bound grant', async () => (await fastOf(a.page)).bound === 1 && (await fastOf(b.page)).bound === 1, 20_000);
      return { ctxA, ctxB, a, b };
    }

    test('two one-tab browsers: reliable sends each way go and are acked in the tabs; neither worker sends one or takes an ack', () =>
      withLogs(async () => {
        const { ctxA, ctxB, a, b } = await linked('plain');
        const [na0, nb0, fa0, fb0] = [await nodeOf(a.page), await nodeOf(b.page), await fastOf(a.page), await fastOf(b.page)];
        const N = 20;
        assert.deepEqual(await sendReliable(a.page, b.id, 'r', N), Array(N).fill('ok'), "A's sends all acked");
        assert.deepEqual(await sendReliable(b.page, a.id, 'back', N), Array(N).fill('ok'), "B's sends all acked");
        assert.deepEqual(await inbox(b.page, a.id, 'r'), Array.from({ length: N }, (_, i) => `r${i}`), 'B got each once, in order');
        assert.deepEqual(await inbox(a.page, b.id, 'back'), Array.from({ length: N }, (_, i) => `back${i}`), 'A got each once, in order');
        const [na1, nb1, fa1, fb1] = [await nodeOf(a.page), await nodeOf(b.page), await fastOf(a.page), await fastOf(b.page)];
        log(`A ${JSON.stringify(fa1)} node ${JSON.stringify(na1)}\nB ${JSON.stringify(fb1)} node ${JSON.stringify(nb1)}`);
        for (const [f0, f1, who] of [[fa0, fa1, 'A'], [fb0, fb1, 'B']] as const) {
          assert.equal(f1.reliableSent - f0.reliableSent, N, `${who}'s tab sent its ${N} itself`);
          assert.equal(f1.reliableAcked - f0.reliableAcked, N, `${who}'s tab took the ${N} acks`);
          assert.equal(f1.reliableToNode - f0.reliableToNode, 0, `${who}: none handed to the node`);
          assert.equal(f1.reliableIn - f0.reliableIn, N, `${who}'s tab took the other's ${N} itself`);
          assert.ok(f1.reliableAckedOut - f0.reliableAckedOut >= N, `${who}'s tab wrote their acks`);
        }
        // Neither node sent anything into the bound channel: no datagram, no ack (before: each worker acked the other's N).
        assert.equal(na1.directSent - na0.directSent, 0, "A's worker sent no ack");
        assert.equal(nb1.directSent - nb0.directSent, 0, "B's worker sent no ack");
        for (const n of [na1, nb1]) for (const r of ['late-ack', 'reliable-in-tab', 'duplicate-reliable']) assert.equal(n.dropped[r] ?? 0, 0, `no ${r} at a worker: none reached it`);
        await ctxA.close();
        await ctxB.close();
      }));

    test('a message written twice on the wire, then sent again under its id through the node: delivered once, every send resolves', () =>
      withLogs(async () => {
        const { ctxA, ctxB, a, b } = await linked('twice');
        const d0 = (await fastOf(b.page)).dropped['fast:duplicate-reliable'] ?? 0;
        // The network doubles A's copies (each written twice on the DataChannel), and the id is kept to send again.
        const r: any = await a.page.evaluate(`(async () => {
          const fast = window.mesh.fast, rel = fast.reliable, host = rel.host;
          let id = 0;
          const nextId = rel.nextId.bind(rel);
          rel.nextId = function () { return (id = nextId()); };
          rel.host = { grant: host.grant, write: function (g, p) { return host.write(g, p).then(function () { return host.write(g, p); }); } };
          const first = await window.mesh.send(${JSON.stringify(b.id)}, 'dup', { port: 5, reliable: true, deadlineMs: 5000 }).then(function () { return 'ok'; }, function (e) { return String(e.code); });
          rel.host = host;
          rel.nextId = nextId;
          const again = await window.mesh.call({ op: 'send', to: ${JSON.stringify(b.id)}, data: 'dup', port: 5, reliable: true, deadlineMs: 5000, messageId: id }).then(function () { return 'ok'; }, function (e) { return String(e.code); });
          return { first, again, id };
        })()`);
        log(`A: ${JSON.stringify(r)}`);
        assert.deepEqual([r.first, r.again], ['ok', 'ok'], 'the send resolved, and so did the same id through the node (acked as a copy)');
        const dups = await waitFor("B's tab saw both copies again", async () => {
          const d = ((await fastOf(b.page)).dropped['fast:duplicate-reliable'] ?? 0) - d0;
          return d >= 2 && d;
        }, 5_000, 50);
        log(`B's tab: ${dups} copies dropped as duplicates (and acked)`);
        assert.deepEqual(await inbox(b.page, a.id, 'dup'), ['dup'], 'delivered once');
        await ctxA.close();
        await ctxB.close();
      }));

    test("sends in flight when the peer's host tab closes go on through the node under their ids: each settles, none delivered twice", () =>
      withLogs(async () => {
        const { browser, server } = suite;
        const ctxA = await browser.createBrowserContext();
        const ctxB = await browser.createBrowserContext();
        const a = await bootTab(ctxA, server.http, `${engine}:closing:A`, { bootstrap: [server.url] });
        // B's tabs are of another app: nothing there listens to A's app, so A's sends stay unacked, retried in A's tab.
        const b = await bootTab(ctxB, server.http, `${engine}:closing:B`, { bootstrap: [server.url], app: 'other' });
        await waitForRtcLinks(a.page, [b.id], 'A linked to B over webrtc');
        await waitFor("A's tab holds a bound grant for B", async () => (await fastOf(a.page)).bound === 1, 20_000);
        // A second tab keeps B's node up when the first, which hosts the link, closes.
        await bootTab(ctxB, server.http, `${engine}:closing:B2`, { bootstrap: [server.url], app: 'other' });
        const N = 10;
        await a.page.evaluate(
          (t, n) => {
            const w = window as any;
            w.R = Array(n).fill('pending');
            for (let i = 0; i < n; i++) w.mesh.send(t, `c${i}`, { port: 5, reliable: true, deadlineMs: 8_000 }).then(() => (w.R[i] = 'ok'), (e: any) => (w.R[i] = String(e.code ?? e)));
          },
          b.id,
          N,
        );
        await waitFor("A's tab retried them", async () => (await fastOf(a.page)).reliableCopies >= 2 * N, 5_000, 50);
        const t0 = Date.now();
        await b.page.close({ runBeforeUnload: false });
        await waitFor("A's tab handed them to its node", async () => (await fastOf(a.page)).reliableToNode === N, 5_000, 20);
        // Now a tab of A's app listens at B: the node's copies (same ids) reach it.
        const b3 = await bootTab(ctxB, server.http, `${engine}:closing:B3`, { bootstrap: [server.url] });
        const outcomes: string[] = await waitFor('every send settled', () => a.page.evaluate(() => ((window as any).R.includes('pending') ? undefined : (window as any).R)), 10_000, 50);
        const got = await inbox(b3.page, a.id, 'c');
        const fa = await fastOf(a.page);
        console.log(`# settled ${Date.now() - t0} ms after the close: ${JSON.stringify(outcomes)}; B3 got ${got.length}; A ${fa.reliableCopies} copies, ${fa.reliableToNode} handed over`);
        assert.deepEqual(outcomes, Array(N).fill('ok'), 'each acked, through the node');
        assert.deepEqual([...got].sort(), Array.from({ length: N }, (_, i) => `c${i}`).sort(), 'each delivered once');
        await ctxA.close();
        await ctxB.close();
      }));

    test("an app with two tabs: the host tab takes the peer's reliable datagrams, delivers them, passes them to the other tab and acks them; the other tab's go and are acked through it; the worker none", () =>
      withLogs(async () => {
        const { ctxA, ctxB, a, b } = await linked('multi');
        const a2 = await bootTab(ctxA, suite.server.http, `${engine}:multi:A2`, { bootstrap: [suite.server.url] });
        // The grant passes and the node's list of listening tabs reach A's host tab a moment after A2 attached: probe until one is taken there.
        await probeUntil("A's host tab takes B's reliable datagrams for both tabs", async (i) => {
          const before = (await fastOf(a.page)).reliableIn;
          assert.deepEqual(await sendReliable(b.page, a.id, `probe${i}-`, 1), ['ok']);
          return (await fastOf(a.page)).reliableIn > before;
        });
        const [na0, fa0] = [await nodeOf(a.page), await fastOf(a.page)];
        const N = 20;
        assert.deepEqual(await sendReliable(b.page, a.id, 'm', N), Array(N).fill('ok'), "B's sends all acked");
        const want = Array.from({ length: N }, (_, i) => `m${i}`);
        assert.deepEqual(await inbox(a.page, b.id, 'm'), want, 'the host tab got each once, in order');
        await waitFor('the second tab got them', async () => (await inbox(a2.page, b.id, 'm')).length >= N, 5_000, 50);
        assert.deepEqual(await inbox(a2.page, b.id, 'm'), want, 'the second tab got each once, in order');
        const [na1, fa1] = [await nodeOf(a.page), await fastOf(a.page)];
        log(`A1 ${JSON.stringify(fa1)} node ${JSON.stringify(na1)}`);
        assert.equal(fa1.reliableIn - fa0.reliableIn, N, 'taken in the host tab');
        assert.ok(fa1.relayedData - fa0.relayedData >= N, 'passed to the second tab over its channel');
        assert.equal(na1.directSent - na0.directSent, 0, "A's worker acked none");
        for (const r of ['reliable-in-tab', 'duplicate-reliable']) assert.equal((na1.dropped[r] ?? 0) - (na0.dropped[r] ?? 0), 0, `no ${r} at A's worker`);
        // The second tab's reliable sends to B (a relay grant: the link is A1's): each copy A2 -> A1 -> DataChannel, the Ack
        // back A1 -> A2 by message id (docs/DATA-PLANE.md, "Reliable datagrams from a tab without the link"). A2's relay
        // grant may come a moment after its channel: probe until one is acked through A1 (with the feature off, never).
        await probeUntil("A2's reliable sends go through A1 and their acks come back from it", async (i) => {
          const before = (await fastOf(a2.page)).reliableAckedViaTab;
          assert.deepEqual(await sendReliable(a2.page, b.id, `probe2-${i}-`, 1), ['ok']);
          return (await fastOf(a2.page)).reliableAckedViaTab > before;
        });
        const [na2, f1a, f2a, fb2] = [await nodeOf(a.page), await fastOf(a.page), await fastOf(a2.page), await fastOf(b.page)];
        assert.deepEqual(await sendReliable(a2.page, b.id, 'up', N), Array(N).fill('ok'), "A2's sends all acked");
        assert.deepEqual(await inbox(b.page, a.id, 'up'), Array.from({ length: N }, (_, i) => `up${i}`), 'B got each once, in order');
        const [na3, f1b, f2b, fb3] = [await nodeOf(a.page), await fastOf(a.page), await fastOf(a2.page), await fastOf(b.page)];
        log(`A1 ${JSON.stringify(f1b)}\nA2 ${JSON.stringify(f2b)} node ${JSON.stringify(na3)}`);
        assert.equal(f2b.reliableSent - f2a.reliableSent, N, 'A2 sent them itself');
        assert.equal(f2b.reliableAckedViaTab - f2a.reliableAckedViaTab, N, 'and took every ack from A1');
        assert.equal(f2b.reliableToNode - f2a.reliableToNode, 0, 'none handed to the node');
        assert.ok(f1b.relayedReliable - f1a.relayedReliable >= N, 'A1 wrote their copies');
        assert.equal(f1b.relayedAcks - f1a.relayedAcks, N, 'and passed their acks back');
        assert.equal(fb3.reliableIn - fb2.reliableIn, N, "B's tab took them (the wire is a host tab's own)");
        assert.equal(na3.directSent - na2.directSent, 0, "A's worker wrote no copy (before: every copy went tab -> worker -> A1)");
        for (const r of ['late-ack', 'reliable-in-tab']) assert.equal((na3.dropped[r] ?? 0) - (na2.dropped[r] ?? 0), 0, `no ${r} at A's worker`);
        await ctxA.close();
        await ctxB.close();
      }));

    test('the receiving host tab closes mid-sequence: nothing delivered twice, every acked message delivered (its window handed back to its node)', () =>
      withLogs(async () => {
        const { browser, server } = suite;
        const ctxA = await browser.createBrowserContext();
        const ctxB = await browser.createBrowserContext();
        const a = await bootTab(ctxA, server.http, `${engine}:rx-close:A`, { bootstrap: [server.url] });
        const b1 = await bootTab(ctxB, server.http, `${engine}:rx-close:B1`, { bootstrap: [server.url] });
        await waitForRtcLinks(a.page, [b1.id], 'A linked to B over webrtc');
        await waitFor('both tabs hold a bound grant', async () => (await fastOf(a.page)).bound === 1 && (await fastOf(b1.page)).bound === 1, 20_000);
        // Another app's tab keeps B's node up when B1 goes (B1 stays its app's only tab, so it keeps taking A's datagrams).
        await bootTab(ctxB, server.http, `${engine}:rx-close:B2`, { bootstrap: [server.url], app: 'other' });
        // B1 counts what it delivers where B's tabs can read it after it closed.
        await b1.page.evaluate(() => (window as any).mesh.onMessage((m: any) => m.port === 5 && localStorage.setItem(`got:${m.data}`, String(Number(localStorage.getItem(`got:${m.data}`) ?? 0) + 1))));
        const N = 400;
        const G = 100;
        // Four sends in flight at a time (each next one when one settles: no timer, which a background
        // page slows). The first G go before B1 closes; the rest wait at a gate the test opens just
        // before it closes B1, so the close lands while sends are in flight whatever the machine's
        // speed (an ungated sequence could finish before the close on a quiet machine).
        await a.page.evaluate(`(function () {
          var w = window, n = ${N}, gate = ${G}, next = 0;
          w.R = new Array(n).fill('pending');
          w.parked = [];
          w.release = function () { w.go = true; var p = w.parked; w.parked = []; p.forEach(function (f) { f(); }); };
          function one() {
            if (next >= gate && !w.go) { w.parked.push(one); return; }
            var k = next++;
            if (k >= n) return;
            w.mesh.send(${JSON.stringify(b1.id)}, 's' + k, { port: 5, reliable: true, deadlineMs: 15000 })
              .then(function () { w.R[k] = 'ok'; }, function (e) { w.R[k] = String(e.code || e); })
              .then(one);
          }
          for (var j = 0; j < 4; j++) one();
        })()`);
        const acked = () => a.page.evaluate(() => (window as any).R.filter((r: string) => r === 'ok').length as number);
        await waitFor('the first sends acked by B1, the rest held at the gate', async () => (await acked()) === G && (await a.page.evaluate(() => (window as any).parked.length)) === 4, 10_000, 10);
        const fb1 = await fastOf(b1.page);
        await a.page.evaluate(() => (window as any).release());
        await b1.page.close({ runBeforeUnload: false });
        // A tab of the app listens at B again: what B1 did not ack reaches it through B's node.
        const b3 = await bootTab(ctxB, server.http, `${engine}:rx-close:B3`, { bootstrap: [server.url] });
        const outcomes: string[] = await waitFor('every send settled', () => a.page.evaluate(() => ((window as any).R.includes('pending') ? undefined : (window as any).R)), 20_000, 50);
        const inB1: Record<string, number> = await b3.page.evaluate(() => {
          const out: Record<string, number> = {};
          for (let i = 0; i < localStorage.length; i++) {
            const k = localStorage.key(i)!;
            if (k.startsWith('got:')) out[k.slice(4)] = Number(localStorage.getItem(k));
          }
          return out;
        });
        const inB3 = await inbox(b3.page, a.id, 's');
        const nb = await nodeOf(b3.page);
        log(`B1 before closing: ${JSON.stringify(fb1)}\nB's node: ${JSON.stringify(nb.dropped)}`);
        console.log(`# ${G} acked before the gate opened; B1 delivered ${Object.keys(inB1).length}, B3 ${inB3.length}; B's node refused ${nb.dropped['reliable-in-tab'] ?? 0} copies while B1 held the window; ${outcomes.filter((o) => o === 'ok').length}/${N} acked in the end`);
        const byB1 = Object.keys(inB1).length;
        assert.ok(byB1 >= G && byB1 < N && inB3.length > 0, `the close came mid-sequence (B1 delivered ${byB1}, B3 ${inB3.length} of ${N})`);
        assert.ok(fb1.reliableIn > 0, 'B1 took some itself');
        for (let i = 0; i < N; i++) {
          const times = (inB1[`s${i}`] ?? 0) + inB3.filter((d) => d === `s${i}`).length;
          assert.ok(times <= 1, `s${i} delivered ${times} times`);
          if (outcomes[i] === 'ok') assert.equal(times, 1, `s${i} acked, so delivered`);
        }
        assert.deepEqual(outcomes, Array(N).fill('ok'), 'each acked in the end (B1, or B3 through the node)');
        await ctxA.close();
        await ctxB.close();
      }));
  });
}
