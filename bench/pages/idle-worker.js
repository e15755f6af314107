// The Meshwork SharedWorker with the wake-up counter installed first (importScripts runs them in order).
// worker.js is a classic script, so this wrapper is one too.
importScripts('/wake-count.js', '/meshwork/worker.js');
