// The shared counter rows: each thread writes its own row, readers sum them; latency histograms put an
// observation in the first bucket whose upper bound holds it (Prometheus' `le`), and `stats reset` zeroes
// counters but not the gauges other threads change with Atomics.
import { describe, expect, test } from '@jest/globals';
import {
  C, CounterReader, Counters, createCounterMemory, GAUGE_CURR_CONNECTIONS, L, LATENCY_BUCKETS_US,
} from '../../../../server/src/cache/metrics/counters.js';

describe('counters', () => {
  test('rows of different threads add up; a thread never sees another row in its own', () => {
    const memory = createCounterMemory(2);
    const t0 = new Counters(memory, 0);
    const t1 = new Counters(memory, 1);
    t0.row[C.cmd_get] += 3;
    t1.row[C.cmd_get] += 4;
    t1.row[C.get_hits] += 1;
    const reader = new CounterReader(memory);
    expect(reader.get('cmd_get')).toBe(7);
    expect(reader.get('get_hits')).toBe(1);
    expect(t0.row[C.cmd_get]).toBe(3);
  });

  test('an observation lands in the first bucket whose bound holds it; buckets are cumulative', () => {
    const memory = createCounterMemory(1);
    const t = new Counters(memory, 0);
    t.observe(L.get, 10); // exactly a bound: that bucket (le)
    t.observe(L.get, 10.5); // just above: the next one
    t.observe(L.get, 5_000_000); // past the last bound: +Inf
    t.observe(L.set, 1);
    const h = new CounterReader(memory).histogram(L.get);
    expect(h.buckets).toHaveLength(LATENCY_BUCKETS_US.length + 1);
    expect(h.buckets[0]).toBe(1);
    expect(h.buckets[1]).toBe(2);
    expect(h.buckets[LATENCY_BUCKETS_US.length - 1]).toBe(2);
    expect(h.buckets[LATENCY_BUCKETS_US.length]).toBe(3);
    expect(h.count).toBe(3);
    expect(h.sumSeconds).toBeCloseTo(5.0000205, 9);
    expect(new CounterReader(memory).histogram(L.set).count).toBe(1);
  });

  test('stats reset zeroes counters and histograms, not the gauges', () => {
    const memory = createCounterMemory(1);
    const t = new Counters(memory, 0);
    t.row[C.cmd_set] += 5;
    t.observe(L.delete, 100);
    Atomics.add(t.gauges, GAUGE_CURR_CONNECTIONS, 2);
    const reader = new CounterReader(memory);
    reader.reset();
    expect(reader.get('cmd_set')).toBe(0);
    expect(reader.histogram(L.delete).count).toBe(0);
    expect(reader.gauge(GAUGE_CURR_CONNECTIONS)).toBe(2);
  });

  test('a baseline goes into the main thread\'s row, which no worker writes', () => {
    const memory = createCounterMemory(2);
    const reader = new CounterReader(memory);
    reader.setBase(C.base_evictions, 9);
    expect(reader.get('base_evictions')).toBe(9);
    expect(new Counters(memory, 0).row[C.base_evictions]).toBe(0);
    expect(new Counters(memory, 2).row[C.base_evictions]).toBe(9);
  });
});
