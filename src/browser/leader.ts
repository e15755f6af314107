/**
 * The fallback where there is no SharedWorker (or when asked for): the tabs of an origin elect
 * a leader with a Web Lock; the leader runs the node host in its page, with the very code the
 * worker runs; the others reach it over a BroadcastChannel. When the leader tab closes, the
 * next tab waiting on the lock takes over, restoring identity and peer memory from IndexedDB,
 * and announces itself; the followers then say hello again and re-register.
 *
 * Follower tabs cannot host PeerConnections for the node (a BroadcastChannel cannot carry a
 * MessagePort), so every WebRTC link of a leader-tab node lives in the leader tab itself.
 */
import { portConn } from './conn.js';
import { NodeHost } from './host.js';
import { BROADCAST_NAME, LEADER_LOCK, type Conn } from './protocol.js';

type Broadcast = { leader: string } | { who: string } | { to: string; from?: string; m: unknown };

export class LeaderTabConn implements Conn {
  /** Called each time a leader becomes known: the first time, and after every change of leader. */
  onLeader?: () => void;
  /** True in the tab that runs the node. */
  isLeader = false;
  readonly firstLeader: Promise<void>;
  private leaderId?: string;
  private readonly bc = new BroadcastChannel(BROADCAST_NAME);
  private readonly fns: ((m: unknown) => void)[] = [];
  private local?: Conn;
  private readonly followers = new Map<string, (m: unknown) => void>();
  private host?: NodeHost;
  private resolveFirst!: () => void;
  private readonly abort = new AbortController();
  private askTimer?: ReturnType<typeof setInterval>;

  constructor(private readonly tabId: string) {
    this.firstLeader = new Promise((r) => (this.resolveFirst = r));
    this.bc.addEventListener('message', (e: MessageEvent) => this.onBroadcast(e.data as Broadcast));
    navigator.locks.request(LEADER_LOCK, { signal: this.abort.signal }, () => this.lead()).catch(() => undefined);
    // Ask who leads until someone answers (a leader elected before us answers at once).
    const ask = () => this.bc.postMessage({ who: this.tabId });
    ask();
    this.askTimer = setInterval(() => (this.leaderId ? clearInterval(this.askTimer) : ask()), 250);
  }

  post(m: unknown, transfer?: Transferable[]): void {
    if (this.local) this.local.post(m, transfer);
    else this.bc.postMessage({ to: 'leader', from: this.tabId, m });
  }

  onMessage(fn: (m: unknown) => void): void {
    this.fns.push(fn);
  }

  /** The leader's page is going away: stop the node so its peers see its links close now. */
  pageHide(): void {
    void this.host?.node?.stop();
  }

  close(): void {
    clearInterval(this.askTimer);
    this.abort.abort();
    this.bc.close();
    this.local?.close();
  }

  /** Runs while we hold the leader lock, that is for the rest of this page's life. */
  private lead(): Promise<never> {
    this.isLeader = true;
    this.host = new NodeHost('leader-tab');
    const ch = new MessageChannel();
    this.host.attach(portConn(ch.port2));
    this.local = portConn(ch.port1);
    this.local.onMessage((m) => this.emit(m));
    this.bc.postMessage({ leader: this.tabId });
    this.knownLeader(this.tabId);
    return new Promise<never>(() => undefined);
  }

  private knownLeader(id: string): void {
    if (this.leaderId === id) return;
    this.leaderId = id;
    this.resolveFirst();
    this.onLeader?.();
  }

  private emit(m: unknown): void {
    for (const fn of this.fns) fn(m);
  }

  private onBroadcast(d: Broadcast): void {
    if ('leader' in d) {
      if (d.leader !== this.tabId && !this.isLeader) this.knownLeader(d.leader);
    } else if ('who' in d) {
      if (this.isLeader) this.bc.postMessage({ leader: this.tabId });
    } else if (d.to === 'leader') {
      if (this.isLeader && d.from) this.fromFollower(d.from, d.m);
    } else if (d.to === this.tabId && !this.isLeader) {
      this.emit(d.m);
    }
  }

  private fromFollower(from: string, m: unknown): void {
    let deliver = this.followers.get(from);
    if (!deliver) {
      const fns: ((m: unknown) => void)[] = [];
      deliver = (x) => fns.forEach((fn) => fn(x));
      this.followers.set(from, deliver);
      this.host!.attach({
        post: (out) => this.bc.postMessage({ to: from, m: out }),
        onMessage: (fn) => void fns.push(fn),
        close: () => this.followers.delete(from),
      });
    }
    deliver(m);
  }
}
