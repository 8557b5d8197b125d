import type { StoreMemory, StoreOptions } from './types.js';
import { StoreOptionsError } from './errors.js';
import {
  G_FREE_COUNT, G_FREE_HEAD, GLOBAL_WORDS, MAX_DATA_BYTES, NO_SEGMENT, SEG_NEXT, SEG_OWNER, SEG_STRIDE,
  SH_ACTIVE, SH_HEAD, SH_TAIL, SHARD_F64_STRIDE, SHARD_I32_STRIDE, TTL_CLASSES, geometry,
} from './layout.js';

const MAX_SHARDS = 4096;
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
  return { memoryLimit: options.memoryLimit, maxItemSize, shards };
}

/**
 * Allocates the whole store once (main thread). Every buffer is a SharedArrayBuffer, so the result can be
 * posted to workers, which call openStore() on it.
 */
export function createStoreMemory(options: StoreOptions): StoreMemory {
  const opts = validateStoreOptions(options);
  const g = geometry(opts.memoryLimit, opts.maxItemSize, opts.shards);
  const buffers = {
    data: new SharedArrayBuffer(g.segments * g.segmentSize),
    index: new SharedArrayBuffer(g.slotsPerShard * opts.shards * 8),
    segments: new SharedArrayBuffer(g.segments * SEG_STRIDE * 4),
    shards: new SharedArrayBuffer(opts.shards * SHARD_I32_STRIDE * 4),
    counters: new SharedArrayBuffer(opts.shards * SHARD_F64_STRIDE * 8),
    global: new SharedArrayBuffer(GLOBAL_WORDS * 4),
  };
  const seg = new Int32Array(buffers.segments);
  for (let s = 0; s < g.segments; s++) {
    seg[s * SEG_STRIDE + SEG_OWNER] = NO_SEGMENT;
    seg[s * SEG_STRIDE + SEG_NEXT] = s + 1 < g.segments ? s + 1 : NO_SEGMENT;
  }
  const sh = new Int32Array(buffers.shards);
  for (let s = 0; s < opts.shards; s++) {
    for (let c = 0; c < TTL_CLASSES; c++) {
      sh[s * SHARD_I32_STRIDE + SH_ACTIVE + c] = NO_SEGMENT;
      sh[s * SHARD_I32_STRIDE + SH_HEAD + c] = NO_SEGMENT;
      sh[s * SHARD_I32_STRIDE + SH_TAIL + c] = NO_SEGMENT;
    }
  }
  const global = new Int32Array(buffers.global);
  global[G_FREE_HEAD] = 0;
  global[G_FREE_COUNT] = g.segments;
  return { options: opts, buffers };
}
