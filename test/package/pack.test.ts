/**
 * The package as it would be published: `npm pack` of the built tree (no scripts run: it reuses
 * dist/ as `npm install` built it), the tarball installed into a fresh project, and there the
 * two public entry points type-check with the package's own types, and its command runs.
 * Dependencies come from the npm cache the project's own `npm install` filled: the fresh project
 * gets a lockfile naming the very versions and hashes of this project's lockfile, so npm installs
 * `--offline` with no registry at all. Should the cache lack one (a cleaned cache), npm may ask
 * the registry (`--prefer-offline`), and the test says so.
 *
 *   node --import tsx --test test/package/
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { startChild } from '../helpers/child.js';
import { within } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const run = promisify(execFile);

interface Packed {
  filename: string;
  integrity: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

let dir: string;
let packed: Packed;
/** Whether the install needed the registry (the cache lacked some package's metadata). */
let usedRegistry = false;

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'cli', 'index.js')) && existsSync(join(ROOT, 'demo', 'app.js')), 'dist/ and demo/app.js are built (npm install builds them)');
  dir = await mkdtemp(join(tmpdir(), 'meshwork-pack-'));
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT });
  packed = (JSON.parse(stdout) as Packed[])[0]!;
  console.log(`# tarball ${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${packed.files.length} files`);

  const project = join(dir, 'app');
  await mkdir(project);
  await writeFixedProject(project, `file:../${packed.filename}`, packed.integrity);
  const install = ['ci', '--no-audit', '--no-fund'];
  try {
    await run('npm', [...install, '--offline'], { cwd: project });
  } catch (err) {
    if (!/ENOTCACHED/.test(String((err as { stderr?: string }).stderr ?? err))) throw err;
    usedRegistry = true;
    await run('npm', [...install, '--prefer-offline'], { cwd: project });
  }
  console.log(`# installed ${usedRegistry ? 'with the registry for metadata the cache lacked' : 'offline, from the npm cache'}`);
});

type LockEntry = { version?: string; dependencies?: Record<string, string>; [k: string]: unknown };

/**
 * A project depending on the tarball, with @types/node for its type check, and a lockfile that
 * pins them and everything they pull in to the entries of this project's own lockfile.
 */
async function writeFixedProject(project: string, tarball: string, integrity: string): Promise<void> {
  const ours = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string>; bin: unknown; engines: unknown; license: string };
  const packages: Record<string, LockEntry> = {
    'node_modules/meshwork': { version: manifest.version, resolved: tarball, integrity, license: manifest.license, dependencies: manifest.dependencies, bin: manifest.bin, engines: manifest.engines },
  };
  const todo = [...Object.keys(manifest.dependencies), '@types/node'];
  while (todo.length > 0) {
    const name = todo.pop()!;
    if (packages[`node_modules/${name}`]) continue;
    const entry = ours.packages[`node_modules/${name}`];
    assert.ok(entry, `${name} is in package-lock.json at the top level`);
    const { dev: _dev, devOptional: _devOptional, ...kept } = entry;
    packages[`node_modules/${name}`] = kept;
    todo.push(...Object.keys(entry.dependencies ?? {}));
  }
  const typesNode = packages['node_modules/@types/node']!.version!;
  const dependencies = { meshwork: tarball, '@types/node': typesNode };
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'meshwork-pack-check', private: true, type: 'module', dependencies }, null, 2));
  await writeFile(join(project, 'package-lock.json'), JSON.stringify({
    name: 'meshwork-pack-check', lockfileVersion: 3, requires: true,
    packages: { '': { name: 'meshwork-pack-check', dependencies }, ...packages },
  }, null, 2));
}

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the tarball holds what the package needs and nothing more', () => {
  const paths = new Set(packed.files.map((f) => f.path));
  const needed = [
    'package.json', 'README.md', 'bin/meshwork.js',
    'dist/server/index.js', 'dist/server/index.d.ts', 'dist/core/index.js', 'dist/core/index.d.ts', 'dist/cli/index.js', 'dist/sim/simulation.js',
    'dist/browser/client.js', 'dist/browser/worker.js', 'dist/browser/hub.js', 'dist/browser/types/browser/client.d.ts',
    'demo/index.html', 'demo/style.css', 'demo/app.js',
  ];
  for (const p of needed) assert.ok(paths.has(p), `ships ${p}`);
  for (const p of paths) {
    assert.doesNotMatch(p, /^(src|test|bench|scripts|docs|demo\/src|node_modules|\.ci)\//, `${p}: sources, tests and tooling stay out`);
    // tsc's maps point at src/, which is not shipped; the browser bundle's maps carry their sources.
    assert.ok(!p.endsWith('.map') || p.startsWith('dist/browser/') || p === 'demo/app.js.map', `${p}: a source map without its sources`);
  }
});

