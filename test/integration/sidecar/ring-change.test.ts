/**
 * Ring changes under load: a rewritten ring file, and a ConfigMap updated through the Kubernetes API (the
 * in-process API server double, watched by the real @kubernetes/client-node), are picked up within a second
 * while a client keeps pipelining; no request fails or goes unanswered across the swap, and keys written after
 * it land on the new member.
 */
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { basename, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ApiServerDouble } from '../../k8s/apiserver/index.js';
import type { RunningServer } from '../../support/servers.js';
import { ConfigMapRingSource } from '../../../server/src/ring/configmap.js';
import type { Sidecar } from '../../../server/src/sidecar/sidecar.js';
import {
  RawClient, RingFile, askCount, eventually, fileSidecar, holders, ringJson, startSidecar, startUpstreams, stopAll,
} from './helpers.js';

let servers: RunningServer[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  servers = await startUpstreams(3);
}, 60_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await stopAll(servers);
});

/**
 * Pipelines batches of set+get through `port` until stop() is called; every reply must be STORED or a
 * VALUE/END, never an error, and every request must be answered.
 */
function traffic(port: number, tag: string): { batches: () => number; stop: () => Promise<{ batches: number; bad: string[] }> } {
  let running = true;
  const bad: string[] = [];
  let batches = 0;
  const done = (async () => {
    const c = await RawClient.connect(port);
    try {
      for (let b = 0; running && b < 10_000; b++) {
        let req = '';
        for (let i = 0; i < 20; i++) {
          const k = `${tag}:${b}:${i}`;
          req += `set ${k} 0 0 ${k.length}\r\n${k}\r\nget ${k}\r\n`;
        }
        const replies = await askCount(c, req, 'END\r\n', 20);
        const expected = Array.from({ length: 20 }, (_, i) => {
          const k = `${tag}:${b}:${i}`;
          return `STORED\r\nVALUE ${k} 0 ${k.length}\r\n${k}\r\nEND\r\n`;
        }).join('');
        if (replies !== expected) bad.push(replies.slice(0, 200));
        batches++;
      }
    } finally {
      c.close();
    }
  })();
  return {
    batches: () => batches,
    stop: async () => {
      running = false;
      await done;
      return { batches, bad };
    },
  };
}

test('a rewritten ring file is applied within a second, with no failed request', async () => {
  const ring = new RingFile();
  cleanups.push(() => ring.remove());
  ring.write(ringJson(1, servers.slice(0, 2).map((s) => ({ port: s.port }))));
  const sidecar = await fileSidecar(ring, { ringPollMs: 200 });
  cleanups.push(() => sidecar.stop());
  const load = traffic(sidecar.port, 'file');
  await eventually(() => load.batches() >= 3, 'traffic before the change', 500);

  ring.write(ringJson(2, servers.map((s) => ({ port: s.port }))));
  // Bounded by one second: 100 polls of 10 ms. The assertion is on the state reached.
  await eventually(() => sidecar.table?.version === 2, 'ring version 2 within a second', 100, 10).catch(() => undefined);
  expect(sidecar.table?.version).toBe(2);
  const atSwap = load.batches();
  await eventually(() => load.batches() >= atSwap + 3, 'traffic after the change', 500);
  const { batches, bad } = await load.stop();
  expect(bad).toEqual([]);
  expect(batches).toBeGreaterThan(0);

  // A document that fails validation is refused; the ring in use stays.
  ring.write('{"version": 3, "members": [{"host": "127.0.0.1", "port": "oops"}]}');
  await eventually(() => sidecar.stats.ring_reload_errors > 0, 'invalid ring reported');
  expect(sidecar.table?.version).toBe(2);

  // After the swap the third member owns its share of new keys.
  const c = await RawClient.connect(sidecar.port);
  const keys = Array.from({ length: 30 }, (_, i) => `after:${i}`);
  await askCount(c, keys.map((k) => `set ${k} 0 0 1\r\nx\r\n`).join(''), 'STORED\r\n', keys.length);
  c.close();
  let onThird = 0;
  for (const k of keys) if ((await holders(servers, k)).includes(2)) onThird++;
  expect(onThird).toBeGreaterThan(0);
});

