/**
 * An independent ketama reference: libmemcached, through Debian's python3-pylibmc (`ketama_weighted`:
 * md5 for keys and points, libketama's layout). pylibmc stores each key on one of N recording sinks on
 * loopback; the sink that received the key is its owner. Tests of the sidecar's routing take their expected
 * owners from here, never from the sidecar's continuum or the `hashring` package it was checked against.
 *
 * Debian's packages are for /usr/bin/python3 (a python3 earlier on PATH, such as pyenv's, lacks them).
 * CACHALOT_TEST_PYTHON names another interpreter (pointing it at one without pylibmc shows what a missing
 * prerequisite does).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PYTHON = process.env.CACHALOT_TEST_PYTHON || '/usr/bin/python3';

/** null when pylibmc can be imported by PYTHON, else why not. */
export function pylibmcMissingReason(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} does not exist`;
  const r = spawnSync(PYTHON, ['-c', 'import pylibmc'], { timeout: 10_000, encoding: 'utf8' });
  if (r.status === 0) return null;
  const why = (r.stderr ?? '').trim().split('\n').pop();
  return `${PYTHON} cannot import pylibmc (apt-get install python3-pylibmc)${why ? `: ${why}` : ''}`;
}

/** A memcached-speaking sink: answers STORED to every set and records the key. */
export class Sink {
  readonly keys: string[] = [];
  private server: net.Server | undefined;
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
    const server = this.server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => {
        this.port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  stop(): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}

/**
 * Has pylibmc store `keys` over `sinks` (weights per sink; 1 leaves the weight out of the server string as a
 * libmemcached user would) and returns, per key, the index of the sink that received it.
 */
export async function pylibmcPlacement(sinks: Sink[], keys: string[], weights: number[] = sinks.map(() => 1)): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cachalot-ketama-'));
  try {
    for (const s of sinks) s.keys.length = 0;
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
    if (py.out.trim() !== 'done') throw new Error(`pylibmc placement failed (exit ${py.status}): ${py.out.slice(0, 2000)}`);
    const placed = new Map<string, number>();
    sinks.forEach((s, i) => s.keys.forEach((k) => placed.set(k, i)));
    return keys.map((k) => {
      const i = placed.get(k);
      if (i === undefined) throw new Error(`pylibmc stored ${JSON.stringify(k)} on no sink`);
      return i;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A fixed set of sinks on 127.0.0.1 whose owners are asked of pylibmc once per (subset, keys) and cached:
 * `owners([0, 2, 3], keys)` is the index (into all sinks) of each key's owner on a ring of sinks 0, 2 and 3.
 */
export class KetamaReference {
  private readonly cache = new Map<string, number[]>();
  private constructor(readonly sinks: Sink[]) {}

  static async start(count: number, host = '127.0.0.1'): Promise<KetamaReference> {
    const sinks = Array.from({ length: count }, () => new Sink(host));
    for (const s of sinks) await s.start(0);
    return new KetamaReference(sinks);
  }

  get members(): Array<{ host: string; port: number; weight: number }> {
    return this.sinks.map((s) => ({ host: s.host, port: s.port, weight: 1 }));
  }

  async owners(subset: number[], keys: string[]): Promise<number[]> {
    const id = `${subset.join(',')}|${keys.length}|${keys[0]}|${keys[keys.length - 1]}`;
    const hit = this.cache.get(id);
    if (hit) return hit;
    const local = await pylibmcPlacement(subset.map((i) => this.sinks[i]!), keys);
    const out = local.map((j) => subset[j]!);
    this.cache.set(id, out);
    return out;
  }

  async stop(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.stop().catch(() => undefined)));
  }
}
