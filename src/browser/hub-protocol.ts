/**
 * What an app page and the hub iframe say to each other (docs/BROWSER.md, "The hub"). The app
 * posts one `HubConnect` to the hub window, with its exact origin as the target, carrying a
 * MessagePort; everything after that travels on the port: first one `HubAnswer`, then the same
 * tab <-> host protocol as a same-origin tab (protocol.ts), relayed by the hub.
 */

export const HUB_CONNECT = 'meshwork:hub-connect';

export interface HubConnect {
  type: typeof HUB_CONNECT;
}

/**
 * - `shared`: the hub reached its origin's unpartitioned node (Storage Access granted, or the
 *   hub is not embedded): every site embedding this hub shares one node;
 * - `per-site`: the browser partitions the hub by the embedding page's top-level site, so each
 *   site gets its own node.
 */
export type HubMode = 'shared' | 'per-site';

export interface HubStatus {
  url: string;
  /** The id of the node this app is on (in `status()`; the same as `mesh.id`). */
  node?: string;
  mode: HubMode;
  /** Why this mode: what the storage-access request said. */
  reason: string;
}

export type HubAnswer = { accepted: true; mode: HubMode; reason: string } | { accepted: false; error: string };

/** App names starting with this are one namespace for every origin that names them: the opt-in to share. */
export const SHARED_APP_PREFIX = 'shared:';

/**
 * The namespace an app of `origin` gets on the hub's node. The hub derives it from the origin the
 * browser reports, so an app can never name its way into another origin's ports or topics; only
 * apps that both choose a `shared:` name meet.
 */
export function hubNamespace(origin: string, app: string): string {
  return app.startsWith(SHARED_APP_PREFIX) ? app : `${origin}/${app}`;
}
