// The metrics/health port never serves cache data: memcached commands sent to it (as a client pointed at the
// wrong port, or anything a NetworkPolicy admits there to scrape, would send) get HTTP's 400 and a closed
// connection, never an item, and change nothing in the cache. Real server binary, real TCP.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stopServer } from '../../support/servers.js';
import { httpGet, startCachalotServer, type Cachalot } from '../../support/cachalot.js';
import { McClient } from '../../support/mcclient.js';

let cachalot: Cachalot;
let client: McClient;

/** Sends `bytes` to the port and collects everything until the server closes the connection. The bound only
 * keeps a hung server from hanging the test; the assertions are on the bytes. */
function exchange(port: number, bytes: string): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    const bound = setTimeout(() => {
      socket.destroy();
      resolve({ reply: Buffer.concat(chunks).toString('latin1'), closed: false });
    }, 10_000);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', (err) => {
      clearTimeout(bound);
      // A reset after the 400 is still a refusal; anything before a reply is a failure.
      if (chunks.length) resolve({ reply: Buffer.concat(chunks).toString('latin1'), closed: true });
      else reject(err);
    });
    socket.on('close', () => {
      clearTimeout(bound);
      resolve({ reply: Buffer.concat(chunks).toString('latin1'), closed: true });
    });
  });
}

beforeAll(async () => {
  cachalot = await startCachalotServer({ threads: 1, memoryMb: 16 });
  client = await McClient.connect(cachalot.port);
  expect((await client.request('set k 0 0 6\r\nsecret\r\n', 'line')).line).toBe('STORED');
});

afterAll(async () => {
  client?.close();
  await stopServer(cachalot?.server);
});

describe('the metrics port', () => {
  it.each([
    ['get k\r\n'],
    ['mg k v\r\n'],
    ['gets k\r\n'],
    ['set x 0 0 1\r\nv\r\n'],
    ['flush_all\r\n'],
    ['stats\r\n'],
    ['get k\r\nget k\r\nversion\r\n'],
  ])('answers %j with HTTP 400 and closes, serving no item', async (request) => {
    const { reply, closed } = await exchange(cachalot.metricsPort, request);
    expect(closed).toBe(true);
    expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    for (const leak of ['secret', 'VALUE', 'STORED', 'OK\r\n', 'STAT ', 'VERSION', 'VA ']) expect(reply).not.toContain(leak);
  });

  it('HTTP paths other than /metrics, /healthz and /readyz are 404, whatever key they name', async () => {
    for (const path of ['/k', '/get/k', '/get?k', '/metrics/k']) {
      const r = await httpGet(cachalot.metricsPort, path);
      expect([path, r.status, r.body.includes('secret')]).toEqual([path, 404, false]);
    }
  });

  it('left the cache as it was: k still holds its value and nothing was stored or flushed', async () => {
    const got = await client.request('get k x\r\n', 'values');
    expect(got.raw.toString('latin1')).toBe('VALUE k 0 6\r\nsecret\r\nEND\r\n');
  });
});
