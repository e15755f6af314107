/**
 * Round-trip time and retransmission timeout of one stream, after RFC 6298: a smoothed mean and
 * mean deviation of the samples, the timeout four deviations above the mean, doubled on every
 * timeout that fires until an acknowledgement brings a fresh sample. Samples come only from
 * segments sent once (Karn's rule), so a retransmission never muddles the estimate.
 */

/** Floor of the timeout: below it, a mesh path's scheduling noise fires needless retransmissions. */
export const MIN_RTO_MS = 200;
export const MAX_RTO_MS = 10_000;
/** Before the first sample. */
export const INITIAL_RTO_MS = 1_000;

export class RttEstimator {
  private srtt?: number;
  private rttvar = 0;
  private backoff = 1;

  get smoothedMs(): number | undefined {
    return this.srtt;
  }

  sample(ms: number): void {
    const r = Math.max(0, ms);
    if (this.srtt === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.backoff = 1;
  }

  /** The timeout to wait now. */
  get rtoMs(): number {
    const base = this.srtt === undefined ? INITIAL_RTO_MS : this.srtt + Math.max(4 * this.rttvar, 10);
    return Math.min(MAX_RTO_MS, Math.max(MIN_RTO_MS, base) * this.backoff);
  }

  /** A timeout fired: wait twice as long next time. */
  backOff(): void {
    this.backoff = Math.min(this.backoff * 2, 64);
  }
}
