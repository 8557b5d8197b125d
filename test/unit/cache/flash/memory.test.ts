import { createStoreMemory } from '../../../../server/src/cache/store/store.js';
import { createFlashMemory, flashGeometry, flashMemoryBytes } from '../../../../server/src/cache/flash/memory.js';
import { READ_BUFFERS_KEEP_BYTES } from '../../../../server/src/cache/flash/memory.js';
import { MiB, PROCESS_STARTED } from './helpers.js';

const GiB = 1024 * MiB;

describe('flash memory bound (docs/flash.md memory table)', () => {
  // The formulas the docs give, against the buffers actually allocated, for the benchmark's shapes.
  test.each([
    { name: '-m 64, 2 GiB tier, ext_threads=1', m: 64 * MiB, tier: 2 * GiB, threads: 1, readers: 1, wbuf: 4 * MiB, item: MiB },
    { name: '-m 512, 2 GiB tier, ext_threads=0', m: 512 * MiB, tier: 2 * GiB, threads: 2, readers: 0, wbuf: 4 * MiB, item: MiB },
    { name: '-m 16, 256 MiB tier, ext_wbuf_size=64m', m: 16 * MiB, tier: 256 * MiB, threads: 2, readers: 1, wbuf: 64 * MiB, item: MiB },
    { name: '-I 16m', m: 256 * MiB, tier: GiB, threads: 1, readers: 1, wbuf: 4 * MiB, item: 16 * MiB },
  ])('$name: every part is what the formula says, and the buffers are that size', ({ m, tier, threads, readers, wbuf, item }) => {
    const store = createStoreMemory({ memoryLimit: m, maxItemSize: item, shards: 4 });
    const memory = createFlashMemory({
      paths: [{ path: '/nonexistent', size: tier }], shards: 4, wbufSize: wbuf, maxItemSize: item + 512, threads,
      processStarted: PROCESS_STARTED, readers,
    }, store);
    const o = memory.options;
    const bytes = flashMemoryBytes(o);
    const g = flashGeometry(o);
    expect(bytes.wbuf).toBe(memory.buffers.ring.byteLength);
    expect(bytes.index).toBe(memory.buffers.index.byteLength);
    expect(bytes.readChannels).toBe(memory.buffers.reads?.byteLength ?? 0);
    expect(bytes.other).toBe(memory.buffers.control.byteLength + memory.buffers.files.byteLength + memory.buffers.counters.byteLength);
    expect(bytes.readBuffers).toBe(threads * READ_BUFFERS_KEEP_BYTES);
    expect(bytes.threads).toBe((1 + readers) * 10 * MiB);
    expect(bytes.total).toBe(bytes.wbuf + bytes.index + bytes.readChannels + bytes.readBuffers + bytes.other + bytes.threads);
    // docs/flash.md: write buffer = max(ext_wbuf_size, 32 MiB, min(128 MiB, 8 x largest record)), index =
    // 52 B x pow2(tier / 1 KiB) (at most 16 M entries) + 8 B per shard, reader channels = threads x (2 MiB + 24 KiB + 32 B) + 256 B.
    const largest = Math.ceil((48 + 255 + item + 512) / 8) * 8;
    expect(bytes.wbuf).toBe(Math.ceil(Math.max(wbuf, 32 * MiB, Math.min(128 * MiB, 8 * Math.max(MiB, largest))) / 8) * 8);
    let slots = 1;
    while (slots < Math.min(16 * MiB, tier / 1024)) slots *= 2;
    expect(bytes.index).toBe(52 * slots + 8 * o.shards);
    expect(g.slotsPerShard * o.shards).toBe(slots);
    expect(bytes.readChannels).toBe(readers > 0 ? threads * (2 * MiB + 1024 * 24 + 32) + 256 : 0);
    // The part counted inside -m: everything but the index entries (48 B a slot) and the pooled read buffers.
    expect(bytes.inLimit).toBe(bytes.wbuf + bytes.readChannels + 4 * slots + 8 * o.shards + bytes.other + bytes.threads);
    expect(bytes.total - bytes.inLimit).toBe(48 * slots + bytes.readBuffers);
  });
});
