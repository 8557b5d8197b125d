/**
 * Clock.realtime(): memcached's realtime(EXPTIME_TO_POSITIVE_TIME(exptime)), value for value. An item is
 * dead once `now >= exptime` (rel seconds), so a relative TTL of N set at rel second `now` expires at
 * exactly `now + N`: one second more and every TTL in the cache lasts a second too long.
 */
import { Clock } from '../../../server/src/runtime/clock.js';
import { REALTIME_MAXDELTA } from '../../../server/src/protocol/limits.js';

const STARTED = 1_700_000_000;
const clock = new Clock(STARTED);

test('a relative TTL is now + TTL, exactly', () => {
  expect(clock.realtime(1, 100)).toBe(101);
  expect(clock.realtime(2, 100)).toBe(102);
  expect(clock.realtime(60, 5)).toBe(65);
});

test('0 never expires; the largest relative TTL is 30 days, one more is an absolute time', () => {
  expect(clock.realtime(0, 100)).toBe(0);
  expect(REALTIME_MAXDELTA).toBe(2_592_000);
  expect(clock.realtime(REALTIME_MAXDELTA, 100)).toBe(100 + 2_592_000);
  // 2,592,001 read as a unix time is long before the process started: already expired (rel 1).
  expect(clock.realtime(REALTIME_MAXDELTA + 1, 100)).toBe(1);
});

test('an absolute unix time becomes seconds since the process started; one at or before the start is rel 1', () => {
  expect(clock.realtime(STARTED + 500, 100)).toBe(500);
  expect(clock.realtime(STARTED + 1, 100)).toBe(1);
  expect(clock.realtime(STARTED, 100)).toBe(1);
  expect(clock.realtime(STARTED - 1000, 100)).toBe(1);
});

test('a negative exptime is already expired (memcached maps it past REALTIME_MAXDELTA)', () => {
  expect(clock.realtime(-1, 100)).toBe(1);
  expect(clock.realtime(-2_000_000_000, 100)).toBe(1);
});

test('Clock.startingNow puts processStarted 62 s before now, as memcached does (never rel 0)', () => {
  const before = Math.floor(Date.now() / 1000);
  const c = Clock.startingNow();
  const after = Math.floor(Date.now() / 1000);
  expect(c.processStarted).toBeGreaterThanOrEqual(before - 62);
  expect(c.processStarted).toBeLessThanOrEqual(after - 62);
  expect(c.now()).toBeGreaterThanOrEqual(62);
  expect(c.now()).toBeLessThanOrEqual(63);
});
