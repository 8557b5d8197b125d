/**
 * The off-heap item store: segments, index, TTL buckets, eviction and locks, all in SharedArrayBuffers.
 * The main thread calls createStoreMemory() once; every thread calls openStore() on the same memory.
 */
import type { Store, StoreHooks, StoreMemory } from './types.js';
import { SegmentStore } from './segmentstore.js';

export * from './types.js';
export * from './tier.js';
export { TieredSegmentStore, openTieredStore, type TieredStoreOptions } from './tiered.js';
export { MIN_SEGMENTS_PER_SHARD, createStoreMemory, effectiveShards, validateStoreOptions } from './memory.js';
export { indexBytes as storeIndexBytes } from './layout.js';
export { StoreError, StoreOptionsError } from './errors.js';
export { PRETOUCH_AHEAD_BYTES, SegmentPretoucher, startPretouch } from './pretouch.js';
export { murmur3 } from './hash.js';

export function openStore(memory: StoreMemory, hooks?: StoreHooks): Store {
  return new SegmentStore(memory, hooks);
}
