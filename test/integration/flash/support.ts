// Real cachalot-server processes with a flash tier, on loopback ports, against real files in a temp dir.
// Every process is killed in afterAll (and by the exit hook of test/support/servers.ts's pattern here too).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CACHALOT_MAIN, REPO_ROOT, canConnect, freePort } from '../../support/servers.js';
import { RECORD_OK, readU32, verifyRecord } from '../../../server/src/cache/flash/record.js';
import { R_KLEN_BYTE, R_LENGTH, R_TYPE_BYTE, RECORD_HEADER, TYPE_ITEM } from '../../../server/src/cache/flash/layout.js';

export const MiB = 1024 * 1024;
const START_TIMEOUT_MS = 60_000;

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'cachalot-flash-it-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface FlashServer {
  port: number;
  metricsPort: number;
  process: ChildProcess;
  output(): string;
}

/**
 * The evidence writes values from 100 B: memcached's default ext_item_size (512) would keep the
 * ones under 512 B out of flash, so those tests ask for every size.
 */
export const EVERY_SIZE = ['-o', 'ext_item_size=0'];

/** `node dist/server/src/cache/main.js -p PORT -l 127.0.0.1 -t 2 -m 16 -o ext_path=DIR:SIZE --metrics-port MPORT`. */
export async function startFlashServer(dir: string, size = '256m', extra: string[] = []): Promise<FlashServer> {
  const port = await freePort();
  const metricsPort = await freePort();
  const args = [CACHALOT_MAIN, '-p', String(port), '-l', '127.0.0.1', '-t', '2', '-m', '16', '-U', '0',
    '-o', `ext_path=${dir}:${size}`, '--metrics-port', String(metricsPort), '--metrics-listen', '127.0.0.1', ...extra];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let output = '';
  const collect = (chunk: Buffer): void => {
    if (output.length < 256 * 1024) output += chunk.toString('utf8');
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const server = { port, metricsPort, process: child, output: () => output };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline && child.exitCode === null) {
    if (await canConnect(port) && (await readyz(server)) === 200) return server;
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`cachalot-server with a flash tier did not become ready\n${output}`);
}

export function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.on('data', (d) => { data += d.toString(); });
    sock.on('error', () => resolve({ status: 0, body: '' }));
    sock.on('close', () => {
      const m = /^HTTP\/1\.[01] (\d+)/.exec(data);
      resolve({ status: m ? Number(m[1]) : 0, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  });
}

export async function readyz(s: FlashServer): Promise<number> {
  return (await httpGet(s.metricsPort, '/readyz')).status;
}

/** One sample of a metric family (no labels) from /metrics. */
export async function metric(s: FlashServer, name: string): Promise<number> {
  const { body } = await httpGet(s.metricsPort, '/metrics');
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
  return m ? Number(m[1]) : NaN;
}

export function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export async function stop(s: FlashServer | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!s) return;
  if (s.process.exitCode !== null || s.process.signalCode !== null) return;
  s.process.kill(signal);
  if (!(await waitExit(s.process, 60_000))) s.process.kill('SIGKILL');
  await waitExit(s.process, 5_000);
}

/** Sizes from 100 B to 512 KiB, log-uniform, deterministic per index. */
export function sizeOf(i: number): number {
  const x = ((Math.imul(i + 1, 2654435761) >>> 0) % 100_000) / 100_000;
  return Math.floor(100 * Math.pow(5242.88, x));
}

const PATTERN = (() => {
  const b = Buffer.allocUnsafe(2 * MiB);
  let x = 987654321;
  for (let j = 0; j < b.length; j++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[j] = x >>> 24;
  }
  return b;
})();

/** Value bytes of item `i` (a window of a random pattern stamped with i and the length). */
export function valueOf(i: number, n = sizeOf(i), salt = 0): Buffer {
  const off = (Math.imul(i, 7919) + salt * 131) >>> 0;
  const b = Buffer.from(PATTERN.subarray(off % MiB, off % MiB + n));
  if (n >= 8) {
    b.writeUInt32LE(i >>> 0, 0);
    b.writeUInt32LE((n ^ salt) >>> 0, 4);
  }
  return b;
}

type Parser = (b: Buffer) => { used: number; value: Buffer | string | null } | null;

/** A minimal pipelining memcached text client: set and get, replies matched in order. */
export class Client {
  private readonly sock: net.Socket;
  private buf = Buffer.alloc(0);
  private readonly queue: Array<{ parse: Parser; resolve: (v: Buffer | string | null) => void; reject: (e: Error) => void }> = [];
  closed = false;

