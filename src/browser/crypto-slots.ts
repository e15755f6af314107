/**
 * At most `max` WebCrypto calls of the data plane in flight, the others started in call order as
 * slots free. Firefox's AES-GCM got about 4x slower per call with thousands started at once (a
 * probe, docs/BENCHMARKS.md), while a few side by side still hide each call's thread hop.
 */
export class CryptoSlots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  /** Runs `call` once a slot is free (at once if one is), in the order of the calls. */
  run<T>(call: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const go = () => {
        this.running++;
        let p: Promise<T>;
        try {
          p = call();
        } catch (err) {
          p = Promise.reject(err as Error);
        }
        // The slot frees before the caller's continuation runs, so the next call starts first.
        p.then(
          (v) => (this.free(), resolve(v)),
          (e: unknown) => (this.free(), reject(e as Error)),
        );
      };
      if (this.running < this.max) go();
      else this.waiting.push(go);
    });
  }

  /** A call ended: its slot goes to the longest waiting call, started synchronously so none can jump the queue. */
  private free(): void {
    this.running--;
    this.waiting.shift()?.();
  }
}
