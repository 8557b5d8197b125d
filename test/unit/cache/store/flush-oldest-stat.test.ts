/**
 * `stats settings` reports memcached's settings.oldest_live as `oldest`: the last flush_all's deadline in rel
 * seconds, one second before it (memcached: realtime(N) - 1 for `flush_all N`, current_time - 1 for a plain
 * one), and 0 before any flush. The differential test cannot compare it (each process counts from its own
 * start), so the values are pinned here.
 */
import { newStore } from './helpers.js';

test('oldest is 0 before any flush, now - 1 after flush_all, and the delayed deadline after flush_all N', () => {
  const store = newStore();
  expect(store.stats().oldestLive).toBe(0);
  store.flushAll(100);
  expect(store.stats().oldestLive).toBe(99);
  // flush_all 3 at rel 120: the engine passes realtime(3) - 1 = 122.
  store.setOldestLive(122);
  expect(store.stats().oldestLive).toBe(122);
});
