// The Meshwork SharedWorker with the wake-up counter installed first (module imports run in order).
import '/wake-count.js';
import '/meshwork/worker.js';
