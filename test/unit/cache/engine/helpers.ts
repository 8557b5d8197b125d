import { createStoreMemory, openTieredStore } from '../../../../server/src/cache/store/store.js';
import { createCounterMemory, Counters } from '../../../../server/src/cache/metrics/counters.js';
import { Clock } from '../../../../server/src/runtime/clock.js';
import { TextEngine } from '../../../../server/src/cache/engine/text.js';
import { Session, WANT_COMMAND, WANT_NREAD, WANT_SWALLOW } from '../../../../server/src/cache/engine/session.js';
import type { StatsSource } from '../../../../server/src/cache/metrics/stats-source.js';

/** A RAM-only engine fed requests without sockets, the way cache/connection.ts feeds it. */
export class EngineHarness {
  readonly counters = new Counters(createCounterMemory(1), 0);
  readonly clock = Clock.startingNow();
  readonly verbosity: number[] = [];
  readonly engine: TextEngine;
  readonly s = new Session();

  constructor(opts: { flushEnabled?: boolean; maxItemSize?: number } = {}) {
    const maxItemSize = opts.maxItemSize ?? 1024 * 1024;
    const memory = createStoreMemory({ memoryLimit: 16 * 1024 * 1024, maxItemSize, shards: 4 });
    const store = openTieredStore(memory, { now: () => this.clock.now() });
    const stats: StatsSource = {
      general: () => [['pid', 1]], settings: () => [], items: () => [], slabs: () => [], conns: () => [], reset() {},
    };
    this.engine = new TextEngine(store, this.counters, this.clock, {
      maxItemSize, shutdownEnabled: false, flushEnabled: opts.flushEnabled ?? true,
    }, { shutdown() {}, setVerbosity: (level) => this.verbosity.push(level) }, stats);
  }

  /** Runs every request in `input` and returns the replies they produced. */
  run(input: string): string {
    const buf = Buffer.from(input, 'latin1');
    const s = this.s;
    let pos = 0;
    for (let guard = 0; guard < 10000 && pos < buf.length; guard++) {
      if (s.want === WANT_NREAD) {
        s.want = WANT_COMMAND;
        this.engine.completeNread(s, buf, pos);
        pos += s.nreadBytes;
        continue;
      }
      if (s.want === WANT_SWALLOW) {
        const n = Math.min(buf.length - pos, s.swallowBytes);
        pos += n;
        s.swallowBytes -= n;
        if (s.swallowBytes === 0) s.want = WANT_COMMAND;
        continue;
      }
      const nl = buf.indexOf(10, pos);
      if (nl < 0) break;
      const lineEnd = nl - pos > 1 && buf[nl - 1] === 13 ? nl - 1 : nl;
      this.engine.processLine(s, buf, pos, lineEnd);
      pos = nl + 1;
    }
    const out = s.out.buf.toString('latin1', 0, s.out.pos);
    s.out.pos = 0;
    return out;
  }
}
