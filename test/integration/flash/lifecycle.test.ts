// The flash tier's directory lock, ext_item_size and a delayed flush_all across a restart, with real
// cachalot-server processes on loopback and real files. Run after `npm run build`.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHALOT_MAIN, REPO_ROOT, cachalotUnavailableReason, freePort } from '../../support/servers.js';
import { Client, EVERY_SIZE, MiB, metric, removeDir, startFlashServer, stop, tempDir, waitExit, type FlashServer } from './support.js';
import { prereqAtRuntime, requirePrereq } from '../../support/prereq.js';

const T = 120_000;
const unavailable = cachalotUnavailableReason();
const maybe = requirePrereq('cachalot-server build (dist/)', unavailable === null, unavailable ?? '').describe;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs a server that is expected to stop on its own; its exit code and output (SIGKILL after 30 s). */
async function runToExit(dir: string): Promise<{ code: number | null; output: string }> {
  const port = await freePort();
  const metricsPort = await freePort();
  const child = spawn(process.execPath, [CACHALOT_MAIN, '-p', String(port), '-l', '127.0.0.1', '-t', '1', '-m', '16',
    '-o', `ext_path=${dir}:64m`, '--metrics-port', String(metricsPort), '--metrics-listen', '127.0.0.1'],
  { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  if (!(await waitExit(child, 30_000))) child.kill('SIGKILL');
  await waitExit(child, 5_000);
  return { code: child.exitCode, output };
}

maybe('flash tier: one server per ext_path', () => {
  let dir: string;
  let server: FlashServer | undefined;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    await stop(server, 'SIGKILL');
    server = undefined;
    removeDir(dir);
  }, T);

  test('a second server on the same ext_path exits 64 naming it; the first keeps serving; a SIGKILLed owner does not block a restart', async () => {
    server = await startFlashServer(dir, '64m');
    const lock = join(dir, 'cachalot.lock');
    expect(readFileSync(lock, 'latin1')).toMatch(new RegExp(`^pid ${server.process.pid} `));
    const second = await runToExit(dir);
    expect(second.code).toBe(64);
    expect(second.output).toContain(`-o ext_path ${dir} is in use by another cachalot-server (pid ${server.process.pid}`);
    // The first server's files and lock are untouched, and it still serves.
    expect(readFileSync(lock, 'latin1')).toMatch(new RegExp(`^pid ${server.process.pid} `));
    const c = new Client(server.port);
    expect(await c.set('k', Buffer.from('v'))).toBe('STORED');
    expect((await c.get('k'))?.toString()).toBe('v');
    c.close();
    // SIGKILL leaves the lock file behind; a restart takes it over (its owner is gone).
    server.process.kill('SIGKILL');
    await waitExit(server.process, 10_000);
    expect(existsSync(lock)).toBe(true);
    server = await startFlashServer(dir, '64m');
    expect(readFileSync(lock, 'latin1')).toMatch(new RegExp(`^pid ${server.process.pid} `));
    // A clean stop removes it.
    await stop(server, 'SIGTERM');
    expect(server.process.exitCode).toBe(0);
    expect(existsSync(lock)).toBe(false);
  }, T);
});

