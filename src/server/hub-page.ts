/**
 * The hub page, /meshwork/hub.html: apps on other origins embed it as a hidden iframe to share
 * this origin's browser node (docs/BROWSER.md, "The hub"). The page is a shell around
 * /meshwork/hub.js; the server writes the allowed app origins into it, so the list the hub
 * enforces is always the one the operator configured, with no second request to race.
 */
import type { ServerResponse } from 'node:http';

export function hubPage(appOrigins: string[] | null): string {
  // JSON inside <script> must not be able to close the element: escape every '<'.
  const config = JSON.stringify({ allow: appOrigins }).replace(/</g, '\\u003c');
  return `<!doctype html>
<meta charset="utf-8">
<title>meshwork hub</title>
<script type="application/json" id="meshwork-hub-config">${config}</script>
<script type="module" src="/meshwork/hub.js"></script>
`;
}

export function sendHubPage(res: ServerResponse, appOrigins: string[] | null): void {
  const html = hubPage(appOrigins);
  const headers: Record<string, string | number> = {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(html),
    'Cache-Control': 'no-cache',
    'Referrer-Policy': 'no-referrer',
  };
  // No frame-ancestors policy: a page the browser refuses to frame would leave connect() to time
  // out, where the hub's own check answers a refused origin with a clear FORBIDDEN error.
  res.writeHead(200, headers);
  res.end(html);
}
