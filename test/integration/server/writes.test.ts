// Reply writing (server/src/net/directwrite.ts): replies go out on the socket's handle, or through
// socket.write() where Node's internals are missing (CACHALOT_STREAM_WRITES=1 forces that path). With a
// client that reads late, replies outgrow the kernel's buffers and the 4 MiB output limit: every byte must
// still arrive, in order, and a `quit` after them must close the connection only once all are written
// (memcached 1.6: quit sets close_after_write).
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stopServer } from '../../support/servers.js';
import { sleep, startCachalotServer, type Cachalot } from '../../support/cachalot.js';
import { McClient, storageCommand } from '../../support/mcclient.js';

const VALUE_BYTES = 100 * 1024;
const GETS = 60; // ~6 MiB of replies: more than loopback's socket buffers and the output limit

describe.each([
  ['on the socket handle', {}],
  ['through socket.write (CACHALOT_STREAM_WRITES=1)', { CACHALOT_STREAM_WRITES: '1' }],
])('replies written %s', (_name, env) => {
  let cachalot: Cachalot;
  const values: Buffer[] = [];

  beforeAll(async () => {
    cachalot = await startCachalotServer({ threads: 2, metrics: false, env });
    const c = await McClient.connect(cachalot.port);
    try {
      for (let i = 0; i < 4; i++) {
        const v = randomBytes(VALUE_BYTES);
        values.push(v);
        expect((await c.request(storageCommand('set', `w${i}`, v), 'line')).line).toBe('STORED');
      }
    } finally {
      c.close();
    }
  });

  afterAll(async () => {
    await stopServer(cachalot?.server);
  });

  it(`${GETS} pipelined 100 KiB gets then quit, read only after 700 ms: every reply in order, then the close`, async () => {
    const sock = net.connect({ port: cachalot.port, host: '127.0.0.1' });
    sock.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    sock.pause();
    let req = '';
    for (let i = 0; i < GETS; i++) req += `get w${i % 4}\r\n`;
    sock.write(req + 'quit\r\n');
    await sleep(700);
    const chunks: Buffer[] = [];
    let total = 0;
    const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      total += d.length;
    });
    sock.resume();
    const result = await Promise.race([closed.then(() => 'closed'), sleep(15_000).then(() => 'timeout')]);
    sock.destroy();
    expect(result).toBe('closed');
    const expected: Buffer[] = [];
    for (let i = 0; i < GETS; i++) {
      const v = values[i % 4]!;
      expected.push(Buffer.from(`VALUE w${i % 4} 0 ${v.length}\r\n`), v, Buffer.from('\r\nEND\r\n'));
    }
    const want = Buffer.concat(expected);
    expect(total).toBe(want.length);
    const got = Buffer.concat(chunks);
    expect(createHash('sha1').update(got).digest('hex')).toBe(createHash('sha1').update(want).digest('hex'));
  });

  it('a client that closes with replies still pending leaves the server serving others', async () => {
    const sock = net.connect({ port: cachalot.port, host: '127.0.0.1' });
    sock.on('error', () => {});
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    sock.pause();
    sock.write('get w0\r\n'.repeat(GETS));
    await sleep(300);
    sock.destroy();
    const c = await McClient.connect(cachalot.port);
    try {
      const r = await c.request('get w1\r\n', 'values');
      expect(r.values[0]?.data.equals(values[1]!)).toBe(true);
    } finally {
      c.close();
    }
  });
});
