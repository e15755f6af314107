/**
 * Page lifecycle, tab side. A tab the browser freezes (Page Lifecycle `freeze`) or puts in the
 * back/forward cache (`pagehide` with `persisted`) runs no script until it comes back, so the
 * WebRTC links it hosts would stall until the keepalive gives up (45 s). It gives them up as it
 * goes instead (`park`), and when it is resumed or restored it registers again (`resume`). A
 * hidden tab still runs, throttled: it keeps its links, but new ones go to visible tabs first.
 */
export interface LifecycleHandlers {
  /** The page is about to be frozen or cached: no more script runs after this returns. */
  park(): void;
  /** The page runs again after `park`. */
  resume(): void;
  visibility(hidden: boolean): void;
}

/** Listens until the returned function is called. */
export function watchLifecycle(h: LifecycleHandlers): () => void {
  const onFreeze = () => h.park();
  const onResume = () => h.resume();
  const onPageHide = (e: PageTransitionEvent) => e.persisted && h.park();
  const onPageShow = (e: PageTransitionEvent) => e.persisted && h.resume();
  const onVisibility = () => h.visibility(document.visibilityState === 'hidden');
  document.addEventListener('freeze', onFreeze);
  document.addEventListener('resume', onResume);
  addEventListener('pagehide', onPageHide);
  addEventListener('pageshow', onPageShow);
  document.addEventListener('visibilitychange', onVisibility);
  return () => {
    document.removeEventListener('freeze', onFreeze);
    document.removeEventListener('resume', onResume);
    removeEventListener('pagehide', onPageHide);
    removeEventListener('pageshow', onPageShow);
    document.removeEventListener('visibilitychange', onVisibility);
  };
}

export function pageHidden(): boolean {
  return typeof document !== 'undefined' && document.visibilityState === 'hidden';
}
