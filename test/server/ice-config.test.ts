/**
 * ICE servers handed out over the mesh: a node asks a server (a request to ICE_CONFIG_PORT,
 * end-to-end encrypted like any other) and gets the server's own STUN, the operator's URLs and
 * TURN REST credentials that coturn's `use-auth-secret` would accept.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { ICE_CAP, ICE_CONFIG_ASK, ICE_CONFIG_PORT, parseIceConfig, stunUrlFor } from '../../src/core/ice-protocol.js';
import { IceClient } from '../../src/browser/ice-client.js';
import type { ServerNode } from '../../src/server/index.js';
import { client, eventually, server } from './helpers.js';

describe('ICE config over the mesh', { timeout: 30_000 }, () => {
  const nodes: ServerNode[] = [];
  after(async () => {
    for (const n of nodes.reverse()) await n.stop();
  });

  it('hands out its STUN, the operator URLs and TURN credentials made from the secret', async () => {
    const s = await server({ iceServers: ['stun:stun.example:3478', 'turn:turn.example:3478?transport=udp', 'turns:turn.example:5349'], turnSecret: 's3cret', turnTtlSeconds: 600 });
    nodes.push(s);
    const c = await client([s.url!]);
    nodes.push(c);
    assert.ok(c.mesh.memory.get(s.id)?.caps.includes(ICE_CAP) ?? true);
    const before = Math.floor(Date.now() / 1000);
    const raw = await eventually(() => c.request(s.id, ICE_CONFIG_ASK, { port: ICE_CONFIG_PORT }), 10_000, 'the ICE config');
    const reply = parseIceConfig(raw);
    assert.ok(reply, `a well-formed reply: ${String(raw)}`);
    assert.equal(reply.ttlSeconds, 600);
    const port = new URL(s.url!).port;
    assert.deepEqual(reply.iceServers[0], { urls: [`stun:127.0.0.1:${port}`, 'stun:stun.example:3478'] });
    const turn = reply.iceServers[1]!;
    assert.deepEqual(turn.urls, ['turn:turn.example:3478?transport=udp', 'turns:turn.example:5349']);
    const [expiry, who] = turn.username!.split(':');
    assert.equal(who, c.id, 'the username names the asking node');
    assert.ok(Number(expiry) >= before + 600 && Number(expiry) <= before + 602, `expiry ${expiry} is now + ttl`);
    assert.equal(turn.credential, createHmac('sha1', 's3cret').update(turn.username!).digest('base64'));
  });

  it('leaves out its own STUN when it is off, and TURN when there is none', async () => {
    const s = await server({ stun: false });
    nodes.push(s);
    const c = await client([s.url!]);
    nodes.push(c);
    const reply = parseIceConfig(await eventually(() => c.request(s.id, ICE_CONFIG_ASK, { port: ICE_CONFIG_PORT }), 10_000, 'the ICE config'));
    assert.deepEqual(reply?.iceServers, []);
  });

  it("a browser node's ICE client starts with STUN at its bootstrap server, then uses the server's list", async () => {
    const s = await server({ iceServers: ['turn:turn.example:3478'], turnSecret: 'k' });
    nodes.push(s);
    const c = await client([s.url!]);
    nodes.push(c);
    const ice = new IceClient(() => c.mesh);
    ice.addBootstrap(s.url!);
    const port = new URL(s.url!).port;
    assert.deepEqual(ice.servers(), [{ urls: [`stun:127.0.0.1:${port}`] }]);
    await eventually(async () => assert.ok(c.mesh.linkIds().includes(s.id)), 10_000, 'the link to the server');
    ice.linkUp(s.id);
    await ice.ready(10_000);
    ice.stop();
    const st = ice.status();
    assert.equal(st.from, s.id);
    assert.equal(st.asks, 1);
    assert.ok(st.renewAt! > Date.now() + 2_800_000, 'renewed at four fifths of the hour');
    assert.deepEqual(st.servers[0], { urls: [`stun:127.0.0.1:${port}`] });
    assert.equal(st.servers[1]?.username?.endsWith(`:${c.id}`), true);
  });

  it('refuses TURN without a secret, and URLs that are not ICE URLs', async () => {
    await assert.rejects(server({ iceServers: ['turn:t.example'] }), { code: 'INVALID_ARGUMENT', message: /needs a TURN secret/ });
    await assert.rejects(server({ iceServers: ['http://t.example'] }), { code: 'INVALID_ARGUMENT', message: /not a stun:, turn: or turns: URL/ });
  });

  it('derives stun:host:port from a server URL, and checks replies', () => {
    assert.equal(stunUrlFor('ws://198.51.100.10:8080/mesh'), 'stun:198.51.100.10:8080');
    assert.equal(stunUrlFor('wss://Mesh.Example/mesh'), 'stun:mesh.example:443');
    assert.equal(stunUrlFor('ws://[::1]:9/mesh'), 'stun:[::1]:9');
    assert.equal(stunUrlFor('http://x'), undefined);
    for (const bad of ['', '{}', '{"iceServers":[],"ttlSeconds":1}', '{"iceServers":[{"urls":["http://x"]}],"ttlSeconds":60}', '{"iceServers":[{"urls":"stun:x"}],"ttlSeconds":60}']) {
      assert.equal(parseIceConfig(bad), undefined, bad);
    }
  });
});
