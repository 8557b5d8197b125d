import { readdirSync } from 'node:fs';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { CRC_START, R_CRC, R_LENGTH, R_TYPE_BYTE } from '../../../../server/src/cache/flash/layout.js';
import { join } from 'node:path';
import { MiB, NOW, fill, get, inFlash, inRam, keyOf, removeDir, rig, set, tempDir, valueOf } from './helpers.js';

const flashFiles = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.flash')).sort();

describe('flash recovery', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeDir(dir));

  test('an item whose TTL ends at the restart second is not recovered; one that ends a second later is', () => {
    const r = rig(dir);
    fill(r, 0, 10, () => 30_000, NOW + 5);
    fill(r, 10, 20, () => 30_000, NOW + 6);
    fill(r, 20, 250, () => 30_000);
    r.flusher.flushOnce();
    r.flusher.close();
    const at = (now: number): number => new Map(rig(dir, {}, 4 * MiB, now).tier.statPairs()).get('extstore_recovered_objects') as number;
    const before = at(NOW + 4);
    const ttl5 = before - at(NOW + 5);
    const ttl6 = at(NOW + 5) - at(NOW + 6);
    // Every TTL item reached flash (the first 250 * 30 KB went through 4 MiB of RAM); each group leaves at its second.
    expect([ttl5, ttl6]).toEqual([10, 10]);
  });

  test('a newer copy that expired while the server was down hides the older copy instead of reviving it', async () => {
    const r = rig(dir);
    fill(r, 0, 100, () => 30_000);
    // Key 0 again, now with a TTL, then enough traffic to push it to flash too (a later file).
    set(r.store, r.tier, keyOf(0), valueOf(1000, 30_000), NOW, NOW + 5);
    fill(r, 100, 250, () => 30_000);
    r.flusher.flushOnce();
    r.flusher.close();
    const live = rig(dir, {}, 4 * MiB, NOW + 1);
    expect((await get(live.store, live.tier, keyOf(0), NOW + 1))?.equals(valueOf(1000, 30_000))).toBe(true);
    const later = rig(dir, {}, 4 * MiB, NOW + 10);
    expect(await get(later.store, later.tier, keyOf(0), NOW + 10)).toBeNull();
    expect((await get(later.store, later.tier, keyOf(5), NOW + 10))?.equals(valueOf(5, 30_000))).toBe(true);
  });

  test('a restart keeps every file of a tier that was exactly full', async () => {
    const r = rig(dir, { paths: [{ path: dir, size: 3 * MiB }] });
    fill(r, 0, 600, () => 20_000);
    r.flusher.flushOnce();
    r.flusher.close();
    const files = flashFiles(dir);
    expect(files.length).toBe(3);
    const r2 = rig(dir, { paths: [{ path: dir, size: 3 * MiB }] });
    expect(flashFiles(dir)).toEqual(files);
    let served = 0;
    for (let i = 0; i < 600; i++) if ((await get(r2.store, r2.tier, keyOf(i)))?.equals(valueOf(i, 20_000))) served++;
    expect(served).toBeGreaterThan(0);
    expect(served).toBe(new Map(r2.tier.statPairs()).get('extstore_recovered_objects'));
  });

  test('recovered items keep their flags, and the tier reports the highest CAS it recovered', () => {
    const r = rig(dir);
    fill(r, 0, 250, () => 30_000);
    r.flusher.flushOnce();
    const onFlash = [...Array(250).keys()].filter((i) => !inRam(r.store, keyOf(i)) && inFlash(r.store, r.tier, keyOf(i)) !== null);
    expect(onFlash.length).toBeGreaterThan(50);
    r.flusher.close();
    const r2 = rig(dir);
    let maxCas = 0;
    for (const i of onFlash) {
      const hit = inFlash(r2.store, r2.tier, keyOf(i));
      expect(hit?.flags).toBe(7); // helpers.set stores flags 7
      maxCas = Math.max(maxCas, hit!.cas);
    }
    expect(maxCas).toBeGreaterThan(0);
    expect(r2.tier.maxRecoveredCas()).toBe(maxCas);
  });

  test('after a restart new flash writes go to new files: what the files held before stays readable', async () => {
    const r = rig(dir);
    fill(r, 0, 250, () => 30_000);
    r.flusher.flushOnce();
    r.flusher.close();
    const r2 = rig(dir);
    const before = [...Array(250).keys()].filter((i) => inFlash(r2.store, r2.tier, keyOf(i)) !== null);
    expect(before.length).toBeGreaterThan(50);
    fill(r2, 1000, 1250, () => 30_000);
    r2.flusher.flushOnce();
    r2.flusher.close();
    const r3 = rig(dir);
    for (const i of before) expect((await get(r3.store, r3.tier, keyOf(i)))?.equals(valueOf(i, 30_000))).toBe(true);
  });

  test('a delayed flush_all whose deadline is the restart second is applied at recovery', () => {
    const r = rig(dir);
    fill(r, 0, 250, () => 20_000);
    r.flusher.flushOnce();
    r.store.setOldestLive(NOW + 5);
    r.tier.setOldestLive(NOW + 5);
    r.flusher.checkDelayedFlush(NOW);
    expect(existsSync(join(dir, 'cachalot.flush'))).toBe(true);
    const r2 = rig(dir, {}, 4 * MiB, NOW + 5);
    expect(r2.tier.pendingOldestLive()).toBe(0);
    expect(flashFiles(dir)).toEqual([]);
    expect(existsSync(join(dir, 'cachalot.flush'))).toBe(false);
  });

  test('a record of a type this version does not know ends the valid log, even with a good checksum', () => {
    const r = rig(dir);
    fill(r, 0, 250, () => 20_000);
    r.flusher.flushOnce();
    r.flusher.close();
    const first = join(dir, flashFiles(dir)[0]!);
    const buf = readFileSync(first);
    // The second record becomes type 9 (as a newer format might write), its checksum made valid again.
    const second = Math.ceil(buf.readUInt32LE(R_LENGTH * 4) / 8) * 8; // records start 8-byte aligned
    const end = second + buf.readUInt32LE(second + R_LENGTH * 4);
    buf[second + R_TYPE_BYTE] = 9;
    buf.writeUInt32LE(crc32(buf.subarray(second + CRC_START, end)), second + R_CRC * 4);
    writeFileSync(first, buf);
    const r2 = rig(dir);
    expect(new Map(r2.tier.statPairs()).get('extstore_torn_records')).toBe(1);
    expect(statSync(first).size).toBe(second);
  });
});
