/**
 * `src/core` is the platform-free heart: it imports nothing outside itself except `cborg` and
 * `@noble/hashes`, and touches no Node or DOM globals. The scan uses the TypeScript parser, so
 * multi-line, type-only, re-export and dynamic imports are all seen.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const CORE = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/core');
const ALLOWED_PACKAGES = ['cborg', '@noble/hashes'];
/** Globals that exist only in Node or only in browsers. */
const PLATFORM_GLOBALS = new Set(['Buffer', 'process', 'require', '__dirname', '__filename', 'window', 'document', 'navigator', 'localStorage', 'indexedDB']);

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every problem with one source file: imports leaving core, and platform globals used. */
export function layeringProblems(file: string, source: string): string[] {
  const problems: string[] = [];
  const info = ts.preProcessFile(source, true, true);
  for (const { fileName: spec } of info.importedFiles) {
    if (spec.startsWith('.')) {
      const target = resolve(dirname(file), spec);
      if (relative(CORE, target).startsWith('..')) problems.push(`imports ${spec}, outside src/core`);
    } else if (!ALLOWED_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`))) {
      problems.push(`imports package ${spec}`);
    }
  }
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true);
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && PLATFORM_GLOBALS.has(node.text) && isValueReference(node)) {
      const { line } = sf.getLineAndCharacterOfPosition(node.getStart());
      problems.push(`uses global ${node.text} (line ${line + 1})`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return problems;
}

/**
 * True unless the identifier is a property name, a declaration's own name, or a type. Not
 * scope-aware: a local that shadows a platform global is flagged too, which core avoids anyway.
 */
function isValueReference(id: ts.Identifier): boolean {
  const p = id.parent;
  if ((ts.isPropertyAccessExpression(p) || ts.isQualifiedName(p)) && p.getChildAt(2) === id) return false;
  if ((ts.isPropertyAssignment(p) || ts.isPropertySignature(p) || ts.isPropertyDeclaration(p) || ts.isMethodDeclaration(p) || ts.isMethodSignature(p)) && p.name === id) return false;
  if ((ts.isParameter(p) || ts.isVariableDeclaration(p) || ts.isBindingElement(p)) && p.name === id) return false;
  if (ts.isTypeReferenceNode(p)) return false;
  return true;
}

describe('layering', () => {
  it('the scanner catches what it must (so a pass below means something)', () => {
    const f = join(CORE, 'sample.ts');
    const bad = [
      `import { x } from '../transports/memory.js';`,
      `import {\n  a,\n  b,\n} from 'node:crypto';`,
      `export * from '../sim/validator.js';`,
      `import type { Foo } from 'ws';`,
      `const m = await import('node:fs');`,
      `import 'some-polyfill';`,
      `const b = Buffer.from('x');`,
      `if (process.env.X) {}`,
      `document.title = 'x';`,
    ];
    for (const src of bad) assert.notDeepEqual(layeringProblems(f, src), [], `should flag: ${src}`);
    const good = [
      `import { encode } from 'cborg';`,
      `import { sha256 } from '@noble/hashes/sha256';`,
      `import { toHex } from './bytes.js';`,
      `const o = { process: 1, window: 2 }; o.process; type T = { document: string };`,
      `// import x from 'node:fs'\nconst s = "require('fs')";`,
    ];
    for (const src of good) assert.deepEqual(layeringProblems(f, src), [], `should pass: ${src}`);
  });

  it('src/core imports only src/core, cborg and @noble/hashes, and uses no platform globals', () => {
    const files = filesUnder(CORE);
    assert.ok(files.length >= 10, `found ${files.length} core files`);
    const problems = files.flatMap((f) => layeringProblems(f, readFileSync(f, 'utf8')).map((p) => `${relative(CORE, f)}: ${p}`));
    assert.deepEqual(problems, []);
  });
});
