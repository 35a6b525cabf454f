// How much garbage V8 may pile up before a full collection. V8 grows the heap in proportion to what
// survived the last one (up to 4×): right for a small heap, but a large live set (the embedded
// registry's caches) then carries hundreds of MB of garbage. regplane bounds the garbage in bytes
// instead, re-deriving V8's growth percentage from the live heap after every full collection.
import { constants, PerformanceObserver } from "node:perf_hooks";
import { getHeapStatistics, setFlagsFromString } from "node:v8";

/** Tighter than this makes full collections back to back; looser than this is V8's own choice anyway. */
const MIN_PERCENT = 10;
const MAX_PERCENT = 300;

/** The growth percentage that lets a heap of `liveBytes` gain about `headroomBytes`; 0 means V8's own factor. */
export function growingPercentFor(liveBytes: number, headroomBytes: number): number {
  const percent = Math.round((headroomBytes * 100) / Math.max(liveBytes, 1));
  if (percent >= MAX_PERCENT) return 0;
  return Math.max(MIN_PERCENT, percent);
}

export interface HeapGovernor {
  /** The percentage in force (0: V8's own factor). */
  readonly percent: number;
  stop(): void;
}

/** Applies `growingPercentFor` now and after every full collection, while the process runs. */
export function governHeapGrowth(headroomBytes: number): HeapGovernor {
  let percent = -1;
  const apply = () => {
    const next = growingPercentFor(getHeapStatistics().used_heap_size, headroomBytes);
    // Small changes are not worth a flag write; crossing to or from V8's own factor always is.
    if (percent !== -1 && (next === 0) === (percent === 0) && Math.abs(next - percent) < 5) return;
    percent = next;
    setFlagsFromString(`--heap-growing-percent=${percent}`);
  };
  const observer = new PerformanceObserver((list) => {
    const entries = list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[];
    if (entries.some((e) => e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) apply();
  });
  observer.observe({ entryTypes: ["gc"] });
  apply();
  return {
    get percent() {
      return percent;
    },
    stop: () => observer.disconnect(),
  };
}
