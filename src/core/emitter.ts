/** A tiny typed event emitter: `on` returns the function that removes the listener. */
export class Emitter<Events extends object> {
  private listeners = new Map<keyof Events, Set<(e: never) => void>>();

  on<K extends keyof Events>(event: K, fn: (e: Events[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as (e: never) => void);
    return () => void set!.delete(fn as (e: never) => void);
  }

  emit<K extends keyof Events>(event: K, e: Events[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of set) {
      try {
        (fn as (e: Events[K]) => void)(e);
      } catch {
        // A listener's failure is its own; the emitter goes on.
      }
    }
  }
}
