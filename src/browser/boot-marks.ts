/**
 * When each step of a node's start happened, as absolute times (ms since the epoch, sub-ms where
 * the page is cross-origin isolated), so a tab's, its worker's and another browser's marks can
 * be set side by side. `status().boot` shows them; bench/connect.ts turns them into phases.
 */
export type BootMarks = Record<string, number>;

/** performance.timeOrigin differs per page and worker; their sum with now() is comparable across them. */
export function absNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Records `name` once: the first time is the one that says how long a start took. */
export function mark(marks: BootMarks, name: string): void {
  marks[name] ??= absNow();
}
