// Issue 2, evidence 3: real client libraries round-trip values of 0 B to the largest value that `-I 1m` admits
// (found on memcached, byte-exact, for the key length used here) — Debian's python3-pymemcache with binary
// values, and the npm `memcached` client with text values. memcached runs every check as a control.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import Memcached from 'memcached';
import { RawClient } from '../support/rawclient.js';
import {
  cachalotUnavailableReason,
  REPO_ROOT,
  startCachalot,
  startMemcached,
  stopServer,
  type RunningServer,
} from '../support/servers.js';
import { requirePrereq } from '../support/prereq.js';

// Debian's python3-pymemcache is installed for the system interpreter, not for a python3 earlier on PATH.
const PYTHON = process.env.CACHALOT_TEST_PYTHON || '/usr/bin/python3';
const pymemcacheCheck = spawnSync(PYTHON, ['-c', 'import pymemcache'], { timeout: 10_000, encoding: 'utf8' });
const pymemcacheGate = requirePrereq('python3-pymemcache', pymemcacheCheck.status === 0,
  `${PYTHON} cannot import pymemcache (apt-get install python3-pymemcache)${pymemcacheCheck.stderr ? `: ${pymemcacheCheck.stderr.trim().split('\n').pop()}` : ''}`);
const PY_SCRIPT = join(REPO_ROOT, 'test', 'support', 'pymemcache_roundtrip.py');
const ONE_MIB = 1024 * 1024;
/** Every key in this file is 10 bytes ("rt-" or "np-" plus 7 digits, or BOUNDARY_KEY): the size limit counts the key. */
const BOUNDARY_KEY = 'rt-0000000';
const CLIENT_TIMEOUT_MS = 60_000;

/** Whether the server stores a value of `size` bytes under BOUNDARY_KEY (else it must say it is too large). */
async function stores(client: RawClient, size: number): Promise<boolean> {
  await client.send(`set ${BOUNDARY_KEY} 0 0 ${size}\r\n`);
  await client.send(Buffer.alloc(size, 0x61));
  await client.send('\r\n');
  const { data } = await client.readUntil('\r\n', 5_000, 20_000);
  const reply = data.toString('latin1');
  if (reply === 'STORED\r\n') return true;
  if (reply === 'SERVER_ERROR object too large for cache\r\n') return false;
  throw new Error(`unexpected reply to a ${size}-byte set: ${JSON.stringify(reply)}`);
}

/** The largest value size the server stores under BOUNDARY_KEY, by bisection between 1 MiB - 64 KiB and 1 MiB + 1. */
async function largestStored(port: number): Promise<number> {
  const client = await RawClient.connect(port);
  try {
    let lo = ONE_MIB - 64 * 1024;
    let hi = ONE_MIB + 1;
    if (!(await stores(client, lo))) throw new Error(`${lo} bytes are already too large`);
    if (await stores(client, hi)) throw new Error(`${hi} bytes are still stored`);
    // At most 17 steps for a 64 KiB range.
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (await stores(client, mid)) lo = mid;
      else hi = mid;
    }
    return lo;
  } finally {
    client.close();
  }
}

interface PyEntry {
  size: number;
  set?: boolean;
  get_equal?: boolean;
  get_len?: number | null;
  get_many_equal?: boolean;
  cas_stored?: boolean;
  cas_stale?: boolean;
  after_cas_equal?: boolean;
  delete?: boolean;
  after_delete?: null;
  error?: string;
}
interface PyReport {
  results: PyEntry[];
  too_large: { size: number; set?: boolean; error?: string; then_version: boolean };
}

function runPymemcache(port: number, sizes: readonly number[], tooLarge: number): Promise<PyReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [PY_SCRIPT, String(port), 'rt-', JSON.stringify(sizes), String(tooLarge)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), CLIENT_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`pymemcache script exited ${code}: ${err}`));
      resolve(JSON.parse(out) as PyReport);
    });
  });
}

/** Text values without CR or LF: the npm client writes its strings through a latin1 round trip. */
function textValue(size: number): string {
  let s = '';
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789 !#$%&()*+,-./:;<=>?@[]^_{|}~';
  for (let i = 0; i < size; i++) s += alphabet[(i * 7 + size) % alphabet.length];
  return s;
}

