/**
 * File drop: drop (or choose) a file, pick a node, and it goes over a stream. The stream opens
 * with a small header (name, size, SHA-256 of the file); the receiver shows the progress, hashes
 * what arrived, compares, and answers with its own hash on the same stream (half-close: the
 * sender finished writing and still reads). Both sides end with "hash checked" or the reason not.
 */
import type { Mesh, MeshStream } from 'meshwork/client';
import { byId, errorText, h } from './dom.js';
import { isNodeId, nodeName, shortId } from './names.js';

export const FILE_PORT = 9;
/** Files kept in memory at the receiver for its download link: a demo, not a file store. */
const MAX_FILE_BYTES = 256 * 1024 * 1024;
const WRITE_BYTES = 256 * 1024;

interface Header {
  name: string;
  size: number;
  sha256: string;
}

export class FileDrop {
  private readonly form = byId<HTMLFormElement>('file-form');
  private readonly target = byId<HTMLInputElement>('file-target');
  private readonly input = byId<HTMLInputElement>('file-input');
  private readonly zone = byId<HTMLElement>('file-zone');
  private readonly button = byId<HTMLButtonElement>('file-send');
  private readonly list = byId<HTMLOListElement>('file-transfers');

  constructor(private readonly mesh: Mesh) {
    mesh.handleStreams(FILE_PORT, (s) => void this.receive(s));
    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const file = this.input.files?.[0];
      if (file) void this.send(file, this.target.value.trim().toLowerCase());
    });
    this.zone.addEventListener('dragover', (ev) => {
      ev.preventDefault();
      this.zone.classList.add('over');
    });
    this.zone.addEventListener('dragleave', () => this.zone.classList.remove('over'));
    this.zone.addEventListener('drop', (ev) => {
      ev.preventDefault();
      this.zone.classList.remove('over');
      const file = ev.dataTransfer?.files[0];
      if (file) void this.send(file, this.target.value.trim().toLowerCase());
    });
    for (const el of [this.target, this.input, this.button]) el.disabled = false;
  }

  /** Makes `id` the file's destination (a pick in the graph). */
  pick(id: string): void {
    this.target.value = id;
  }

  private async send(file: File, to: string): Promise<void> {
    if (!isNodeId(to)) {
      this.target.focus();
      return void this.row(`Pick a node in the graph (or paste its id) to send ${file.name} to.`).fail('no destination');
    }
    const row = this.row(`${file.name} → ${nodeName(to)} (${shortId(to)})`);
    try {
      row.status('hashing…');
      const bytes = new Uint8Array(await file.arrayBuffer());
      const header: Header = { name: file.name, size: bytes.length, sha256: await sha256(bytes) };
      const s = this.mesh.openStream(to, { port: FILE_PORT });
      const w = s.writable.getWriter();
      await w.write(encodeHeader(header));
      for (let at = 0; at < bytes.length; at += WRITE_BYTES) {
        await w.write(bytes.subarray(at, at + WRITE_BYTES));
        row.progress(Math.min(bytes.length, at + WRITE_BYTES), bytes.length, 'sent');
      }
      row.status('waiting for the receiver’s hash…');
      await w.close();
      const answer = new TextDecoder().decode(await readAll(s.readable, 1024));
      if (answer === header.sha256) row.done(`delivered; hash checked by the receiver (SHA-256 ${header.sha256.slice(0, 16)}…)`);
      else row.fail(`the receiver’s hash differs: ${answer.slice(0, 16)}…`);
    } catch (err) {
      row.fail(errorText(err));
    }
  }

  private async receive(s: MeshStream): Promise<void> {
    const row = this.row(`from ${nodeName(s.remote)} (${shortId(s.remote)})`);
    try {
      const reader = s.readable.getReader();
      const { header, rest } = await readHeader(reader);
      if (header.size > MAX_FILE_BYTES) throw new Error(`${header.size} bytes is more than this demo keeps in memory`);
      row.title(`${header.name} from ${nodeName(s.remote)} (${shortId(s.remote)})`);
      const bytes = new Uint8Array(header.size);
      let at = 0;
      const take = (chunk: Uint8Array) => {
        if (at + chunk.length > bytes.length) throw new Error('more bytes than the header said');
        bytes.set(chunk, at);
        at += chunk.length;
        row.progress(at, header.size, 'received');
      };
      if (rest.length) take(rest);
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        take(value);
      }
      if (at !== header.size) throw new Error(`the stream ended after ${at} of ${header.size} bytes`);
      const got = await sha256(bytes);
      const w = s.writable.getWriter();
      await w.write(new TextEncoder().encode(got));
      await w.close();
      if (got !== header.sha256) return row.fail(`hash mismatch: sent ${header.sha256.slice(0, 16)}…, got ${got.slice(0, 16)}…`);
      row.done(`hash checked (SHA-256 ${got.slice(0, 16)}…)`, URL.createObjectURL(new Blob([bytes])), header.name);
    } catch (err) {
      row.fail(errorText(err));
      s.abort('the receiver gave up');
    }
  }

  private row(text: string): Row {
    const item = h('li', { class: 'pending' });
    const title = h('span', { class: 'file-title' }, text);
    const bar = h('progress', { max: '1', value: '0' });
    const status = h('span', { class: 'file-status', role: 'status' });
    item.append(title, bar, status);
    this.list.prepend(item);
    while (this.list.children.length > 6) this.list.lastElementChild?.remove();
    return {
      title: (t) => void (title.textContent = t),
      status: (t) => void (status.textContent = t),
      progress: (n, total, verb) => {
        bar.value = total === 0 ? 1 : n / total;
        status.textContent = `${formatBytes(n)} of ${formatBytes(total)} ${verb}`;
      },
      done: (t, url, name) => {
        item.className = 'ok';
        bar.value = 1;
        status.textContent = t;
        if (url) status.append(' ', h('a', { href: url, download: name ?? 'file' }, 'Save'));
      },
      fail: (t) => {
        item.className = 'bad';
        status.textContent = t;
      },
    };
  }
}

interface Row {
  title(t: string): void;
  status(t: string): void;
  progress(n: number, total: number, verb: string): void;
  done(t: string, url?: string, name?: string): void;
  fail(t: string): void;
}

/** A 4-byte length, then the header as JSON. */
function encodeHeader(header: Header): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(4 + json.length);
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  return out;
}

async function readHeader(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<{ header: Header; rest: Uint8Array }> {
  let buf = new Uint8Array(0);
  for (;;) {
    if (buf.length >= 4) {
      const n = new DataView(buf.buffer, buf.byteOffset).getUint32(0);
      if (n > 4096) throw new Error('not a file header');
      if (buf.length >= 4 + n) {
        const h = JSON.parse(new TextDecoder().decode(buf.subarray(4, 4 + n))) as Header;
        if (typeof h.name !== 'string' || !Number.isSafeInteger(h.size) || h.size < 0 || typeof h.sha256 !== 'string') throw new Error('not a file header');
        return { header: h, rest: buf.subarray(4 + n) };
      }
    }
    const { done, value } = await reader.read();
    if (done) throw new Error('the stream ended before its header');
    const next = new Uint8Array(buf.length + value.length);
    next.set(buf);
    next.set(value, buf.length);
    buf = next;
  }
}

async function readAll(readable: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  const reader = readable.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > max) throw new Error('the answer is too long');
    parts.push(value);
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
