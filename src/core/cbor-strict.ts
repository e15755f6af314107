/**
 * A strict tokenizer for cborg: it wraps cborg's own and refuses, before any value is built,
 * what the default decoder would accept or choke on. Text that is not valid UTF-8 (cborg
 * decodes it loosely, with replacement characters: two different byte strings would read as
 * the same text, and a signature would cover bytes the reader never saw), nesting deeper than
 * any Meshwork message needs (deep input would otherwise recurse until the stack runs out),
 * and arrays or maps that declare more items than bytes remain (malformed: refused at once,
 * not after walking to the end of the input). And text that opens with a byte order mark keeps
 * it (cborg drops it), so every text reads back exactly as it was written.
 *
 * With `views`, a byte string in a minimal definite head reads as a view into the input rather
 * than cborg's copy of it (any other head is left to cborg, which refuses it in strict mode): the
 * data plane decodes a 16 KiB datagram's payload so, because allocating and filling a fresh
 * buffer of that size was most of its receiving tab's time (docs/DATA-PLANE.md, "Per-message
 * work"). The caller then owns the input for as long as the values are used.
 */
import { Token, Tokenizer, Type } from 'cborg';
import { MAX_CBOR_DEPTH } from './limits.js';

/** Thrown inside the decoder, caught by decodeCbor: `reason` is what the drop is counted as. */
export class CborRefused extends Error {
  constructor(readonly reason: 'invalid-utf8' | 'too-deep' | 'malformed-cbor') {
    super(reason);
  }
}

// Declared here so core compiles without DOM types; every JavaScript runtime we target has it.
declare const TextDecoder: { new (label: string, options: { fatal: boolean; ignoreBOM: boolean }): { decode(bytes: Uint8Array): string } };
const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** Header size of a CBOR item by its additional-information bits (lengths of 0..23 are inline). */
const HEADER_BYTES: Record<number, number> = { 24: 2, 25: 3, 26: 5, 27: 9 };

export class StrictTokenizer {
  private readonly inner: InstanceType<typeof Tokenizer>;
  /** Items still expected by each open array or map, innermost last. */
  private readonly open: number[] = [];

  constructor(
    private readonly data: Uint8Array,
    options: object,
    private readonly views = false,
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
    const token = (this.views && this.bytesView(start)) || this.inner.next();
    // The token fills one slot of the innermost open container, which stays open until its last item is complete.
    if (this.open.length > 0) this.open[this.open.length - 1]!--;
    if (token.type === Type.string && typeof token.value === 'string') {
      if (token.value.includes('\uFFFD')) this.checkUtf8(start, token);
      // Valid text with a replacement character in it may open with a mark too ("\uFEFF\uFFFD").
      this.keepBom(start, token);
    }
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

  /** A byte string at `start` as a view into the input, or undefined (not one, or not in a minimal head: cborg judges it). */
  private bytesView(start: number): Token | undefined {
    const b = this.data;
    const first = b[start];
    if (first === undefined || first >> 5 !== Type.bytes.major) return undefined;
    const info = first & 31;
    const size = info < 24 ? 0 : info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : -1;
    if (size < 0) return undefined;
    let n = info;
    if (size > 0) {
      n = 0;
      for (let i = 1; i <= size; i++) n = n * 256 + (b[start + i] ?? 0);
      if (n < (size === 1 ? 24 : size === 2 ? 0x100 : 0x10000)) return undefined;
    }
    const at = start + 1 + size;
    if (at + n > b.length) return undefined;
    this.inner._pos = at + n;
    return new Token(Type.bytes, b.subarray(at, at + n), 1 + size + n);
  }

  /**
   * cborg drops a byte order mark that opens a text string, so "\uFEFFA" and "A" would read as
   * the same text from different bytes: the text is read again with the mark kept.
   */
  private keepBom(start: number, token: Token): void {
    const at = start + (HEADER_BYTES[this.data[start]! & 31] ?? 1);
    if (this.data[at] === 0xef && this.data[at + 1] === 0xbb && this.data[at + 2] === 0xbf) {
      token.value = fatalUtf8.decode(this.data.subarray(at, start + token.encodedLength!));
    }
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
