/** A bounded set of recently seen keys: remembers the newest `capacity` keys, forgets the oldest. */
export class RecentSet {
  private keys = new Set<string>();
  constructor(private readonly capacity: number) {}

  /** Adds `key`; returns false when it was already there (a duplicate). */
  add(key: string): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    if (this.keys.size > this.capacity) this.keys.delete(this.keys.values().next().value!);
    return true;
  }
}

/** A map that keeps only its newest `capacity` entries. */
export class BoundedMap<K, V> {
  private map = new Map<K, V>();
  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  /** Returns and forgets the entry for `key`. */
  take(key: K): V | undefined {
    const v = this.map.get(key);
    this.map.delete(key);
    return v;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
  }
}
