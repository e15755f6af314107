/**
 * The node's identity on disk: its Ed25519 private key as PKCS#8 in PEM ("PRIVATE KEY", the
 * form openssl reads), readable by the owner only. Created once; a key file that exists but
 * cannot be read or parsed is an error naming the file, never a reason to make a new identity,
 * because a new key silently changes the node's id for everyone who knows it.
 */
import { readFile } from 'node:fs/promises';
import { MeshError } from '../core/errors.js';
import { Identity } from '../core/identity.js';
import { createFileAtomic } from './atomic-file.js';

const PEM_LABEL = 'PRIVATE KEY';
const KEY_MODE = 0o600;

/** `generate` makes a new identity when there is none (generateWithWork when the mesh asks for proof of work). */
export async function loadOrCreateIdentity(path: string, generate: () => Promise<Identity> = () => Identity.generate()): Promise<{ identity: Identity; created: boolean }> {
  const existing = await readKeyFile(path);
  // An empty file is a damaged key (say, a crash of some other tool mid-write), not a missing one.
  if (existing !== undefined) return { identity: await parseKey(path, existing), created: false };
  const identity = await generate();
  try {
    await createFileAtomic(path, toPem(await identity.exportPkcs8()), KEY_MODE);
  } catch (err) {
    // Another process created it between our read and our write: use that one.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { identity: await parseKey(path, (await readKeyFile(path)) ?? ''), created: false };
    throw new MeshError('STORE_CORRUPT', `cannot create the identity key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return { identity, created: true };
}

/** The file's text, or undefined when there is no file yet. */
async function readKeyFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw corrupt(path, `cannot be read (${(err as Error).message})`, err);
  }
}

async function parseKey(path: string, text: string): Promise<Identity> {
  const der = fromPem(text);
  if (!der) throw corrupt(path, `is not a PEM "${PEM_LABEL}" block`);
  try {
    return await Identity.fromPkcs8(der);
  } catch (err) {
    throw corrupt(path, `does not hold a valid Ed25519 PKCS#8 key (${(err as Error).message})`, err);
  }
}

function corrupt(path: string, what: string, cause?: unknown): MeshError {
  return new MeshError(
    'STORE_CORRUPT',
    `the identity key file ${path} ${what}. Restore it from a backup, or move it away to start over with a new node id.`,
    { cause },
  );
}

function toPem(der: Uint8Array): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${PEM_LABEL}-----\n${lines.join('\n')}\n-----END ${PEM_LABEL}-----\n`;
}

function fromPem(text: string): Uint8Array | undefined {
  const m = /^-----BEGIN PRIVATE KEY-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n-----END PRIVATE KEY-----\s*$/.exec(text.trim() + '\n');
  if (!m) return undefined;
  const der = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  return der.length > 0 ? new Uint8Array(der) : undefined;
}