test('a ConfigMap change through the Kubernetes API is applied within a second, also after the watch breaks', async () => {
  const api = new ApiServerDouble();
  await api.start();
  cleanups.push(() => api.stop());
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfigYaml());
  const putRing = async (text: string, create: boolean): Promise<void> => {
    const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'test-ring', namespace: 'default' }, data: { 'ring.json': text } };
    const url = `${api.url}/api/v1/namespaces/default/configmaps${create ? '' : '/test-ring'}`;
    const r = await fetch(url, create
      ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
      : { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ data: body.data }) });
    expect(r.status).toBeLessThan(300);
  };
  await putRing(ringJson(10, servers.slice(0, 2).map((s) => ({ port: s.port }))), true);
  const sidecar = await startSidecar(new ConfigMapRingSource(kc, 'default', 'test-ring'));
  cleanups.push(() => sidecar.stop());
  expect(sidecar.table?.version).toBe(10);
  await eventually(() => api.activeWatches('configmaps') > 0, 'the sidecar watching');

  const load = traffic(sidecar.port, 'api');
  await eventually(() => load.batches() >= 3, 'traffic before the change', 500);
  await putRing(ringJson(11, servers.map((s) => ({ port: s.port }))), false);
  await eventually(() => sidecar.table?.version === 11, 'ring version 11 within a second', 100, 10).catch(() => undefined);
  expect(sidecar.table?.version).toBe(11);

  // The watch is cut: the source re-reads and re-watches, and the next change still arrives.
  expect(api.breakWatches((plural) => plural === 'configmaps')).toBeGreaterThan(0);
  await putRing(ringJson(12, servers.map((s, i) => ({ port: s.port, state: i === 2 ? 'draining' : 'active' }))), false);
  await eventually(() => sidecar.table?.version === 12, 'ring version 12 after a broken watch', 300, 10);
  expect(sidecar.table?.active.length).toBe(2);
  const atSwap = load.batches();
  await eventually(() => load.batches() >= atSwap + 3, 'traffic after the change', 500);
  const { batches, bad } = await load.stop();
  expect(bad).toEqual([]);
  expect(batches).toBeGreaterThan(0);
});

