/**
 * One write per socket per I/O callback (STYLE.md rule 4): handlers mark the client connections that have
 * replies ready and the upstream connections that have requests queued, and the end of every socket or timer
 * callback flushes them all at once. A client pipelining 100 gets to 3 servers costs 3 upstream writes and,
 * per upstream read, one client write.
 */
export interface Flushable {
  /** True while marked; cleared by flush(). */
  marked: boolean;
  flush(): void;
}

const pending: Flushable[] = [];

export function mark(f: Flushable): void {
  if (f.marked) return;
  f.marked = true;
  pending.push(f);
}

/** Flushes everything marked, including what flushing marks (a client flush never marks an upstream). */
export function runBatch(): void {
  for (let i = 0; i < pending.length; i++) {
    const f = pending[i]!;
    f.marked = false;
    f.flush();
  }
  pending.length = 0;
}
