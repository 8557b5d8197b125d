/**
 * Ring compatibility with an independent ketama client: libmemcached, through Debian's python3-pylibmc with
 * its `ketama_weighted` behaviour (MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA, md5 for keys and points: the
 * libketama-compatible mode). pylibmc stores 10,000 keys across N recording sinks on loopback; each sink notes
 * which keys reached it; the sidecar's Continuum must name the same server for every key.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Continuum, type ContinuumMember } from '../../../server/src/sidecar/continuum.js';

const PYTHON = '/usr/bin/python3';
const KEYS = 10_000;
const havePylibmc = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import pylibmc'], { timeout: 10_000 }).status === 0;

/** A memcached-speaking sink: answers STORED to every set and records the key against its own address. */
class Sink {
  readonly keys: string[] = [];
  private server!: net.Server;
  port = 0;
  constructor(readonly host: string) {}

  start(port = 0): Promise<void> {
    this.server = net.createServer((sock) => {
      let buf = Buffer.alloc(0);
      sock.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        for (;;) {
          const nl = buf.indexOf('\r\n');
          if (nl < 0) return;
          const line = buf.subarray(0, nl).toString('utf8').split(' ');
          if (line[0] !== 'set') {
            sock.write('ERROR\r\n');
            buf = buf.subarray(nl + 2);
            continue;
          }
          const need = nl + 2 + Number(line[4]) + 2;
          if (buf.length < need) return;
          this.keys.push(line[1]!);
          buf = buf.subarray(need);
          sock.write('STORED\r\n');
        }
      });
      sock.on('error', () => {});
    });
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, this.host, () => {
        this.port = (this.server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function keyList(): string[] {
  const keys: string[] = [];
  for (let i = 0; i < KEYS; i++) {
    // Varied lengths and some multi-byte UTF-8, which libmemcached hashes as bytes (so must the sidecar).
    if (i % 97 === 0) keys.push(`user:é${i}:ключ`);
    else if (i % 13 === 0) keys.push(`k${i}`.padEnd(200 + (i % 40), 'x'));
    else keys.push(`key:${i}:${(i * 2654435761) % 1000003}`);
  }
  return keys;
}

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cachalot-ketama-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function compare(sinks: Sink[], weights: number[]): Promise<void> {
  const keys = keyList();
  const servers = sinks.map((s, i) => `${s.host}:${s.port}${weights[i] !== 1 ? `:${weights[i]}` : ''}`);
  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify(keys));
  const script = [
    'import json, sys, pylibmc',
    `keys = json.load(open(${JSON.stringify(keysFile)}, encoding="utf-8"))`,
    `c = pylibmc.Client(${JSON.stringify(servers)}, behaviors={"ketama_weighted": True})`,
    'for k in keys:',
    '    c.set(k, "v")',
    'print("done")',
  ].join('\n');
  const py = await new Promise<{ status: number | null; out: string }>((resolve) => {
    const child = spawn(PYTHON, ['-c', script]);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, out });
    });
  });
  expect(py.out.trim()).toBe('done');

  const placed = new Map<string, number>();
  sinks.forEach((s, i) => s.keys.forEach((k) => placed.set(k, i)));
  expect(placed.size).toBe(keys.length);

  const members: ContinuumMember[] = sinks.map((s, i) => ({ host: s.host, port: s.port, weight: weights[i]! }));
  const continuum = new Continuum(members, 40);
  let disagreements = 0;
  const examples: string[] = [];
  for (const k of keys) {
    const ours = continuum.ownerOf(Buffer.from(k, 'utf8'));
    if (ours !== placed.get(k)) {
      disagreements++;
      if (examples.length < 5) examples.push(`${k}: sidecar ${ours}, libmemcached ${placed.get(k)}`);
    }
  }
  expect(examples).toEqual([]);
  expect(disagreements).toBe(0);
  // Every server got a share: the comparison is not vacuous.
  for (const s of sinks) expect(s.keys.length).toBeGreaterThan(0);
}

async function withSinks(hosts: string[], port: number, fn: (sinks: Sink[]) => Promise<void>): Promise<void> {
  const sinks = hosts.map((h) => new Sink(h));
  try {
    for (const s of sinks) await s.start(port);
    await fn(sinks);
  } finally {
    await Promise.all(sinks.map((s) => s.stop().catch(() => undefined)));
  }
}

const maybe = havePylibmc ? describe : describe.skip;

maybe('ketama placement agrees with libmemcached (python3-pylibmc, ketama_weighted)', () => {
  // 25: a member count where C float rounding gives each member 39 digests instead of 40.
  for (const n of [3, 5, 10, 25]) {
    test(`${n} servers on distinct ports ("host:port" points), ${KEYS} keys`, async () => {
      await withSinks(Array.from({ length: n }, () => '127.0.0.1'), 0, (sinks) => compare(sinks, sinks.map(() => 1)));
    });
  }

  test('5 servers on port 11211 (points hash the bare host), 10,000 keys', async () => {
    const hosts = Array.from({ length: 5 }, (_, i) => `127.0.0.${i + 11}`);
    try {
      await withSinks(hosts, 11211, (sinks) => compare(sinks, sinks.map(() => 1)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return; // someone runs a real memcached here
      throw err;
    }
  });

  test('weighted members (3 servers, weights 1, 2, 3)', async () => {
    await withSinks(['127.0.0.1', '127.0.0.1', '127.0.0.1'], 0, (sinks) => compare(sinks, [1, 2, 3]));
  });
});
