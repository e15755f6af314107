/**
 * The network lab: the per-address link cap refusing a WebRTC link between real browsers. Home 1
 * holds a Chromium node that keeps at most one link per network address
 * (`connect({ maxLinksPerAddress: 1 })`); home 2 holds two Chromium nodes behind one cone NAT, so
 * both reach home 1 from the same public address (198.51.100.22, the router's WAN side). The
 * node in home 1 learns that address from the selected ICE candidate pair (the hosting tab's
 * getStats, src/browser/rtc-host.ts), keeps one of the two, refuses the other as ADDRESS_LIMIT
 * (counted in its status), and traffic from the refused node still reaches it through the mesh.
 * The control: another node in home 1 with the default cap (16) links to both.
 *
 * Every node runs with idleLinkMs 0 (a test-only value: idle links never close), so the one
 * link the cap allows stays up for the whole test instead of closing after the default 120 s and
 * making room. Skipped, with the reason, where the lab cannot run (not root).
 */
import assert from 'node:assert/strict';
import { before, describe } from 'node:test';
import { Lab, labUnavailable } from './netns.js';
import { bootPage, browserIn, labSuite, requests, startServer, statusOf, waitFor, type LabStatus } from './scenario.js';

type Booted = Awaited<ReturnType<typeof bootPage>>;
const skip = labUnavailable();
/** Home 2's router, as every host outside home 2 sees its browsers (netns.ts). */
const HOME2_PUBLIC = '198.51.100.22';

describe('lab: the per-address cap refuses a WebRTC link from a second browser behind one NAT', { skip, timeout: 400_000 }, () => {
  const lab = new Lab(['cone', 'cone']);
  const { log, browsers, step } = labSuite(lab);
  let capped: Booted;
  let behindNat: [Booted, Booted];

  before(async () => {
    await lab.up();
    await startServer(lab, [], log);
    const home1 = browserIn(lab, 1, 'chromium');
    const home2 = browserIn(lab, 2, 'chromium');
    browsers.push(home1, home2);
    capped = await bootPage(home1, { maxLinksPerAddress: 1, idleLinkMs: 0 });
    // Two pages of one browser: two contexts, two nodes, one NAT in front of both.
    behindNat = [await bootPage(home2, { idleLinkMs: 0 }), await bootPage(home2, { idleLinkMs: 0 })];
  });

  step('home 1 keeps one WebRTC link from home 2 and refuses the other as ADDRESS_LIMIT; the refused node still reaches it', async () => {
    const ids = new Set(behindNat.map((b) => b.id));
    let last: LabStatus | undefined;
    // Both nodes of home 2 want a link to home 1 (a mesh of four wants every link): wait until one
    // is up with the NAT's address and home 1 has refused at least one handshake for that address.
    const kept = await waitFor(
      'one WebRTC link from home 2 with its public address, and an ADDRESS_LIMIT refusal',
      async () => {
        last = await statusOf(capped.page);
        const fromHome2 = last.links.filter((l) => l.transport === 'webrtc' && ids.has(l.id));
        const refused = last.counters.dropped['handshake:ADDRESS_LIMIT'] ?? 0;
        return fromHome2.length === 1 && fromHome2[0]!.address === HOME2_PUBLIC && refused >= 1 ? fromHome2[0] : undefined;
      },
      120_000,
      500,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; home 1's last status: ${JSON.stringify(last)}`);
    });
    const refusedNode = behindNat.find((b) => b.id !== kept.id)!;
    console.log(`# lab: home 1 kept ${kept.id.slice(0, 8)} (${kept.address}, ${kept.via}), refused ${refusedNode.id.slice(0, 8)}; refusals so far: ${last!.counters.dropped['handshake:ADDRESS_LIMIT']}`);

    // The refused node has no link to home 1, and its requests are answered all the same: through
    // the server (or the other node of home 2), i.e. through the mesh.
    const r = await requests(refusedNode.page, capped.id, 10, 100, 10_000);
    assert.equal(r.ok, 10, r.errors.join('; '));
    const [home1, refused] = await Promise.all([statusOf(capped.page), statusOf(refusedNode.page)]);
    assert.ok(!refused.links.some((l) => l.id === capped.id), `the refused node has no link to home 1: ${JSON.stringify(refused.links)}`);
    const fromHome2 = home1.links.filter((l) => l.transport === 'webrtc' && ids.has(l.id));
    assert.deepEqual(
      fromHome2.map((l) => l.id),
      [kept.id],
      `still the one link from ${HOME2_PUBLIC} after the requests: ${JSON.stringify(home1.links)}`,
    );
    // Home 1's other links (the server's WebSocket) are a different address and untouched.
    assert.ok(home1.links.some((l) => l.transport === 'websocket'), 'home 1 keeps its server link');
    console.log(`# lab: the refused node's counters: ${JSON.stringify(refused.counters.dropped)}`);
  });

  step('control: a node in home 1 with the default cap links to both nodes of home 2, both counted under the one NAT address', async () => {
    const open = await bootPage(browsers[0]!, { idleLinkMs: 0 });
    const ids = behindNat.map((b) => b.id);
    let last: LabStatus | undefined;
    await waitFor(
      'WebRTC links from the uncapped node to both nodes of home 2',
      async () => {
        last = await statusOf(open.page);
        const links = ids.map((id) => last!.links.find((l) => l.id === id && l.transport === 'webrtc'));
        return links.every((l) => l?.address === HOME2_PUBLIC);
      },
      120_000,
      500,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; its last status: ${JSON.stringify(last)}`);
    });
    assert.equal(last!.counters.dropped['handshake:ADDRESS_LIMIT'] ?? 0, 0, 'nothing refused under the default cap');
  });
});
