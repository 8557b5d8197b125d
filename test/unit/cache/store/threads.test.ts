import { Worker } from 'node:worker_threads';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { NO_ITEM, createStoreMemory, openStore } from '../../../../server/src/cache/store/store.js';
import type { StoreMemory } from '../../../../server/src/cache/store/store.js';
import { MiB } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const sources = resolve(here, '../../../../server/src/cache/store');
let outDir = '';

interface WorkerResult {
  increments: number[];
  torn: number;
  misses: number;
  hits: number;
  ops: number;
  overLimit: number;
}

/**
 * Workers cannot load TypeScript, and dist/ belongs to the whole tree's build: transpile just the store
 * into a temporary directory (no type check; tsc does that) so that this test stands alone.
 */
beforeAll(() => {
  outDir = mkdtempSync(join(tmpdir(), 'cachalot-store-'));
  writeFileSync(join(outDir, 'package.json'), '{"type":"module"}');
  for (const file of readdirSync(sources)) {
    if (!file.endsWith('.ts')) continue;
    const js = ts.transpileModule(readFileSync(join(sources, file), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
    });
    writeFileSync(join(outDir, file.replace(/\.ts$/, '.js')), js.outputText);
  }
});

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

function run(memory: StoreMemory, mode: string, keys: number, iterations: number): Promise<WorkerResult[]> {
  const storeUrl = pathToFileURL(join(outDir, 'store.js')).href;
  return Promise.all([0, 1, 2, 3].map((id) => new Promise<WorkerResult>((resolvePromise, reject) => {
    const worker = new Worker(join(here, 'worker.mjs'), {
      workerData: { storeUrl, memory, mode, id, iterations, timeLimitMs: 8000, keys, seed: 1000 + id },
    });
    worker.once('message', (m: WorkerResult) => resolvePromise(m));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`worker ${id} exited with ${code}`));
    });
  })));
}

function countOf(memory: StoreMemory, key: string): number {
  const store = openStore(memory);
  const k = new TextEncoder().encode(key);
  const h = store.hashKey(k, 0, k.length);
  store.lock(h);
  try {
    const ref = store.find(h, k, 0, k.length, 1);
    if (ref === NO_ITEM) return 0;
    const v = store.valueView(ref);
    return new DataView(v.buffer, v.byteOffset, v.byteLength).getUint32(k.length, true);
  } finally {
    store.unlock(h);
  }
}

describe('store across threads', () => {
  test('4 workers doing read-modify-write under the shard lock: totals exact, nothing torn', async () => {
    const memory = createStoreMemory({ memoryLimit: 64 * MiB, maxItemSize: 64 * 1024, shards: 8 });
    const KEYS = 64;
    const results = await run(memory, 'counter', KEYS, 60_000);
    const totals = new Array(KEYS).fill(0);
    for (const r of results) {
      expect(r.torn).toBe(0);
      r.increments.forEach((n, k) => { totals[k] += n; });
    }
    const ops = results.reduce((a, r) => a + r.ops, 0);
    expect(ops).toBeGreaterThan(1000);
    for (let k = 0; k < KEYS; k++) expect(countOf(memory, `counter-key-${k}`)).toBe(totals[k]);
    const s = openStore(memory).stats();
    expect(s.evictions).toBe(0);
    expect(s.currItems).toBe(KEYS);
  });

  test('4 workers churning a small store: eviction and segment stealing race safely', async () => {
    const memory = createStoreMemory({ memoryLimit: 24 * MiB, maxItemSize: 64 * 1024, shards: 8 });
    const results = await run(memory, 'churn', 20_000, 40_000);
    for (const r of results) {
      expect(r.torn).toBe(0);
      expect(r.overLimit).toBe(0);
    }
    const s = openStore(memory).stats();
    expect(s.evictions).toBeGreaterThan(0);
    expect(s.bytes).toBeLessThanOrEqual(s.limitMaxbytes);
    expect(s.segmentsFree).toBeGreaterThanOrEqual(0);
    expect(results.reduce((a, r) => a + r.hits, 0)).toBeGreaterThan(0);
  });
});
