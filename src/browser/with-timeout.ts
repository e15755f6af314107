/** Rejects with MeshError TIMEOUT when `p` has not settled within `ms`. */
import { MeshError } from '../core/errors.js';

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(MeshError.timeout(what, ms)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e)),
    );
  });
}
