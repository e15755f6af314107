// Counts wake-ups for the idle bench: every timer callback and every event the browser
// dispatches to this global (a tab or the SharedWorker), by source, with the time spent in it.
// Loaded before Meshwork: as a classic script in the page, by the worker wrapper's importScripts
// (idle-worker.js). Frames on a DataChannel or on the worker's link ports are sorted by
// frame type (and packet kind), so the table says which protocol message woke the thread.
(() => {
  const W = { since: performance.now(), n: {}, ms: {}, reset() { W.since = performance.now(); W.n = {}; W.ms = {}; } };
  globalThis.__wake = W;
  const seen = new WeakSet();
  const run = (key, fn, self, args, event) => {
    const t = performance.now();
    try {
      return fn.apply(self, args);
    } finally {
      const first = !event || !seen.has(event);
      if (event) seen.add(event);
      // Several listeners of one event run in one task: one wake-up, all their time.
      if (first) W.n[key] = (W.n[key] ?? 0) + 1;
      W.ms[key] = (W.ms[key] ?? 0) + performance.now() - t;
    }
  };

  const FRAME = { 1: 'hello', 2: 'proof', 3: 'error', 4: 'ping', 5: 'pong', 6: 'need', 7: 'packet', 8: 'ask', 9: 'tell' };
  const KIND = { 1: 'data', 2: 'request', 3: 'response', 4: 'lookup', 5: 'found', 6: 'subscribe', 7: 'publish', 8: 'publish-down', 9: 'signal', 10: 'key-request', 11: 'key-reply', 12: 'reliable', 13: 'ack' };
  // Just enough CBOR to skip a packet's src, dst, hops and id and read its kind.
  const head = (b, i) => {
    const ai = b[i] & 31;
    if (ai < 24) return [ai, i + 1];
    const len = 1 << (ai - 24);
    let v = 0;
    for (let k = 0; k < len; k++) v = v * 256 + b[i + 1 + k];
    return [v, i + 1 + len];
  };
  const frameName = (buf) => {
    const b = new Uint8Array(buf);
    if (b.length < 3) return 'frame:?';
    const type = FRAME[b[2]] ?? `type${b[2]}`;
    if (type !== 'packet') return `frame:${type}`;
    let i = 3;
    for (let f = 0; f < 2; f++) { const [n, j] = head(b, i); i = j + n; } // src, dst (byte strings)
    for (let f = 0; f < 2; f++) i = head(b, i)[1]; // hops, id
    return `packet:${KIND[head(b, i)[0]] ?? '?'}`;
  };
  const messageKey = (target, e) => {
    const d = e.data;
    const where = target?.constructor?.name ?? 'global';
    if (d instanceof ArrayBuffer) return `${where} ${frameName(d)}`;
    if (d && typeof d === 'object') {
      if (d.f instanceof ArrayBuffer) return `${where} ${frameName(d.f)}`;
      if (typeof d.a === 'number') return `${where} link-ack`;
      if ('o' in d || 'x' in d) return `${where} link-open/close`;
      if (typeof d.op === 'string') return `${where} tab:${d.op}`;
      if (typeof d.ev === 'string') return `${where} host:${d.ev}`;
      if (typeof d.re === 'number') return `${where} host:reply`;
    }
    return `${where} message`;
  };

  const wrapped = new WeakMap();
  const wrap = (target, type, fn) => {
    if (typeof fn !== 'function') return fn;
    let w = wrapped.get(fn);
    if (!w) {
      w = function (e) {
        const key = type === 'message' ? messageKey(this ?? target, e) : `${(this ?? target)?.constructor?.name ?? 'global'} ${type}`;
        return run(key, fn, this, arguments, e);
      };
      wrapped.set(fn, w);
    }
    return w;
  };
  const add = EventTarget.prototype.addEventListener;
  const remove = EventTarget.prototype.removeEventListener;
  EventTarget.prototype.addEventListener = function (type, fn, opts) {
    return add.call(this, type, wrap(this, type, fn), opts);
  };
  EventTarget.prototype.removeEventListener = function (type, fn, opts) {
    return remove.call(this, type, (typeof fn === 'function' && wrapped.get(fn)) || fn, opts);
  };
  // on<event> setters (onconnect in the worker, onmessage on ports).
  for (const proto of [globalThis.MessagePort?.prototype, globalThis.RTCDataChannel?.prototype, globalThis.WebSocket?.prototype, Object.getPrototypeOf(globalThis)]) {
    if (!proto) continue;
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (!name.startsWith('on')) continue;
      const d = Object.getOwnPropertyDescriptor(proto, name);
      if (!d?.set || !d.configurable) continue;
      Object.defineProperty(proto, name, { ...d, set(fn) { d.set.call(this, wrap(this, name.slice(2), fn)); } });
    }
  }

  const timer = (orig, kind) =>
    function (fn, ms, ...rest) {
      if (typeof fn !== 'function') return orig.call(globalThis, fn, ms, ...rest);
      const key = `timer ${kind} ${Math.round(ms ?? 0)} ms`;
      return orig.call(globalThis, function () { return run(key, fn, this, arguments); }, ms, ...rest);
    };
  globalThis.setTimeout = timer(globalThis.setTimeout, 'timeout');
  globalThis.setInterval = timer(globalThis.setInterval, 'interval');
})();
