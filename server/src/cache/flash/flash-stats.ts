/**
 * Flash tier counters, one Float64 row per thread (as metrics/counters.ts): each thread writes only its
 * own row with plain stores; readers sum the rows. Names are memcached's (`stats` and `stats extstore`,
 * as memcached_exporter reads them) where memcached has the counter; Cachalot's own are marked.
 *
 *   row: COUNTER_NAMES.length slots | READ_BUCKETS_US.length + 1 read latency buckets | latency sum (us)
 */
export const FLASH_COUNTER_NAMES = [
  // memcached's general stats lines (thread stats)
  'get_extstore', 'get_aborted_extstore', 'get_oom_extstore', 'recache_from_extstore', 'miss_from_extstore',
  'badcrc_from_extstore',
  // memcached's extstore_* lines
  'extstore_page_allocs', 'extstore_page_evictions', 'extstore_page_reclaims', 'extstore_objects_evicted',
  'extstore_objects_read', 'extstore_objects_written', 'extstore_bytes_evicted', 'extstore_bytes_written',
  'extstore_bytes_read', 'extstore_io_queue',
  // Cachalot's own
  'extstore_objects_used', // +1 / -1 by whichever thread changes the index; the sum is the live count
  'extstore_wbuf_dropped', 'extstore_tombstones_written', 'extstore_write_errors', 'extstore_read_errors',
  'extstore_recovered_objects', 'extstore_recovered_files', 'extstore_torn_records', 'extstore_recovery_ms',
  'extstore_objects_demoted', 'extstore_shutdown_flushed',
  // evictions of an item whose flash copy was still current (promoted on a read, unchanged): not rewritten
  'extstore_demotes_kept',
  // writes that waited for room in the write buffer (backpressure.ts), and waits that ran out (a stuck disk)
  'extstore_wbuf_waits', 'extstore_wbuf_wait_timeouts',
  // reads done on the serving thread (page-cache speed), and the times slow ones turned that off for a while
  'extstore_inline_reads', 'extstore_inline_backoffs',
  // memcached's extstore_compact_* lines: live items of the oldest file rewritten instead of dropped
  'extstore_compact_lost', 'extstore_compact_rescues', 'extstore_compact_skipped',
  // Gauges, one per serving thread (readers take the max over rows): event-loop delay over the last second.
  'eventloop_delay_p99_us', 'eventloop_delay_max_us',
  // ... and the time it was runnable but waited for a CPU (Linux schedstat): the OS's share of that delay.
  'runqueue_wait_us',
] as const;

export type FlashCounterName = (typeof FLASH_COUNTER_NAMES)[number];
export const F: { [K in FlashCounterName]: number } =
  Object.fromEntries(FLASH_COUNTER_NAMES.map((n, i) => [n, i])) as never;

/** Flash read latency histogram bounds in microseconds; the last bucket is +Inf. */
export const READ_BUCKETS_US = [25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000];
const HIST_BASE = FLASH_COUNTER_NAMES.length;
const SUM = HIST_BASE + READ_BUCKETS_US.length + 1;
/**
 * Serving threads' event-loop delay histogram (µs bounds; the last bucket is +Inf): every sample since
 * start, so that a benchmark can take the p99 of exactly its window from two scrapes (the per-second p99
 * gauges above show the shape over time, not one window's p99).
 */
export const LOOP_BUCKETS_US = [250, 500, 1000, 2000, 3000, 4000, 5000, 7500, 10000, 25000, 100000, 1000000];
const LOOP_BASE = SUM + 1;
const LOOP_SUM = LOOP_BASE + LOOP_BUCKETS_US.length + 1;
export const ROW_WIDTH = LOOP_SUM + 1;

export class FlashCounters {
  readonly row: Float64Array;
  constructor(counters: SharedArrayBuffer, rowIndex: number) {
    this.row = new Float64Array(counters, rowIndex * ROW_WIDTH * 8, ROW_WIDTH);
  }

  observeLoopDelay(micros: number): void {
    this.observe(LOOP_BUCKETS_US, LOOP_BASE, LOOP_SUM, micros);
  }

  observeRead(micros: number): void {
    this.observe(READ_BUCKETS_US, HIST_BASE, SUM, micros);
  }

  private observe(bounds: readonly number[], base: number, sum: number, micros: number): void {
    let b = 0;
    while (b < bounds.length && micros > bounds[b]) b++;
    this.row[base + b]++;
    this.row[sum] += micros;
  }
}

export class FlashCounterReader {
  private readonly all: Float64Array;
  private readonly rows: number;
  constructor(counters: SharedArrayBuffer) {
    this.all = new Float64Array(counters);
    this.rows = this.all.length / ROW_WIDTH;
  }

  total(index: number): number {
    let s = 0;
    for (let r = 0; r < this.rows; r++) s += this.all[r * ROW_WIDTH + index];
    return s;
  }

  get(name: FlashCounterName): number {
    return this.total(F[name]);
  }

  /** The largest value of a per-thread gauge. */
  max(name: FlashCounterName): number {
    let m = 0;
    for (let r = 0; r < this.rows; r++) m = Math.max(m, this.all[r * ROW_WIDTH + F[name]]);
    return m;
  }

  /** Prometheus text for the read latency histogram. */
  histogramText(name: string, help: string): string {
    return this.histogram(name, help, READ_BUCKETS_US, HIST_BASE, SUM);
  }

  /** Prometheus text for the serving threads' event-loop delay histogram (all threads' samples). */
  loopDelayText(name: string, help: string): string {
    return this.histogram(name, help, LOOP_BUCKETS_US, LOOP_BASE, LOOP_SUM);
  }

  private histogram(name: string, help: string, bounds: readonly number[], base: number, sum: number): string {
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    let cum = 0;
    for (let b = 0; b <= bounds.length; b++) {
      cum += this.total(base + b);
      const le = b < bounds.length ? String(bounds[b] / 1e6) : '+Inf';
      lines.push(`${name}_bucket{le="${le}"} ${cum}`);
    }
    lines.push(`${name}_sum ${this.total(sum) / 1e6}`, `${name}_count ${cum}`);
    return lines.join('\n') + '\n';
  }
}