maybe('flash tier: ext_item_size and delayed flush_all', () => {
  let dir: string;
  let server: FlashServer | undefined;
  let client: Client | undefined;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    client?.close();
    client = undefined;
    await stop(server, 'SIGKILL');
    server = undefined;
    removeDir(dir);
  }, T);

  /** Sets `count` items of `size` bytes named prefix:i, two at a time. */
  async function setMany(c: Client, prefix: string, count: number, size: number): Promise<void> {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        const v = Buffer.alloc(size, i & 0xff);
        expect(await c.set(`${prefix}:${i}`, v)).toBe('STORED');
      }
    };
    await Promise.all([lane(), lane()]);
  }

  test('-m bounds both tiers: the RAM tier gets -m less the tier\'s buffers and its index; limit_maxbytes is -m', async () => {
    // -m 512: the RAM tier gets -m less the tier's part and its index (4 Mi slots of 8 B), in whole segments.
    server = await startFlashServer(dir, '256m', ['-m', '512']);
    client = new Client(server.port);
    const big = await client.stats();
    const bigPool = Number((await client.stats('slabs')).get('total_malloced'));
    expect(bigPool).toBe(Math.floor((512 * MiB - Number(big.get('extstore_memory_in_limit_bytes')) - 32 * MiB) / MiB) * MiB);
    expect(Number(big.get('limit_maxbytes'))).toBe(512 * MiB);
    client.close();
    await stop(server);
    server = await startFlashServer(dir, '256m', ['-m', '128']);
    client = new Client(server.port);
    const stats = await client.stats();
    const slabs = await client.stats('slabs');
    const inLimit = Number(stats.get('extstore_memory_in_limit_bytes'));
    expect(Number(stats.get('limit_maxbytes'))).toBe(128 * MiB);
    // 32 MiB write buffer, 1 MiB of index references for 256 Ki slots, two reader channels of 2 MiB, and
    // the flusher and reader threads.
    expect(inLimit).toBeGreaterThan(57 * MiB);
    expect(Number(stats.get('extstore_memory_threads_bytes'))).toBe(20 * MiB);
    expect(inLimit).toBeLessThan(Number(stats.get('extstore_memory_bytes')));
    expect(await metric(server, 'cachalot_flash_memory_in_limit_bytes')).toBe(inLimit);
    // The RAM index of -m 128 (1 Mi slots of 8 B) comes out of it too, but the RAM tier keeps half of -m.
    const ram = Number(slabs.get('total_malloced'));
    expect(128 * MiB - inLimit - 8 * MiB).toBeLessThan(64 * MiB);
    expect(ram).toBe(64 * MiB);
    // Filled to 2 x -m of 4 KiB values, the RAM tier's bytes stay within what it got.
    await setMany(client, 'fill', 64 * 1024, 4096);
    const full = await client.stats();
    expect(Number(full.get('bytes'))).toBeLessThanOrEqual(ram);
    expect(Number(full.get('bytes'))).toBeGreaterThan(ram / 2);
  }, T);

  test('ext_item_size (default 512): smaller evicted items are not written to flash, larger ones are', async () => {
    server = await startFlashServer(dir, '128m');
    client = new Client(server.port);
    // 2 x RAM of 300-byte values: evicted, never written.
    await setMany(client, 'small', Math.ceil((32 * MiB) / 300), 300);
    await sleep(300);
    expect(await metric(server, 'memcached_extstore_objects_written_total')).toBe(0);
    // 2 x RAM of 1 KiB values: written.
    await setMany(client, 'large', 32 * 1024, 1024);
    let written = 0;
    for (let i = 0; i < 50 && written === 0; i++) {
      await sleep(100);
      written = await metric(server, 'memcached_extstore_objects_written_total');
    }
    expect(written).toBeGreaterThan(1000);
    expect((await client.get('large:0'))?.equals(Buffer.alloc(1024, 0))).toBe(true);
    expect(await client.get('small:0')).toBeNull();
  }, T);

  test('a delayed flush_all survives a SIGTERM restart and applies at its deadline', async () => {
    server = await startFlashServer(dir, '128m', EVERY_SIZE);
    client = new Client(server.port);
    await setMany(client, 'k', 2000, 4096);
    const delay = 6;
    const deadline = Date.now() + delay * 1000;
    expect(await client.line(`flush_all ${delay}`)).toBe('OK');
    client.close();
    await stop(server, 'SIGTERM');
    expect(existsSync(join(dir, 'cachalot.flush'))).toBe(true);
    server = await startFlashServer(dir, '128m', EVERY_SIZE);
    client = new Client(server.port);
    // Before the deadline the items are still there. Telling needs the restart to end 1.5 s before it (the
    // server's clock is whole seconds); a slower restart fails in CI and is reported as a skip elsewhere.
    const early = await client.get('k:1999');
    const left = deadline - Date.now();
    if (prereqAtRuntime('a SIGTERM restart done 1.5 s before the flush_all deadline', left > 1500, `${delay * 1000 - left} ms after flush_all the restarted server answered; ${left} ms were left`)) {
      expect(early?.equals(Buffer.alloc(4096, 1999 & 0xff))).toBe(true);
    }
    // Once it passed (the clock's second, plus one for the server's whole-second clock): all gone.
    for (let i = 0; i < 200 && Date.now() < deadline + 1100; i++) await sleep(50);
    for (const i of [0, 1, 500, 1999]) expect(await client.get(`k:${i}`)).toBeNull();
    // Items set after the deadline live, and a restart neither brings the flushed ones back nor drops them.
    expect(await client.set('after', Buffer.from('x'))).toBe('STORED');
    let applied = false;
    for (let i = 0; i < 100 && !applied; i++) {
      applied = !existsSync(join(dir, 'cachalot.flush'));
      if (!applied) await sleep(50);
    }
    expect(applied).toBe(true);
    client.close();
    await stop(server, 'SIGTERM');
    server = await startFlashServer(dir, '128m', EVERY_SIZE);
    client = new Client(server.port);
    for (const i of [0, 1, 500, 1999]) expect(await client.get(`k:${i}`)).toBeNull();
    expect((await client.get('after'))?.toString()).toBe('x');
  }, T);
});
