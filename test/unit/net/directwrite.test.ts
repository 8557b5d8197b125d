import net from 'node:net';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { afterAll, beforeAll } from '@jest/globals';
import { makeCerts, type TestCerts } from '../../support/certs.js';
import { requireOpenssl } from '../../support/prereq.js';
import { SocketWriter } from '../../../server/src/net/directwrite.js';

/**
 * SocketWriter (server/src/net/directwrite.ts): writes through the socket's libuv handle, and its fallback
 * through socket.write(). Both must deliver every byte in order, report writes the kernel could not take
 * as pending (with their bytes) until they complete, complete them in order, and fail them when the socket
 * is destroyed. Real loopback sockets; the reader is paused so that the kernel's buffers fill up.
 */

interface Pair {
  server: net.Server;
  writerSide: net.Socket;
  reader: net.Socket;
}

async function socketPair(): Promise<Pair> {
  let accepted: (s: net.Socket) => void = () => {};
  const acceptedP = new Promise<net.Socket>((r) => { accepted = r; });
  const server = net.createServer((s) => accepted(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const reader = net.connect({ port, host: '127.0.0.1' });
  reader.pause();
  const writerSide = await acceptedP;
  await new Promise<void>((r) => (reader.readyState === 'open' ? r() : reader.once('connect', () => r())));
  return { server, writerSide, reader };
}

async function close(p: Pair): Promise<void> {
  p.writerSide.destroy();
  p.reader.destroy();
  await new Promise<void>((r) => p.server.close(() => r()));
}

function chunk(i: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let k = 0; k < size; k++) b[k] = (i * 31 + k * 7) & 255;
  return b;
}

function sha1(parts: Buffer[]): string {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

describe.each([
  ['through the handle', true],
  ['through socket.write (fallback)', false],
])('SocketWriter %s', (_name, direct) => {
  test('writes that fill the kernel buffers go pending, complete in order once read, and every byte arrives in order', async () => {
    const p = await socketPair();
    try {
      const done: number[] = [];
      const pendingIds: number[] = [];
      const w = new SocketWriter(p.writerSide, (ok) => { expect(ok).toBe(true); done.push(pendingIds.shift()!); }, direct);
      expect(w.direct).toBe(direct);
      const sent: Buffer[] = [];
      let syncCount = 0;
      // 64 writes of 256 KiB = 16 MiB: more than loopback's socket buffers hold while the reader is paused.
      for (let i = 0; i < 64; i++) {
        const b = chunk(i, 256 * 1024);
        sent.push(b);
        const now = i % 2 === 0 ? w.write(b) : w.writev([b.subarray(0, 1000), b.subarray(1000)]);
        if (now) syncCount++;
        else pendingIds.push(i);
      }
      expect(w.pending).toBe(pendingIds.length);
      expect(w.pending).toBeGreaterThan(0);
      expect(syncCount).toBeGreaterThan(0);
      expect(w.pendingBytes).toBe(w.pending * 256 * 1024);
      const expectedOrder = [...pendingIds];
      // Read everything: the pending writes complete, in order.
      const got: Buffer[] = [];
      let total = 0;
      const all = new Promise<void>((resolve) => {
        p.reader.on('data', (d: Buffer) => {
          got.push(d);
          total += d.length;
          if (total === 64 * 256 * 1024) resolve();
        });
      });
      p.reader.resume();
      await all;
      for (let i = 0; i < 100 && w.pending > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(w.pending).toBe(0);
      expect(w.pendingBytes).toBe(0);
      expect(done).toEqual(expectedOrder);
      expect(sha1(got)).toBe(sha1(sent));
    } finally {
      await close(p);
    }
  });

  test('destroying the socket fails every pending write', async () => {
    const p = await socketPair();
    try {
      const results: boolean[] = [];
      const w = new SocketWriter(p.writerSide, (ok) => results.push(ok), direct);
      let pending = 0;
      for (let i = 0; i < 64; i++) if (!w.write(chunk(i, 256 * 1024))) pending++;
      expect(pending).toBeGreaterThan(0);
      p.writerSide.destroy();
      for (let i = 0; i < 100 && results.length < pending; i++) await new Promise((r) => setTimeout(r, 10));
      expect(results.length).toBe(pending);
      expect(results.every((ok) => ok === false)).toBe(true);
      expect(w.pending).toBe(0);
      // A write after the close is dropped, not an error.
      expect(w.write(Buffer.from('x'))).toBe(true);
    } finally {
      await close(p);
    }
  });
});

/**
 * A TLS socket's handle (Node's TLSWrap) holds one write at a time and aborts the process on a second: the
 * writer keeps one there and queues the rest. Every write is pending (the TLS layer completes them from an
 * immediate), they complete in order, every byte arrives in order, and end() closes after the last one.
 */
const tlsGate = requireOpenssl();
tlsGate.describe('SocketWriter on a TLS socket', () => {
  let certs: TestCerts | undefined;
  beforeAll(() => { certs = makeCerts(); });
  afterAll(() => certs?.remove());

  async function tlsPair(): Promise<{ server: tls.Server; writerSide: tls.TLSSocket; reader: tls.TLSSocket }> {
    let accepted: (s: tls.TLSSocket) => void = () => {};
    const acceptedP = new Promise<tls.TLSSocket>((r) => { accepted = r; });
    const server = tls.createServer({ cert: readFileSync(certs!.serverCert), key: readFileSync(certs!.serverKey) }, accepted);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const reader = tls.connect({ port, host: '127.0.0.1', ca: readFileSync(certs!.ca) });
    await new Promise<void>((r) => reader.once('secureConnect', () => r()));
    reader.pause();
    return { server, writerSide: await acceptedP, reader };
  }

  test('writes queue behind the one on the handle, complete in order, and end() follows the last', async () => {
    const p = await tlsPair();
    try {
      const oks: boolean[] = [];
      const w = new SocketWriter(p.writerSide, (ok) => oks.push(ok));
      expect(w.direct).toBe(true);
      const sent: Buffer[] = [];
      for (let i = 0; i < 32; i++) {
        const b = chunk(i, 256 * 1024);
        sent.push(b);
        expect(i % 2 === 0 ? w.write(b) : w.writev([b.subarray(0, 1000), b.subarray(1000)])).toBe(false);
      }
      expect(w.pending).toBe(32);
      expect(w.pendingBytes).toBe(32 * 256 * 1024);
      w.end();
      const got: Buffer[] = [];
      const ended = new Promise<void>((resolve) => {
        p.reader.on('data', (d: Buffer) => got.push(d));
        p.reader.once('end', () => resolve());
      });
      p.reader.resume();
      await ended;
      expect(sha1(got)).toBe(sha1(sent));
      for (let i = 0; i < 100 && w.pending > 0; i++) await new Promise((r) => setTimeout(r, 10));
      // Every write completes; the last one may complete after the peer's close destroyed the socket, when
      // it is reported as not known to be delivered (the bytes did arrive: checked above).
      expect(oks.length).toBe(32);
      expect(oks.slice(0, 31).every((ok) => ok)).toBe(true);
      expect(w.pending).toBe(0);
      expect(w.pendingBytes).toBe(0);
    } finally {
      p.writerSide.destroy();
      p.reader.destroy();
      await new Promise<void>((r) => p.server.close(() => r()));
    }
  }, 30_000);
});
