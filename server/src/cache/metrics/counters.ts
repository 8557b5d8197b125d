/**
 * Server counters in shared memory (STYLE.md rule 5).
 *
 *   counters SharedArrayBuffer (Float64Array view)
 *   +---------------------------+---------------------------+-----+---------------------------+
 *   | row 0: thread 0 counters  | row 1: thread 1 counters  | ... | row T: main thread        |
 *   +---------------------------+---------------------------+-----+---------------------------+
 *     each row: COUNTER_NAMES.length slots, then the latency histograms
 *     (LATENCY_COMMANDS x (LATENCY_BUCKETS_US.length + 1) bucket counts, then LATENCY_COMMANDS sums in us)
 *
 * Each thread writes only its own row with plain stores: no atomics and no shared cache line on the hot
 * path. Readers (stats, /metrics) sum the rows at read time; a torn read of a double can't happen on x64
 * and a count read mid-update is off by at most one request, which memcached's own per-thread stats also
 * allow. Gauges such as curr_connections are kept in the Int32 `gauges` region with Atomics because
 * several threads change them.
 */

export const COUNTER_NAMES = [
  'cmd_get', 'cmd_set', 'cmd_flush', 'cmd_touch', 'cmd_meta',
  'get_hits', 'get_misses', 'get_expired', 'get_flushed',
  'delete_misses', 'delete_hits', 'incr_misses', 'incr_hits', 'decr_misses', 'decr_hits',
  'cas_misses', 'cas_hits', 'cas_badval', 'touch_hits', 'touch_misses',
  'store_too_large', 'store_no_memory', 'auth_cmds', 'auth_errors',
  'bytes_read', 'bytes_written', 'total_connections', 'rejected_connections', 'conn_yields', 'idle_kicks',
  'listen_disabled_num', 'malloc_fails', 'ssl_handshake_errors',
  // A gauge, not a counter: the thread's V8 heap in use, refreshed every second.
  'heap_used_bytes',
  // Store totals at the last `stats reset` (the store's own counters only grow; stats show the difference).
  'base_total_items', 'base_evictions', 'base_reclaimed', 'base_expired_unfetched', 'base_evicted_unfetched',
  'base_evicted_active',
  // Items a ring purge dropped (RAM items and flash entries): counted in the main thread's row.
  'ring_purged_items',
] as const;

export type CounterName = (typeof COUNTER_NAMES)[number];
export const C: { [K in CounterName]: number } = Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, i])) as never;

/** Commands with a latency histogram (memcached has none; memcached_exporter-compatible names elsewhere). */
export const LATENCY_COMMANDS = ['get', 'set', 'delete', 'incr', 'touch', 'meta', 'other'] as const;
export type LatencyCommand = (typeof LATENCY_COMMANDS)[number];
export const L: { [K in LatencyCommand]: number } = Object.fromEntries(LATENCY_COMMANDS.map((n, i) => [n, i])) as never;
/** Upper bounds in microseconds; the last bucket is +Inf. */
export const LATENCY_BUCKETS_US = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000];

const HIST_WIDTH = LATENCY_BUCKETS_US.length + 1;
const HIST_BASE = COUNTER_NAMES.length;
const SUM_BASE = HIST_BASE + LATENCY_COMMANDS.length * HIST_WIDTH;
export const ROW_WIDTH = SUM_BASE + LATENCY_COMMANDS.length;

/** Int32 gauges shared by all threads (Atomics). */
export const GAUGE_CURR_CONNECTIONS = 0;
export const GAUGE_CONNECTION_STRUCTURES = 1;
export const GAUGE_ACCEPTING = 2; // 1 while accepting connections
export const GAUGE_READY = 3; // 1 once every worker listens
export const GAUGE_RING_VERSION = 4; // version of the ring document in force; -1 before the first one
export const GAUGE_RING_STATE = 5; // index into RING_STATES
const GAUGE_SLOTS = 8;

/**
 * What a server that follows the ring is doing with it (`stats` ring_state), by GAUGE_RING_STATE value:
 * waiting for a first valid document, in a transition (`previous` present: nothing is dropped), not named
 * in the ring, in a ring without active members, purging, done (nothing left to drop under this version),
 * or following without purging (-o ring_purge_rate=0).
 */
export const RING_STATES = ['waiting', 'transition', 'not_member', 'no_active', 'purging', 'done', 'disabled'] as const;
export type RingState = (typeof RING_STATES)[number];

export interface CounterMemory {
  readonly rows: number;
  readonly counters: SharedArrayBuffer;
  readonly gauges: SharedArrayBuffer;
}

export function createCounterMemory(threads: number): CounterMemory {
  const rows = threads + 1;
  return {
    rows,
    counters: new SharedArrayBuffer(rows * ROW_WIDTH * 8),
    gauges: new SharedArrayBuffer(GAUGE_SLOTS * 4),
  };
}

/** One thread's writable view of its row. */
export class Counters {
  readonly row: Float64Array;
  readonly gauges: Int32Array;

  constructor(memory: CounterMemory, rowIndex: number) {
    this.row = new Float64Array(memory.counters, rowIndex * ROW_WIDTH * 8, ROW_WIDTH);
    this.gauges = new Int32Array(memory.gauges);
  }

  observe(command: number, micros: number): void {
    let b = 0;
    while (b < LATENCY_BUCKETS_US.length && micros > LATENCY_BUCKETS_US[b]) b++;
    this.row[HIST_BASE + command * HIST_WIDTH + b]++;
    this.row[SUM_BASE + command] += micros;
  }
}

/** Sums every row; used at scrape and `stats` time, never on the request path. */
export class CounterReader {
  private readonly all: Float64Array;
  readonly gauges: Int32Array;

  constructor(private readonly memory: CounterMemory) {
    this.all = new Float64Array(memory.counters);
    this.gauges = new Int32Array(memory.gauges);
  }

  total(index: number): number {
    let sum = 0;
    for (let r = 0; r < this.memory.rows; r++) sum += this.all[r * ROW_WIDTH + index];
    return sum;
  }

  get(name: CounterName): number {
    return this.total(C[name]);
  }

  gauge(slot: number): number {
    return Atomics.load(this.gauges, slot);
  }

  /** Cumulative bucket counts (le semantics) and the sum in seconds for one command. */
  histogram(command: number): { buckets: number[]; count: number; sumSeconds: number } {
    const buckets: number[] = [];
    let cumulative = 0;
    for (let b = 0; b < HIST_WIDTH; b++) {
      cumulative += this.total(HIST_BASE + command * HIST_WIDTH + b);
      buckets.push(cumulative);
    }
    return { buckets, count: cumulative, sumSeconds: this.total(SUM_BASE + command) / 1e6 };
  }

  /** stats reset: zeroes every counter row (not the gauges), as memcached's stats_reset does. */
  reset(): void {
    this.all.fill(0);
  }

  /** Records a baseline in the last row (the main thread's), where no thread counts requests. */
  setBase(index: number, value: number): void {
    this.all[(this.memory.rows - 1) * ROW_WIDTH + index] = value;
  }
}
