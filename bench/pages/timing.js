// Helpers shared by the bench pages (plain script, no module: loaded before the page's own code).
window.now = () => performance.now();
/** Absolute time in ms, comparable across pages on this machine (finer than Date.now()). */
window.absNow = () => performance.timeOrigin + performance.now();
window.pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
};
/** Round trips to the echo SharedWorker: the floor for a tab <-> worker hop. */
window.echoWorkerRtt = async (n) => {
  const w = new SharedWorker('/echo-worker.js');
  w.port.start();
  const buf = new Uint8Array(64);
  const t = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await new Promise((r) => { w.port.onmessage = r; w.port.postMessage(buf); });
    t.push(now() - t0);
  }
  w.port.close();
  return t;
};
/** One WebCrypto Ed25519 sign + verify of a 100-byte packet, as the mesh does per hop end: p50 in ms. */
window.ed25519SignVerify = async (n) => {
  const alg = { name: 'Ed25519' };
  const k = await crypto.subtle.generateKey(alg, false, ['sign', 'verify']);
  const data = new Uint8Array(100);
  const t = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    const sig = await crypto.subtle.sign(alg, k.privateKey, data);
    await crypto.subtle.verify(alg, k.publicKey, sig, data);
    t.push(now() - t0);
  }
  return pct(t, 0.5);
};
