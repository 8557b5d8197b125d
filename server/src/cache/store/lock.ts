/**
 * A mutex in one Int32 word of shared memory: 0 free, 1 held, 2 held with possible waiters (Drepper,
 * "Futexes Are Tricky", mutex 3). Uncontended lock/unlock is one compareExchange and one sub; a thread
 * only sleeps in Atomics.wait after a short spin, because critical sections here are sub-microsecond.
 */
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