function npm<T>(call: (cb: (err: unknown, result: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => call((err, result) => (err ? reject(err) : resolve(result))));
}

interface NpmResult {
  size: number;
  stored: boolean;
  equal: boolean;
  length: number | null;
  deleted: boolean;
  missingAfterDelete: boolean;
}

async function runNpmClient(port: number, sizes: readonly number[], maxValue: number): Promise<NpmResult[]> {
  const client = new Memcached(`127.0.0.1:${port}`, { maxValue, timeout: 10_000, retries: 0, failures: 0, idle: 1_000 });
  try {
    const results: NpmResult[] = [];
    for (const size of sizes) {
      const key = `np-${String(size).padStart(7, '0')}`;
      const value = textValue(size);
      const stored = await npm<boolean>((cb) => client.set(key, value, 0, cb));
      const got = await npm<unknown>((cb) => client.get(key, cb));
      const deleted = await npm<boolean>((cb) => client.del(key, cb));
      const after = await npm<unknown>((cb) => client.get(key, cb));
      results.push({
        size,
        stored,
        equal: got === value,
        length: typeof got === 'string' ? got.length : null,
        deleted,
        missingAfterDelete: after === undefined,
      });
    }
    return results;
  } finally {
    client.end();
  }
}

function roundTripSizes(max: number): number[] {
  return [0, 1, 100, 100 * 1024, max];
}

function expectPymemcacheRoundTrips(report: PyReport, max: number): void {
  expect(report.results).toEqual(
    roundTripSizes(max).map((size) => ({
      size,
      set: true,
      get_equal: true,
      get_len: size,
      get_many_equal: true,
      cas_stored: true,
      cas_stale: false,
      after_cas_equal: true,
      delete: true,
      after_delete: null,
    })),
  );
}

function expectPymemcacheTooLarge(report: PyReport, max: number): void {
  expect(report.too_large).toEqual({
    size: max + 1,
    error: "MemcacheServerError: b'object too large for cache'",
    then_version: true,
  });
}

function expectNpm(results: NpmResult[], max: number): void {
  expect(results).toEqual(
    roundTripSizes(max).map((size) => ({ size, stored: true, equal: true, length: size, deleted: true, missingAfterDelete: true })),
  );
}

let memcached: RunningServer | undefined;
/** The largest value memcached -I 1m stores under a 10-byte key; the round trips go up to exactly this size. */
let maxValue = 0;

beforeAll(async () => {
  memcached = await startMemcached(['-I', '1m']);
  maxValue = await largestStored(memcached.port);
});
afterAll(() => stopServer(memcached));

describe('memcached -I 1m (control)', () => {
  test('the largest value under a 10-byte key is just under 1 MiB', () => {
    expect(maxValue).toBeGreaterThan(ONE_MIB - 4096);
    expect(maxValue).toBeLessThan(ONE_MIB);
  });

  let report: Promise<PyReport> | undefined;
  const pymemcache = (): Promise<PyReport> => (report ??= runPymemcache(memcached!.port, roundTripSizes(maxValue), maxValue + 1));

  pymemcacheGate.test('pymemcache round-trips 0 B .. the largest value (binary, with get_many, gets/cas, delete)', async () => {
    expectPymemcacheRoundTrips(await pymemcache(), maxValue);
  });

  pymemcacheGate.test('pymemcache: one byte more is refused as too large, and the connection stays usable', async () => {
    expectPymemcacheTooLarge(await pymemcache(), maxValue);
  });

  test('npm memcached round-trips 0 B .. the largest value', async () => {
    expectNpm(await runNpmClient(memcached!.port, roundTripSizes(maxValue), maxValue), maxValue);
  });
});

const reason = cachalotUnavailableReason();
{
  requirePrereq('cachalot-server build (dist/)', reason === null, reason ?? '').describe('cachalot-server -I 1m', () => {
    let cachalot: RunningServer | undefined;
    beforeAll(async () => {
      cachalot = await startCachalot(['-I', '1m']);
    });
    afterAll(() => stopServer(cachalot));

    test('admits exactly the values memcached admits (same largest size)', async () => {
      expect(await largestStored(cachalot!.port)).toBe(maxValue);
    });

    let report: Promise<PyReport> | undefined;
    const pymemcache = (): Promise<PyReport> => (report ??= runPymemcache(cachalot!.port, roundTripSizes(maxValue), maxValue + 1));

    pymemcacheGate.test('pymemcache round-trips 0 B .. the largest value (binary, with get_many, gets/cas, delete)', async () => {
      expectPymemcacheRoundTrips(await pymemcache(), maxValue);
    });

    pymemcacheGate.test('pymemcache: one byte more is refused as too large, and the connection stays usable', async () => {
      expectPymemcacheTooLarge(await pymemcache(), maxValue);
    });

    test('npm memcached round-trips 0 B .. the largest value', async () => {
      expectNpm(await runNpmClient(cachalot!.port, roundTripSizes(maxValue), maxValue), maxValue);
    });
  });
}
