/**
 * Bounded work per client: a client that pipelines requests but does not read its replies stops being read
 * once its unread replies pass the output limit, so the sidecar holds a bounded amount for it; when it reads,
 * every reply arrives, in order. Likewise the number of unanswered requests per client is capped.
 */
import net from 'node:net';
import type { RunningServer } from '../../support/servers.js';
import type { Sidecar } from '../../../server/src/sidecar/sidecar.js';
import { RawClient, RingFile, ask, eventually, fileSidecar, ringJson, startUpstreams, stopAll } from './helpers.js';

let servers: RunningServer[] = [];
let ring: RingFile;
let sidecar: Sidecar | undefined;

beforeAll(async () => {
  servers = await startUpstreams(1);
  ring = new RingFile();
  ring.write(ringJson(1, [{ port: servers[0]!.port }]));
  sidecar = await fileSidecar(ring, { outputLimit: 256 * 1024, maxInFlight: 64 });
}, 60_000);

afterAll(async () => {
  await sidecar?.stop();
  await stopAll(servers);
  ring?.remove();
});

test('a client that does not read is not read from; once it reads, every reply arrives in order', async () => {
  const value = 'v'.repeat(200_000);
  const setup = await RawClient.connect(sidecar!.port);
  expect(await ask(setup, `set big 0 0 ${value.length}\r\n${value}\r\n`, '\r\n')).toBe('STORED\r\n');
  setup.close();

  const requests = 300; // 60 MB of replies if all were read at once
  const before = sidecar!.stats.cmd_get;
  // A raw socket, paused: it reads nothing until told to (RawClient reads everything as it comes).
  const sock = net.connect(sidecar!.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => resolve());
    sock.once('error', reject);
  });
  sock.pause();
  let script = '';
  for (let i = 0; i < requests; i++) script += `get big\r\nmg n${i} k v\r\n`;
  sock.write(script);
  // Let it settle: the sidecar stops reading this client well before all requests are dispatched.
  let last = -1;
  await eventually(async () => {
    const now = sidecar!.stats.cmd_get - before;
    const settled = now === last && now > 0;
    last = now;
    await new Promise((r) => setTimeout(r, 100));
    return settled;
  }, 'dispatching to stop', 100, 0);
  expect(sidecar!.stats.cmd_get - before).toBeLessThan(requests);

  // Now read everything: all replies, in request order.
  const reply = (i: number): Buffer => Buffer.from(`VALUE big 0 ${value.length}\r\n${value}\r\nEND\r\nEN kn${i}\r\n`);
  let expectedLen = 0;
  for (let i = 0; i < requests; i++) expectedLen += reply(i).length;
  const chunks: Buffer[] = [];
  let got = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got} of ${expectedLen} bytes`)), 60_000);
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= expectedLen) {
        clearTimeout(timer);
        resolve();
      }
    });
    sock.resume();
  });
  const all = Buffer.concat(chunks);
  expect(all.length).toBe(expectedLen);
  let inOrder = true;
  for (let i = 0, pos = 0; i < requests && inOrder; i++) {
    const r = reply(i);
    inOrder = all.subarray(pos, pos + r.length).equals(r);
    pos += r.length;
  }
  expect(inOrder).toBe(true);
  expect(sidecar!.stats.cmd_get - before).toBe(requests);
  sock.destroy();
}, 120_000);
