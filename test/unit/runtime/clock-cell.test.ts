import { Clock } from '../../../server/src/runtime/clock.js';

test('a clock on a shared cell that has not ticked yet reads the system time, never 0 ("never expires")', () => {
  const started = Math.floor(Date.now() / 1000) - 100;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Clock(started, cell);
  const t = worker.now();
  expect(t).toBeGreaterThanOrEqual(100);
  expect(t).toBeLessThanOrEqual(101 + 1);
  // Once the main thread's clock ticks into the cell, the worker's reads come from it.
  cell[0] = 5000;
  expect(worker.now()).toBe(5000);
});

test('a clock reads whole seconds since the process started, rounded down at any fraction', () => {
  const realNow = Date.now;
  try {
    const clock = new Clock(1_700_000_000);
    for (const [ms, expected] of [[1_700_000_100_000, 100], [1_700_000_100_499, 100], [1_700_000_100_700, 100], [1_700_000_100_999, 100], [1_700_000_101_000, 101]]) {
      Date.now = () => ms;
      expect(clock.now()).toBe(expected);
    }
  } finally {
    Date.now = realNow;
  }
});