  constructor(port: number) {
    this.sock = net.connect(port, '127.0.0.1');
    this.sock.on('data', (d) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.pump();
    });
    const fail = (): void => {
      this.closed = true;
      for (const q of this.queue.splice(0)) q.reject(new Error('connection closed'));
    };
    this.sock.on('error', fail);
    this.sock.on('close', fail);
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const r = this.queue[0].parse(this.buf);
      if (r === null) return;
      this.buf = this.buf.subarray(r.used);
      this.queue.shift()!.resolve(r.value);
    }
  }

  private cmd(data: Buffer | string, parse: Parser): Promise<Buffer | string | null> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new Error('connection closed'));
        return;
      }
      this.queue.push({ parse, resolve, reject });
      this.sock.write(data);
    });
  }

  async set(key: string, value: Buffer): Promise<string> {
    const line = (b: Buffer): { used: number; value: string } | null => {
      const e = b.indexOf('\r\n');
      return e < 0 ? null : { used: e + 2, value: b.subarray(0, e).toString() };
    };
    return (await this.cmd(Buffer.concat([Buffer.from(`set ${key} 0 0 ${value.length}\r\n`), value, Buffer.from('\r\n')]), line)) as string;
  }

  async get(key: string): Promise<Buffer | null> {
    return (await this.cmd(`get ${key}\r\n`, (b) => {
      if (b.length >= 5 && b[0] === 0x45 && b.subarray(0, 5).toString() === 'END\r\n') return { used: 5, value: null };
      const e = b.indexOf('\r\n');
      if (e < 0) return null;
      const head = b.subarray(0, e).toString();
      if (!head.startsWith('VALUE ')) throw new Error(`unexpected reply to get ${key}: ${head}`);
      const n = Number(head.split(' ')[3]);
      if (b.length < e + 2 + n + 2 + 5) return null;
      return { used: e + 2 + n + 2 + 5, value: Buffer.from(b.subarray(e + 2, e + 2 + n)) };
    })) as Buffer | null;
  }

  /** The CAS `gets` reports for a key, or null on a miss. */
  async casOf(key: string): Promise<number | null> {
    const head = (await this.cmd(`gets ${key}\r\n`, (b) => {
      if (b.length >= 5 && b.subarray(0, 5).toString() === 'END\r\n') return { used: 5, value: null };
      const e = b.indexOf('\r\n');
      if (e < 0) return null;
      const n = Number(b.subarray(0, e).toString().split(' ')[3]);
      if (b.length < e + 2 + n + 2 + 5) return null;
      return { used: e + 2 + n + 2 + 5, value: b.subarray(0, e).toString() };
    })) as string | null;
    return head === null ? null : Number(head.split(' ')[4]);
  }

  /** A command whose reply is one line (flush_all, delete, ...): the line without its CRLF. */
  async line(command: string): Promise<string> {
    return (await this.cmd(`${command}\r\n`, (b) => {
      const e = b.indexOf('\r\n');
      return e < 0 ? null : { used: e + 2, value: b.subarray(0, e).toString() };
    })) as string;
  }

  async stats(group = ''): Promise<Map<string, string>> {
    const text = (await this.cmd(`stats${group ? ' ' + group : ''}\r\n`, (b) => {
      const e = b.indexOf('END\r\n');
      return e < 0 ? null : { used: e + 5, value: b.subarray(0, e).toString() };
    })) as string;
    const m = new Map<string, string>();
    for (const line of text.split('\r\n')) {
      const p = line.split(' ');
      if (p[0] === 'STAT') m.set(p[1], p.slice(2).join(' '));
    }
    return m;
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Sets items [from, to) with up to `window` requests in flight; returns the total value bytes. */
export async function writeItems(c: Client, from: number, to: number, window = 8, salt = 0,
  onStored?: (i: number) => void): Promise<number> {
  let next = from;
  let bytes = 0;
  const lane = async (): Promise<void> => {
    while (next < to) {
      const i = next++;
      const v = valueOf(i, sizeOf(i), salt);
      bytes += v.length;
      const r = await c.set(`item:${i}`, v);
      if (r !== 'STORED') throw new Error(`set item:${i} -> ${r}`);
      onStored?.(i);
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  return bytes;
}

/** Reads items [from, to): counts hits that are byte-exact, misses, and wrong values (must stay 0). */
export async function readItems(c: Client, from: number, to: number, window = 8, salt = 0):
  Promise<{ ok: number; miss: number; wrong: number[]; missing: number[] }> {
  const res = { ok: 0, miss: 0, wrong: [] as number[], missing: [] as number[] };
  let next = from;
  const lane = async (): Promise<void> => {
    while (next < to) {
      const i = next++;
      const v = await c.get(`item:${i}`);
      if (v === null) {
        res.miss++;
        res.missing.push(i);
      } else if (v.equals(valueOf(i, sizeOf(i), salt))) res.ok++;
      else res.wrong.push(i);
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  return res;
}

/** Items whose sizes sum to at least `bytes`, starting at `from`: the index after the last. */
export function itemsFor(from: number, bytes: number): number {
  let i = from;
  for (let total = 0; total < bytes; i++) total += sizeOf(i);
  return i;
}

/** Keys with a complete, checksummed item record in the log files under `dir` right now. */
export function keysOnDisk(dir: string): Set<string> {
  const keys = new Set<string>();
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.flash'))) {
    let buf: Buffer;
    try {
      buf = readFileSync(join(dir, name));
    } catch {
      continue;
    }
    for (let off = 0; off < buf.length;) {
      if (verifyRecord(buf, off, buf.length - off) !== RECORD_OK) break;
      if (buf[off + R_TYPE_BYTE] === TYPE_ITEM) {
        keys.add(buf.subarray(off + RECORD_HEADER, off + RECORD_HEADER + buf[off + R_KLEN_BYTE]).toString());
      }
      off += Math.ceil(readU32(buf, off, R_LENGTH) / 8) * 8;
    }
  }
  return keys;
}
