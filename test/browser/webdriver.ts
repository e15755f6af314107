/**
 * A small typed client for classic W3C WebDriver over HTTP, enough to drive WebKitGTK's
 * MiniBrowser through `WebKitWebDriver`: sessions, navigation, scripts, tabs, screenshots.
 *
 * Why not selenium-webdriver or webdriverio: both resolve drivers and browsers through their
 * own managers (Selenium Manager, @wdio/utils) that try to download binaries when anything is
 * unexpected, which this machine and CI must never do; the dozen W3C endpoints the tests use
 * are plain JSON over HTTP and fit in this file, with a typed error per failed command.
 */

export class WebDriverError extends Error {
  constructor(
    readonly command: string,
    readonly error: string,
    message: string,
  ) {
    super(`WebDriver ${command}: ${error}: ${message}`);
    this.name = 'WebDriverError';
  }
}

export interface WebDriverSessionOptions {
  /** Where the driver listens, e.g. http://127.0.0.1:4444 */
  driverUrl: string;
  capabilities: Record<string, unknown>;
  /** Per command; a hung command fails with its name. */
  commandTimeoutMs?: number;
}

async function call(base: string, method: 'GET' | 'POST' | 'DELETE', path: string, body: unknown, timeoutMs: number): Promise<unknown> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? undefined : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const json = (await res.json().catch(() => ({ value: { error: 'bad response', message: `HTTP ${res.status}` } }))) as { value: unknown };
  const v = json.value as { error?: string; message?: string } | null;
  if (!res.ok || (v && typeof v === 'object' && typeof v.error === 'string')) {
    throw new WebDriverError(`${method} ${path.replace(/\/session\/[^/]+/, '/session/…')}`, v?.error ?? `HTTP ${res.status}`, v?.message ?? '');
  }
  return json.value;
}

/** One browser session. Scripts run in the current tab; `switchTo` changes the tab. */
export class WebDriverSession {
  private constructor(
    private readonly base: string,
    readonly id: string,
    private readonly timeoutMs: number,
  ) {}

  static async create(o: WebDriverSessionOptions): Promise<WebDriverSession> {
    const timeoutMs = o.commandTimeoutMs ?? 60_000;
    const v = (await call(o.driverUrl, 'POST', '/session', { capabilities: { alwaysMatch: o.capabilities } }, timeoutMs)) as { sessionId: string };
    const s = new WebDriverSession(o.driverUrl, v.sessionId, timeoutMs);
    // Scripts that wait on the mesh may take a while; the per-test waits bound them instead.
    await s.cmd('POST', '/timeouts', { script: 60_000, pageLoad: 30_000 });
    return s;
  }

  private cmd(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
    return call(this.base, method, `/session/${this.id}${path}`, body ?? (method === 'POST' ? {} : undefined), this.timeoutMs);
  }

  async goto(url: string): Promise<void> {
    await this.cmd('POST', '/url', { url });
  }

  /**
   * Runs `fn` in the current tab with `args` (JSON values) and returns its JSON result; a
   * returned promise is awaited (W3C "execute script"). `fn` is sent as source text, so it must
   * not close over anything.
   */
  async run<T, A extends unknown[]>(fn: (...args: A) => T | Promise<T>, ...args: A): Promise<T> {
    return (await this.cmd('POST', '/execute/sync', { script: `return (${fn.toString()}).apply(null, arguments)`, args })) as T;
  }

  /** Opens a new tab and makes it current; returns its handle. */
  async newTab(): Promise<string> {
    const v = (await this.cmd('POST', '/window/new', { type: 'tab' })) as { handle: string };
    await this.switchTo(v.handle);
    return v.handle;
  }

  async switchTo(handle: string): Promise<void> {
    await this.cmd('POST', '/window', { handle });
  }

  async handles(): Promise<string[]> {
    return (await this.cmd('GET', '/window/handles')) as string[];
  }

  async currentHandle(): Promise<string> {
    return (await this.cmd('GET', '/window')) as string;
  }

  /** Closes the current tab; the caller switches to another before the next command. */
  async closeTab(): Promise<void> {
    await this.cmd('DELETE', '/window');
  }

  /** PNG bytes of the current tab's viewport. */
  async screenshot(): Promise<Buffer> {
    return Buffer.from((await this.cmd('GET', '/screenshot')) as string, 'base64');
  }

  /** Ends the session: the driver quits the browser. */
  async quit(): Promise<void> {
    await call(this.base, 'DELETE', `/session/${this.id}`, undefined, this.timeoutMs).catch(() => undefined);
  }
}
