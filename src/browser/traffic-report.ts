/**
 * The data plane's traffic, told to the node (fast-path.ts): packets a tab writes and takes on
 * a link never cross the node, so its idle-link rule (idle-links.ts) would close a busy link.
 * The tab notes each peer it carried application packets with, and tells the node the set a
 * while after the first one (`fast-traffic`): one message per period while there is traffic,
 * none while there is not.
 */

/** How often the tab tells the node of its traffic, while there is some: well under any idle time. */
const TRAFFIC_REPORT_MS = 2_000;

export class TrafficReport {
  private readonly peers = new Set<string>();
  private timer?: ReturnType<typeof setTimeout>;

  constructor(private readonly tell: (peers: string[]) => void) {}

  /** An application packet to or from `peer` crossed its link in this tab. */
  note(peer: string): void {
    this.peers.add(peer);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      const peers = [...this.peers];
      this.peers.clear();
      this.tell(peers);
    }, TRAFFIC_REPORT_MS);
  }
}
