/**
 * The CBOR decoder Meshwork used before src/core/cbor.ts: cborg 6 with the strict options below,
 * behind a strict tokenizer that wraps cborg's own and refuses, before any value is built, what
 * the default decoder would accept or choke on. Text that is not valid UTF-8 (cborg decodes it
 * loosely, with replacement characters), nesting deeper than MAX_CBOR_DEPTH, and arrays or maps
 * that declare more items than bytes remain. Kept as the reference cbor.ts is checked against
 * (test/core/cbor.test.ts): both must accept the same inputs, read them the same way, and refuse
 * the rest with the same reason.
 */
import { decode, Tokenizer, Type, type Token } from 'cborg';
import { MAX_CBOR_DEPTH } from '../../src/core/limits.js';

class CborRefused extends Error {
  constructor(readonly reason: 'invalid-utf8' | 'too-deep' | 'malformed-cbor') {
    super(reason);
  }
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** Header size of a CBOR item by its additional-information bits (lengths of 0..23 are inline). */
const HEADER_BYTES: Record<number, number> = { 24: 2, 25: 3, 26: 5, 27: 9 };

class StrictTokenizer {
  private readonly inner: InstanceType<typeof Tokenizer>;
  /** Items still expected by each open array or map, innermost last. */
  private readonly open: number[] = [];

  constructor(
    private readonly data: Uint8Array,
    options: object,
  ) {
    this.inner = new Tokenizer(data, options);
  }

  pos(): number {
    return this.inner.pos();
  }

  done(): boolean {
    return this.inner.done();
  }

  next(): Token {
    const start = this.inner.pos();
    const token = this.inner.next();
    // The token fills one slot of the innermost open container, which stays open until its last item is complete.
    if (this.open.length > 0) this.open[this.open.length - 1]!--;
    if (token.type === Type.string && typeof token.value === 'string' && token.value.includes('\uFFFD')) this.checkUtf8(start, token);
    if (token.type === Type.array || token.type === Type.map) {
      const items = (token.type === Type.map ? 2 : 1) * (token.value as number);
      // Every item takes at least one byte: a declared length beyond the rest of the input is a lie.
      if (items > this.data.length - this.inner.pos()) throw new CborRefused('malformed-cbor');
      if (items > 0) {
        if (this.open.length >= MAX_CBOR_DEPTH) throw new CborRefused('too-deep');
        this.open.push(items);
        return token;
      }
    }
    // A complete item: close every container it completes.
    while (this.open.length > 0 && this.open[this.open.length - 1] === 0) this.open.pop();
    return token;
  }

  /** A replacement character is either sent on purpose (valid) or made from bad bytes: look at the bytes. */
  private checkUtf8(start: number, token: Token): void {
    const header = HEADER_BYTES[this.data[start]! & 31] ?? 1;
    try {
      fatalUtf8.decode(this.data.subarray(start + header, start + token.encodedLength!));
    } catch {
      throw new CborRefused('invalid-utf8');
    }
  }
}

const DECODE_OPTIONS = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
  useMaps: true,
};

/** What the old decodeCbor (codec.ts) returned for these bytes. */
export function referenceDecode(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false; reason: string } {
  try {
    return { ok: true, value: decode(bytes, { ...DECODE_OPTIONS, tokenizer: new StrictTokenizer(bytes, DECODE_OPTIONS) }) };
  } catch (err) {
    return { ok: false, reason: err instanceof CborRefused ? err.reason : 'malformed-cbor' };
  }
}
