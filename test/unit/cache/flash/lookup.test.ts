import { NOW, fill, inFlash, inRam, keyOf, removeDir, rig, tempDir, valueOf } from './helpers.js';

describe('flash lookups', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => removeDir(dir));

  test('a flash item is a miss from its expiry second on, as in RAM', () => {
    const r = rig(dir);
    fill(r, 0, 10, () => 30_000, NOW + 5);
    fill(r, 10, 250, () => 30_000);
    r.flusher.flushOnce();
    const ttl = [...Array(10).keys()].filter((i) => !inRam(r.store, keyOf(i)));
    expect(ttl.length).toBe(10);
    for (const i of ttl) expect(inFlash(r.store, r.tier, keyOf(i), NOW + 4)).not.toBeNull();
    for (const i of ttl) expect(inFlash(r.store, r.tier, keyOf(i), NOW + 5)).toBeNull();
  });

  test('flush_all with a deadline hides flash items stored in the deadline second itself', () => {
    const r = rig(dir);
    fill(r, 0, 250, () => 30_000, 0, NOW + 5);
    r.flusher.flushOnce();
    const onFlash = [...Array(250).keys()].filter((i) => !inRam(r.store, keyOf(i), NOW + 5));
    expect(onFlash.length).toBeGreaterThan(50);
    for (const i of onFlash) expect(inFlash(r.store, r.tier, keyOf(i), NOW + 5)).not.toBeNull();
    r.store.setOldestLive(NOW + 5);
    r.tier.setOldestLive(NOW + 5);
    for (const i of onFlash) expect(inFlash(r.store, r.tier, keyOf(i), NOW + 5)).toBeNull();
  });
});
