/**
 * A mutex in one Int32 word of shared memory: 0 free, 1 held, 2 held with possible waiters (Drepper,
 * "Futexes Are Tricky", mutex 3). Uncontended lock/unlock is one compareExchange and one sub; a thread
 * only sleeps in Atomics.wait after a short spin, because critical sections here are sub-microsecond.
 */
import { SH_LOCK, SHARD_I32_STRIDE } from './layout.js';

const SPINS = 64;

export function lockWord(a: Int32Array, i: number): void {
  if (Atomics.compareExchange(a, i, 0, 1) === 0) return;
  for (let s = 0; s < SPINS; s++) {
    if (Atomics.load(a, i) === 0 && Atomics.compareExchange(a, i, 0, 1) === 0) return;
  }
  let c = Atomics.exchange(a, i, 2);
  while (c !== 0) {
    Atomics.wait(a, i, 2);
    c = Atomics.exchange(a, i, 2);
  }
}

export function tryLockWord(a: Int32Array, i: number): boolean {
  return Atomics.compareExchange(a, i, 0, 1) === 0;
}

export function unlockWord(a: Int32Array, i: number): void {
  if (Atomics.sub(a, i, 1) !== 1) {
    Atomics.store(a, i, 0);
    Atomics.notify(a, i, 1);
  }
}

/*
 * Shard locks: one word per shard in the store's `shards` buffer (layout.ts). The RAM store and the flash
 * index take the same word for a key's shard, so one lock orders both tiers; only these functions know
 * where the word is.
 */
export function lockShard(shards: Int32Array, shard: number): void {
  lockWord(shards, shard * SHARD_I32_STRIDE + SH_LOCK);
}

export function tryLockShard(shards: Int32Array, shard: number): boolean {
  return tryLockWord(shards, shard * SHARD_I32_STRIDE + SH_LOCK);
}

export function unlockShard(shards: Int32Array, shard: number): void {
  unlockWord(shards, shard * SHARD_I32_STRIDE + SH_LOCK);
}
