import { FlashCounterReader, FlashCounters, LOOP_BUCKETS_US, ROW_WIDTH } from '../../../../server/src/cache/flash/flash-stats.js';

/** Cumulative bucket counts by `le` from Prometheus histogram text. */
function buckets(text: string, name: string): Map<string, number> {
  const m = new Map<string, number>();
  const re = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, 'gm');
  for (let r = re.exec(text); r !== null; r = re.exec(text)) m.set(r[1]!, Number(r[2]));
  return m;
}

describe('flash counters: serving threads\' event-loop delay histogram', () => {
  test('samples of two threads land in the right buckets; the text is cumulative, with sum and count', () => {
    const sab = new SharedArrayBuffer(3 * ROW_WIDTH * 8);
    const a = new FlashCounters(sab, 0);
    const b = new FlashCounters(sab, 2);
    for (const us of [0, 250, 251, 4_999, 5_000]) a.observeLoopDelay(us);
    for (const us of [5_001, 7_500, 2_000_000]) b.observeLoopDelay(us);
    const text = new FlashCounterReader(sab).loopDelayText('loop', 'help');
    const m = buckets(text, 'loop');
    expect(m.size).toBe(LOOP_BUCKETS_US.length + 1);
    expect(m.get('0.00025')).toBe(2); // 0 and 250 (bounds are inclusive)
    expect(m.get('0.0005')).toBe(3);
    expect(m.get('0.004')).toBe(3);
    expect(m.get('0.005')).toBe(5);
    expect(m.get('0.0075')).toBe(7);
    expect(m.get('1')).toBe(7);
    expect(m.get('+Inf')).toBe(8);
    expect(text).toMatch(/^loop_count 8$/m);
    expect(text).toMatch(/^loop_sum 2\.023001$/m);
    // The read-latency histogram in the same rows is untouched.
    expect(new FlashCounterReader(sab).histogramText('r', 'h')).toMatch(/^r_count 0$/m);
  });
});
