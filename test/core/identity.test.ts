/**
 * Identities and node ids: an id is the SHA-256 of the Ed25519 public key, it has one text
 * form, seeds give the same key every time, and keys survive a PKCS#8 round trip.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isMeshError } from '../../src/core/errors.js';
import {
  bitAt,
  commonPrefixLength,
  compareDistance,
  ID_BYTES,
  idFromPublicKey,
  idFromText,
  idToText,
  isIdText,
  randomIdInBucket,
  shortId,
} from '../../src/core/id.js';
import { Identity, keyMatchesId, verifySignature } from '../../src/core/identity.js';

const sha256 = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (t: string) => new Uint8Array(Buffer.from(t, 'hex'));
const big = (b: Uint8Array) => BigInt('0x' + (hex(b) || '0'));
const id32 = fc.uint8Array({ minLength: ID_BYTES, maxLength: ID_BYTES });

// RFC 8032, section 7.1, TEST 1: a published Ed25519 key pair and its signature of the empty message.
const RFC8032 = {
  seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  signature:
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
};

describe('identity', () => {
  it('a fresh identity has id = SHA-256(public key), and idText is its lowercase hex', async () => {
    const me = await Identity.generate();
    assert.equal(me.publicKey.length, 32);
    assert.deepEqual(me.id, sha256(me.publicKey));
    assert.equal(me.idText, hex(sha256(me.publicKey)));
    assert.match(me.idText, /^[0-9a-f]{64}$/);
    const other = await Identity.generate();
    assert.notEqual(other.idText, me.idText, 'two fresh identities differ');
  });

  it('fromSeed is Ed25519 from a seed: the RFC 8032 test vector', async () => {
    const me = await Identity.fromSeed(unhex(RFC8032.seed));
    assert.equal(hex(me.publicKey), RFC8032.publicKey);
    assert.equal(me.idText, hex(sha256(unhex(RFC8032.publicKey))));
    // Ed25519 signatures are deterministic, so the published one must come out exactly.
    assert.equal(hex(await me.sign(new Uint8Array(0))), RFC8032.signature);
  });

  it('fromSeed is deterministic, and different seeds give different identities', async () => {
    const seed = new Uint8Array(32).fill(5);
    const a = await Identity.fromSeed(seed);
    const b = await Identity.fromSeed(seed.slice());
    assert.equal(a.idText, b.idText);
    assert.deepEqual(a.publicKey, b.publicKey);
    const c = await Identity.fromSeed(new Uint8Array(32).fill(6));
    assert.notEqual(c.idText, a.idText);
  });

  it('fromSeed refuses a seed that is not 32 bytes', async () => {
    for (const n of [0, 31, 33, 64]) {
      await assert.rejects(Identity.fromSeed(new Uint8Array(n)), (err: unknown) => isMeshError(err, 'INVALID_ARGUMENT'), `${n} bytes`);
    }
  });

  it('PKCS#8 export and import give back the same identity, able to sign', async () => {
    const original = await Identity.generate();
    const pkcs8 = await original.exportPkcs8();
    const restored = await Identity.fromPkcs8(pkcs8);
    assert.equal(restored.idText, original.idText);
    assert.deepEqual(restored.publicKey, original.publicKey);
    const msg = new TextEncoder().encode('signed after a restart');
    const signature = await restored.sign(msg);
    assert.equal(await verifySignature(original.publicKey, signature, msg), true);
  });

  it('the PKCS#8 of a seeded identity carries the seed, and reimports to it', async () => {
    const seed = unhex(RFC8032.seed);
    const me = await Identity.fromSeed(seed);
    const pkcs8 = await me.exportPkcs8();
    assert.deepEqual(pkcs8.slice(-32), seed);
    assert.equal((await Identity.fromPkcs8(pkcs8)).idText, me.idText);
  });

  it('fromPkcs8 rejects bytes that are not a key', async () => {
    await assert.rejects(Identity.fromPkcs8(new Uint8Array(48).fill(1)));
  });

  it('verifySignature accepts the right signature and nothing else, without throwing', async () => {
    const me = await Identity.generate();
    const other = await Identity.generate();
    const msg = Uint8Array.of(1, 2, 3);
    const signature = await me.sign(msg);
    assert.equal(await verifySignature(me.publicKey, signature, msg), true);
    assert.equal(await verifySignature(me.publicKey, signature, Uint8Array.of(1, 2, 4)), false, 'other data');
    assert.equal(await verifySignature(other.publicKey, signature, msg), false, 'other key');
    const flipped = signature.slice();
    flipped[10]! ^= 1;
    assert.equal(await verifySignature(me.publicKey, flipped, msg), false, 'a flipped bit');
    assert.equal(await verifySignature(me.publicKey, signature.slice(0, 63), msg), false, 'a short signature');
    assert.equal(await verifySignature(me.publicKey.slice(0, 31), signature, msg), false, 'a short key');
    assert.equal(await verifySignature(new Uint8Array(32).fill(0xff), signature, msg), false, 'a key that is not a curve point');
  });

  it('keyMatchesId: only the key that hashes to the id', async () => {
    const me = await Identity.generate();
    const other = await Identity.generate();
    assert.equal(keyMatchesId(me.publicKey, me.id), true);
    assert.equal(keyMatchesId(other.publicKey, me.id), false);
    assert.equal(keyMatchesId(me.publicKey.slice(0, 31), sha256(me.publicKey.slice(0, 31))), false, 'a 31-byte key never matches');
  });
});

describe('node ids', () => {
  it('idFromPublicKey is SHA-256', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (key) => assert.deepEqual(idFromPublicKey(key), sha256(key))));
  });

  it('text form round trips, and accepts upper case', () => {
    fc.assert(
      fc.property(id32, (id) => {
        const text = idToText(id);
        assert.match(text, /^[0-9a-f]{64}$/);
        assert.equal(isIdText(text), true);
        assert.deepEqual(idFromText(text), id);
        assert.deepEqual(idFromText(text.toUpperCase()), id);
      }),
    );
  });

  it('refuses text that is not an id with INVALID_ARGUMENT', () => {
    const good = 'ab'.repeat(32);
    const bad: unknown[] = ['', 'ab'.repeat(31), 'ab'.repeat(33), good.slice(1), good + 'a', 'zz'.repeat(32), ' ' + good.slice(1), 'ab'.repeat(31) + 'g0', '0x' + 'ab'.repeat(31), 42, null, undefined, id32];
    for (const b of bad) {
      assert.throws(() => idFromText(b as string), (err: unknown) => isMeshError(err, 'INVALID_ARGUMENT'), `idFromText(${String(b).slice(0, 20)})`);
      assert.equal(isIdText(b), false);
    }
    assert.equal(isIdText(good.toUpperCase()), false, 'isIdText wants the canonical lowercase form');
  });

  it('shortId is the first 8 hex characters', () => {
    const id = unhex('0123456789abcdef'.repeat(4));
    assert.equal(shortId(id), '01234567');
    assert.equal(shortId(idToText(id)), '01234567');
  });

  it('compareDistance orders by XOR distance', () => {
    fc.assert(
      fc.property(id32, id32, id32, (a, b, t) => {
        const da = big(a) ^ big(t);
        const db = big(b) ^ big(t);
        const c = compareDistance(a, b, t);
        assert.equal(Math.sign(c), da < db ? -1 : da > db ? 1 : 0);
        assert.equal(Math.sign(compareDistance(b, a, t)), -Math.sign(c) || 0);
      }),
    );
  });

  it('commonPrefixLength counts shared leading bits', () => {
    fc.assert(
      fc.property(id32, id32, (a, b) => {
        const x = big(a) ^ big(b);
        const expected = x === 0n ? 256 : 256 - x.toString(2).length;
        assert.equal(commonPrefixLength(a, b), expected);
        for (let bit = 0; bit < Math.min(expected, 256); bit++) assert.equal(bitAt(a, bit), bitAt(b, bit));
        if (expected < 256) assert.notEqual(bitAt(a, expected), bitAt(b, expected));
      }),
    );
  });

  it('randomIdInBucket lands in the asked bucket', () => {
    fc.assert(
      fc.property(id32, fc.integer({ min: 0, max: 255 }), id32, (self, bucket, random) => {
        assert.equal(commonPrefixLength(self, randomIdInBucket(self, bucket, random)), bucket);
      }),
    );
  });
});
