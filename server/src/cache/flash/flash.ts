/**
 * The flash tier: log files under -o ext_path=DIR:SIZE behind the RAM store.
 * Main thread: createFlashMemory() once, startFlusher(), wait for its 'recovered' message, then start the
 * serving threads; each opens a LogFlashTier on the same memory and passes its demote() to openStore as
 * the eviction hook. Design and measurements: docs/flash.md.
 */
export { createFlashMemory, flashGeometry, flashMemoryBytes, validateFlashOptions, FlashError, type FlashMemory, type FlashOptions } from './memory.js';
export { LogFlashTier } from './tier.js';
export { WriteBufferGate } from './backpressure.js';
export { Flusher, startFlusher, stopFlusher, type FlusherMessage } from './flusher.js';
export { DirLocks, LOCK_FILE } from './dirlock.js';
export { startReader } from './reader.js';