test('both entry points type-check with the package\'s own types', async () => {
  const project = join(dir, 'app');
  await writeFile(join(project, 'main.ts'), [
    "import { startNode, MeshError, type ServerNode } from 'meshwork';",
    "import { connect, type Mesh } from 'meshwork/client';",
    'const node: ServerNode = await startNode({ port: 0 });',
    'const id: string = node.id;',
    "const mesh: Mesh = await connect({ bootstrap: ['ws://127.0.0.1:1/mesh'] });",
    "await mesh.send(id, 'hi', { port: 7 });",
    "if (new MeshError('TIMEOUT', 'x').code !== 'TIMEOUT') throw new Error('code');",
    '// @ts-expect-error: a wrong option must fail to type-check, so the types are really read',
    "await startNode({ port: 'eighty' });",
    'export {};',
    '',
  ].join('\n'));
  await writeFile(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM'], types: ['node'], strict: true, noEmit: true },
    files: ['main.ts'],
  }));
  // The project's own TypeScript, run on the temporary project: its node_modules holds meshwork.
  const r = await run(process.execPath, [TSC, '-p', project]).catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`tsc --noEmit failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  });
  assert.equal(r.stdout, '');
  const manifest = JSON.parse(await readFile(join(project, 'node_modules', 'meshwork', 'package.json'), 'utf8')) as { version: string };
  assert.match(manifest.version, /^\d+\.\d+\.\d+/);
});

test('npx meshwork --help and npx meshwork serve run from the installed package', { timeout: 60_000 }, async () => {
  const project = join(dir, 'app');
  const help = await run('npx', ['--no', '--', 'meshwork', '--help'], { cwd: project });
  assert.match(help.stdout, /serve/);
  assert.match(help.stdout, /sim/);
  const serve = startChild('npx', ['--no', '--', 'meshwork', 'serve', '--port', '0'], { cwd: project, detached: true });
  try {
    const http = (await within(serve.line(/^meshwork: http (http:\/\/\S+\/)$/), 30_000, 'the http line'))[1]!;
    // The page line follows the http line at once; it names what `/` serves (the demo, built into the package).
    const served = (await within(serve.line(/^meshwork: page (.+) at \/$/), 30_000, 'the page line'))[1];
    assert.equal(served, 'demo', 'the installed package serves its built demo at /');
    const page = await fetch(http);
    assert.match(await page.text(), /<title>Meshwork demo<\/title>/);
    for (const path of ['app.js', 'meshwork/client.js', 'meshwork/worker.js', 'meshwork/favicon.svg']) {
      const r = await fetch(new URL(path, http));
      assert.equal(r.status, 200, path);
      await r.arrayBuffer();
    }
    const status = (await (await fetch(new URL('meshwork/status', http))).json()) as { id: string };
    assert.match(status.id, /^[0-9a-f]{64}$/);
    // npx runs the command as its child: signal the whole group, as a terminal's Ctrl-C would.
    // npm itself then ends by the signal; the server's own clean stop is its "stopped" line.
    process.kill(-serve.proc.pid!, 'SIGTERM');
    await within(serve.closed, 15_000, 'exit after SIGTERM');
    assert.match(serve.stdout(), /\sstopped$/m);
  } finally {
    try {
      process.kill(-serve.proc.pid!, 'SIGKILL');
    } catch {
      // the group has already gone
    }
  }
});
