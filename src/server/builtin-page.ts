/** The page at `/` when no static dir is given: what this is, and the node's status, live. */
export const BUILTIN_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Meshwork server node</title>
<link rel="icon" href="/meshwork/favicon.svg" type="image/svg+xml">
<style>
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  code, pre { font: 13px ui-monospace, monospace; }
  pre { background: #f4f4f4; padding: 1rem; overflow: auto; }
  table { border-collapse: collapse; } td, th { padding: .2rem .8rem .2rem 0; text-align: left; }
</style>
</head>
<body>
<h1>Meshwork server node</h1>
<p>This is a Meshwork server: a node of a mesh network
whose other nodes are mostly browsers. Browsers and other servers join the mesh through its WebSocket
endpoint at <code>/mesh</code>; after that they route messages to any node id, mostly over their own links.
<code>meshwork serve</code> shows the demo here unless started with <code>--no-demo</code>;
<code>--static DIR</code> serves your own page instead.</p>
<h2>Status</h2>
<p id="summary">loading&hellip;</p>
<table id="links"></table>
<h3>Counters</h3>
<pre id="counters"></pre>
<script>
  const cell = (row, text) => { const td = document.createElement('td'); td.textContent = text; row.append(td); };
  async function refresh() {
    try {
      const s = await (await fetch('/meshwork/status', { cache: 'no-store' })).json();
      document.getElementById('summary').textContent =
        'node ' + s.id + (s.url ? ' at ' + s.url : '') + ': ' + s.links.length + ' links, ' + s.knownPeers + ' known peers';
      const table = document.getElementById('links');
      table.replaceChildren();
      for (const l of s.links) {
        const row = table.insertRow();
        cell(row, l.id.slice(0, 16) + '\\u2026'); cell(row, l.transport); cell(row, l.rttMs == null ? '' : l.rttMs.toFixed(1) + ' ms');
      }
      document.getElementById('counters').textContent = JSON.stringify(s.counters, null, 2);
    } catch (err) {
      document.getElementById('summary').textContent = 'status unavailable: ' + err;
    }
  }
  refresh();
  setInterval(refresh, 2000);
</script>
</body>
</html>
`;
