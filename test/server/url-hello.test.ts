/**
 * The dialler's hello in the WebSocket upgrade request (transports/url-hello.ts) at a real
 * server: taken as the link's first frame, refused with a reason when malformed or oversize, and
 * a dialler without it (an older client) served as before.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { encodeFrame, FrameType, type HelloFrame } from '../../src/core/codec.js';
import type { ServerNode } from '../../src/server/index.js';
import { helloUrl, HELLO_PROTOCOL, HELLO_PROTOCOLS, MAX_URL_HELLO_BYTES, PLAIN_PROTOCOL } from '../../src/transports/url-hello.js';
import { WebSocketLink } from '../../src/transports/websocket.js';
import { hello, RawPeer, seededIdentity, transcript } from '../helpers/mesh.js';
import { until, within } from '../helpers/wait.js';
import { client, server, stopAll } from './helpers.js';

const HUNG_MS = 15_000;

/** An upgrade the server refuses: its status and the reason in its body. */
function refusal(url: string, protocols: string[]): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url, protocols);
  ws.on('error', () => undefined);
  return within(
    new Promise((resolve, reject) => {
      ws.once('open', () => reject(new Error('the upgrade was accepted')));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
    }),
    HUNG_MS,
    'the refusal',
  );
}

describe("the dialler's hello in the upgrade URL", { timeout: 4 * HUNG_MS }, () => {
  let s: ServerNode;
  const dropped = (reason: string) => s.status().counters.dropped[reason] ?? 0;
  before(async () => {
    s = await server();
  });
  after(() => stopAll([s]));

  it("is taken as the link's first frame: the server's hello and proof come before we send a thing, and our proof links us", async () => {
    const identity = await seededIdentity('url-hello raw');
    const nonce = new Uint8Array(32).map((_, i) => 200 - i);
    const ws = new WebSocket(helloUrl(s.url!, encodeFrame(hello(identity, nonce))), HELLO_PROTOCOLS, { perMessageDeflate: false });
    ws.on('error', () => undefined);
    const raw = new RawPeer(new WebSocketLink(ws)); // from the start: the server's frames may ride with the 101
    await within(new Promise((resolve) => ws.once('open', resolve)), HUNG_MS, 'open');
    assert.equal(ws.protocol, HELLO_PROTOCOL);
    await until(() => raw.frames().some((f) => f.type === FrameType.Proof), HUNG_MS, "the server's proof, on our hello in the URL alone");
    const theirs = raw.frames().find((f): f is HelloFrame => f.type === FrameType.Hello)!;
    raw.send({ type: FrameType.Proof, signature: await identity.sign(transcript(identity.publicKey, theirs.nonce, nonce)) });
    await until(() => s.status().links.some((l) => l.id === identity.idText), HUNG_MS, 'our link at the server');
    ws.close();
  });

  it('malformed or oversize: refused 400 with the reason, and counted', async () => {
    const before = dropped('http:bad-hello');
    const bad = await refusal(`${s.url!}?hello=not*base64`, HELLO_PROTOCOLS);
    assert.equal(bad.status, 400);
    assert.match(bad.body, /not base64url/);
    const big = await refusal(helloUrl(s.url!, new Uint8Array(MAX_URL_HELLO_BYTES + 1)), HELLO_PROTOCOLS);
    assert.equal(big.status, 400);
    assert.match(big.body, /exceeds 1024 bytes/);
    assert.equal(dropped('http:bad-hello'), before + 2);
  });

  it('a dialler that offers no protocol (an older client) is served as before; one that offers only `meshwork` gets it', async () => {
    const identity = await seededIdentity('url-hello old');
    const ws = new WebSocket(s.url!, { perMessageDeflate: false });
    ws.on('error', () => undefined);
    const raw = new RawPeer(new WebSocketLink(ws));
    await within(new Promise((resolve) => ws.once('open', resolve)), HUNG_MS, 'open');
    assert.equal(ws.protocol, '');
    const nonce = new Uint8Array(32).fill(9);
    raw.send(hello(identity, nonce));
    await until(() => raw.frames().some((f) => f.type === FrameType.Proof), HUNG_MS, "the server's proof");
    const theirs = raw.frames().find((f): f is HelloFrame => f.type === FrameType.Hello)!;
    raw.send({ type: FrameType.Proof, signature: await identity.sign(transcript(identity.publicKey, theirs.nonce, nonce)) });
    await until(() => s.status().links.some((l) => l.id === identity.idText), HUNG_MS, 'the older client linked');
    ws.close();
    const plain = new WebSocket(s.url!, [PLAIN_PROTOCOL]);
    plain.on('error', () => undefined);
    await within(new Promise((resolve) => plain.once('open', resolve)), HUNG_MS, 'open');
    assert.equal(plain.protocol, PLAIN_PROTOCOL);
    plain.close();
  });

  it('a Node client links with its hello in the URL (sent once: a second hello would be refused)', async () => {
    const c = await client([s.url!]);
    try {
      await until(() => s.status().links.some((l) => l.id === c.id), HUNG_MS, 'the client linked');
      assert.equal(dropped('handshake:HANDSHAKE_FAILED'), 0);
    } finally {
      await stopAll([c]);
    }
  });
});
