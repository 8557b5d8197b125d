import type { StoreMemory, StoreOptions } from './types.js';
import { StoreOptionsError } from './errors.js';
import {
  G_ALLOWED_SEGMENTS, G_FREE_COUNT, G_FREE_HEAD, G_RESERVE_SEGMENTS, GLOBAL_WORDS, MAX_DATA_BYTES, NO_SEGMENT, SEG_NEXT, SEG_OWNER, SEG_STRIDE,
  MIN_BUCKETS_PER_SHARD, SH_ACTIVE, SH_HEAD, SH_INDEX_BITS, SH_TAIL, SHARD_F64_STRIDE, SHARD_I32_STRIDE, TTL_CLASSES, allowedSegments, geometry,
} from './layout.js';

const MAX_SHARDS = 65536;
const MIN_ITEM_SIZE = 1024;
const MAX_ITEM_SIZE = 1024 * 1024 * 1024;

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new StoreOptionsError(`store option ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** Validates options; the error message names the option and its allowed range. */
export function validateStoreOptions(options: StoreOptions): StoreOptions {
  const shards = checkInteger('shards', options.shards, 1, MAX_SHARDS);
  if ((shards & (shards - 1)) !== 0) {
    throw new StoreOptionsError(`store option shards must be a power of two, got ${shards}`);
  }
  const maxItemSize = checkInteger('maxItemSize', options.maxItemSize, MIN_ITEM_SIZE, MAX_ITEM_SIZE);
  const g = geometry(1, maxItemSize, 1);
  checkInteger('memoryLimit', options.memoryLimit, 2 * g.segmentSize, MAX_DATA_BYTES);
  const memoryReserve = options.memoryReserve === undefined ? options.memoryLimit
    : checkInteger('memoryReserve', options.memoryReserve, options.memoryLimit, MAX_DATA_BYTES);
  const memoryOverhead = options.memoryOverhead === undefined ? 0
    : checkInteger('memoryOverhead', options.memoryOverhead, 0, MAX_DATA_BYTES);
  return { memoryLimit: options.memoryLimit, maxItemSize, shards, memoryReserve, noEvict: options.noEvict === true, memoryOverhead };
}

/**
 * A shard needs segments of its own to keep anything: a write to a shard without one takes another
 * shard's segment and empties it. Measured with 4 threads churning: 12 MiB (12 segments) in 16 shards held
 * 190 KB of items and hit 1% of gets; the same pool in 2 shards held 10.3 MiB and hit 20%.
 */
export const MIN_SEGMENTS_PER_SHARD = 4;

/** The shard count actually used: options.shards, lowered to a power of two with enough segments each. */
export function effectiveShards(memoryLimit: number, maxItemSize: number, shards: number): number {
  const segments = geometry(memoryLimit, maxItemSize, 1).segments;
  let n = shards;
  while (n > 1 && segments / n < MIN_SEGMENTS_PER_SHARD) n /= 2;
  return n;
}

/**
 * Allocates the whole store once (main thread). Every buffer is a SharedArrayBuffer, so the result can be
 * posted to workers, which call openStore() on it. Its options.shards may be lower than asked for (see
 * effectiveShards); the engine is unaffected, since it only passes hashes to lock().
 */
export function createStoreMemory(options: StoreOptions): StoreMemory {
  const valid = validateStoreOptions(options);
  // options.shards of the returned memory is the count in use, which every thread must agree on.
  const opts = { ...valid, shards: effectiveShards(valid.memoryLimit, valid.maxItemSize, valid.shards) };
  const g = geometry(opts.memoryLimit, opts.maxItemSize, opts.shards);
  const reserveSegments = Math.max(g.segments, Math.floor((opts.memoryReserve ?? opts.memoryLimit) / g.segmentSize));
  const buffers = {
    data: new SharedArrayBuffer(reserveSegments * g.segmentSize),
    index: new SharedArrayBuffer(g.slotsPerShard * opts.shards * 8),
    segments: new SharedArrayBuffer(reserveSegments * SEG_STRIDE * 4),
    shards: new SharedArrayBuffer(opts.shards * SHARD_I32_STRIDE * 4),
    counters: new SharedArrayBuffer(opts.shards * SHARD_F64_STRIDE * 8),
    global: new SharedArrayBuffer(GLOBAL_WORDS * 4),
  };
  const seg = new Int32Array(buffers.segments);
  for (let s = 0; s < reserveSegments; s++) {
    seg[s * SEG_STRIDE + SEG_OWNER] = NO_SEGMENT;
    seg[s * SEG_STRIDE + SEG_NEXT] = s + 1 < reserveSegments ? s + 1 : NO_SEGMENT;
  }
  const sh = new Int32Array(buffers.shards);
  for (let s = 0; s < opts.shards; s++) {
    for (let c = 0; c < TTL_CLASSES; c++) {
      sh[s * SHARD_I32_STRIDE + SH_ACTIVE + c] = NO_SEGMENT;
      sh[s * SHARD_I32_STRIDE + SH_HEAD + c] = NO_SEGMENT;
      sh[s * SHARD_I32_STRIDE + SH_TAIL + c] = NO_SEGMENT;
    }
    sh[s * SHARD_I32_STRIDE + SH_INDEX_BITS] = Math.min(g.bucketBits, Math.round(Math.log2(MIN_BUCKETS_PER_SHARD)));
  }
  const global = new Int32Array(buffers.global);
  global[G_FREE_HEAD] = 0;
  global[G_FREE_COUNT] = reserveSegments;
  global[G_RESERVE_SEGMENTS] = reserveSegments;
  global[G_ALLOWED_SEGMENTS] = Math.max(2, allowedSegments(opts.memoryLimit, g.segmentSize, opts.memoryOverhead ?? 0));
  return { options: opts, buffers };
}
