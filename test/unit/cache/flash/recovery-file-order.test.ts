/**
 * flash/recovery.ts replays the log files oldest first, and "oldest" is the file number: file 10 is newer
 * than file 9 although "cachalot-…10" would not sort after "…9" as a bare number string. Real files on disk,
 * a real recovery in a new rig (as a restarted process does it).
 */
import { readdirSync } from 'node:fs';
import { MiB, del, fill, get, inFlash, keyOf, removeDir, rig, tempDir, valueOf } from './helpers.js';

const SIZE = 20_000;
const fileNumbers = (dir: string): number[] =>
  readdirSync(dir).map((n) => /^cachalot-(\d+)\.flash$/.exec(n)?.[1]).filter((n) => n !== undefined).map(Number);

type Rig = ReturnType<typeof rig>;

/** Writes 20 KB items 0, 1, ... until a log file numbered `file` exists; returns how many were written.
 * Through a 4 MiB RAM store every ~50 evictions fill one 1 MiB file. Bounded: 1,500 items, 30 MiB. */
function fillUntilFile(r: Rig, file: number): number {
  let n = 0;
  while (Math.max(0, ...fileNumbers(dir)) < file && n < 1500) {
    fill(r, n, n + 50, () => SIZE);
    n += 50;
    r.flusher.flushOnce();
  }
  return n;
}

/** Up to `count` of items 0..n-1 whose flash copy sits in files 2..9 (a number string sorts those after "10"). */
function inEarlyFiles(r: Rig, n: number, count: number): number[] {
  const early = [];
  for (let i = 0; i < n && early.length < count; i++) {
    const hit = inFlash(r.store, r.tier, keyOf(i));
    if (hit !== null && hit.file >= 2 && hit.file <= 9) early.push(i);
  }
  return early;
}

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => removeDir(dir));

test('a tombstone in a later log file wins over the item in an earlier one, across file 9/10', async () => {
  // 24 files of 1 MiB: nothing is reclaimed while the test writes ~12.
  const r = rig(dir, { paths: [{ path: dir, size: 24 * MiB }] });
  const n = fillUntilFile(r, 11);
  expect(Math.max(...fileNumbers(dir))).toBeGreaterThanOrEqual(11);
  const early = inEarlyFiles(r, n, 20);
  expect(early.length).toBe(20);
  const deleted = early.slice(0, 10);
  const kept = early.slice(10);
  for (const i of deleted) del(r.store, r.tier, keyOf(i));
  r.flusher.flushOnce(); // the tombstones land in the newest file, >= 10
  r.flusher.close();

  const r2 = rig(dir, { paths: [{ path: dir, size: 24 * MiB }] });
  try {
    for (const i of deleted) expect({ key: i, value: await get(r2.store, r2.tier, keyOf(i)) }).toEqual({ key: i, value: null });
    for (const i of kept) expect((await get(r2.store, r2.tier, keyOf(i)))?.equals(valueOf(i, SIZE))).toBe(true);
  } finally {
    r2.flusher.close();
  }
});

test('a newer copy in file 10 wins over the older copy in file 9 after a restart', async () => {
  const r = rig(dir, { paths: [{ path: dir, size: 24 * MiB }] });
  const early = inEarlyFiles(r, fillUntilFile(r, 9), 10);
  expect(early.length).toBe(10);
  // Rewrite them with other bytes, then push them out of RAM into files >= 10.
  const NEW = 30_000;
  for (const i of early) fill(r, i, i + 1, () => NEW);
  let m = 100_000;
  while (early.some((i) => (inFlash(r.store, r.tier, keyOf(i))?.file ?? 0) < 10) && m < 101_500) {
    fill(r, m, m + 50, () => SIZE);
    m += 50;
    r.flusher.flushOnce();
  }
  for (const i of early) expect(inFlash(r.store, r.tier, keyOf(i))?.file).toBeGreaterThanOrEqual(10);
  r.flusher.close();

  const r2 = rig(dir, { paths: [{ path: dir, size: 24 * MiB }] });
  try {
    for (const i of early) expect((await get(r2.store, r2.tier, keyOf(i)))?.length).toBe(NEW);
    for (const i of early) expect((await get(r2.store, r2.tier, keyOf(i)))?.equals(valueOf(i, NEW))).toBe(true);
  } finally {
    r2.flusher.close();
  }
});