test('requests in flight when the ring changes finish on the server they were sent to', async () => {
  // A memcached stand-in that answers each line 300 ms late, so a request is surely in flight at the swap.
  const slowKeys: string[] = [];
  const slow = net.createServer((sock) => {
    sock.on('data', (d: Buffer) => {
      for (const line of d.toString('latin1').split('\r\n')) {
        if (!line.startsWith('get ')) continue;
        slowKeys.push(line);
        setTimeout(() => sock.write(`VALUE ${line.slice(4)} 0 4\r\nslow\r\nEND\r\n`), 300);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => slow.close(() => r())));
  const ring = new RingFile();
  cleanups.push(() => ring.remove());
  ring.write(ringJson(1, [{ port: (slow.address() as net.AddressInfo).port }]));
  const sidecar = await fileSidecar(ring, { ringPollMs: 20 });
  cleanups.push(() => sidecar.stop());
  const c = await RawClient.connect(sidecar.port);
  await c.send('get inflight\r\n');
  await eventually(() => slowKeys.length === 1, 'the request reached the old server');
  ring.write(ringJson(2, [{ port: servers[0]!.port }]));
  await eventually(() => sidecar.table?.version === 2, 'ring version 2');
  const old = await c.readUntil('END\r\n', 2_000, 5_000);
  expect(old.data.toString('latin1')).toBe('VALUE inflight 0 4\r\nslow\r\nEND\r\n');
  // The next request uses the new ring (the real server, which does not have the key).
  const direct = await RawClient.connect(servers[0]!.port);
  await direct.send('set inflight 0 0 3\r\nnew\r\n');
  await direct.readUntil('\r\n');
  direct.close();
  await c.send('get inflight\r\n');
  expect((await c.readUntil('END\r\n')).data.toString('latin1')).toBe('VALUE inflight 0 3\r\nnew\r\nEND\r\n');
  expect(slowKeys.length).toBe(1);
  c.close();
});

test('no ring yet: keys are answered without a server until the file appears, then routed', async () => {
  const ring = new RingFile();
  cleanups.push(() => ring.remove());
  const sidecar = await fileSidecar(ring, { ringPollMs: 20 });
  cleanups.push(() => sidecar.stop());
  expect(sidecar.table).toBeNull();
  expect(sidecar.stats.ring_reload_errors).toBe(1); // the missing file, reported once
  const c = await RawClient.connect(sidecar.port);
  expect(await askCount(c, 'get nothing\r\nset k 0 0 1\r\nx\r\n', '\r\n', 2)).toBe('END\r\nSERVER_ERROR upstream unavailable\r\n');
  ring.write(ringJson(1, [{ port: servers[0]!.port }]));
  await eventually(() => sidecar.table?.version === 1, 'the ring file once it exists');
  expect(await askCount(c, 'set k 0 0 1\r\nx\r\n', '\r\n', 1)).toBe('STORED\r\n');
  c.close();
});

test('a ConfigMap that does not exist yet is picked up once created', async () => {
  const api = new ApiServerDouble();
  await api.start();
  cleanups.push(() => api.stop());
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfigYaml());
  const sidecar = await startSidecar(new ConfigMapRingSource(kc, 'default', 'late-ring'));
  cleanups.push(() => sidecar.stop());
  expect(sidecar.table).toBeNull();
  await eventually(() => api.activeWatches('configmaps') > 0, 'the sidecar watching for it');
  expect(sidecar.stats.ring_reload_errors).toBe(1); // "not found (yet)", reported once
  const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'late-ring', namespace: 'default' },
    data: { 'ring.json': ringJson(4, [{ port: servers[1]!.port }]) } };
  const r = await fetch(`${api.url}/api/v1/namespaces/default/configmaps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(r.status).toBe(201);
  // The ADDED event on the open watch carries it: a bounded wait, asserting the state reached.
  await eventually(() => sidecar.table?.version === 4, 'ring from the created ConfigMap within a second', 100, 10);
  expect(sidecar.table?.active.map((m) => m.port)).toEqual([servers[1]!.port]);
});

test('a mounted ConfigMap updated the kubelet way (..data symlink swap) is picked up', async () => {
  // The kubelet's AtomicWriter layout: ring.json -> ..data/ring.json, ..data -> ..<timestamp>/; an update
  // writes a new timestamped directory and renames a fresh ..data symlink over the old one.
  const ring = new RingFile();
  cleanups.push(() => ring.remove());
  const writeVersion = (n: number): void => {
    const dir = join(ring.dir, `..2026_01_01_00_00_0${n}.000000000`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'ring.json'), ringJson(n, servers.slice(0, n).map((s) => ({ port: s.port }))));
    const tmp = join(ring.dir, '..data_tmp');
    symlinkSync(basename(dir), tmp);
    renameSync(tmp, join(ring.dir, '..data'));
  };
  writeVersion(1);
  symlinkSync(join('..data', 'ring.json'), ring.path);
  const sidecar = await fileSidecar(ring, { ringPollMs: 200 });
  cleanups.push(() => sidecar.stop());
  expect(sidecar.table?.version).toBe(1);
  writeVersion(2);
  await eventually(() => sidecar.table?.version === 2, 'ring version 2 within a second', 100, 10).catch(() => undefined);
  expect(sidecar.table?.version).toBe(2);
  expect(sidecar.table?.active.length).toBe(2);
});
