/**
 * bench/loadgen.mjs --route ketama, the "ketama client" baseline of bench/sidecar.mjs: straight to the servers,
 * each key must go where the sidecar (same ring) sends it, or the comparison is not of the same work. A ketama
 * load stores every key on one server, and a get-only load through the sidecar afterwards, with nothing stored
 * through it, finds every one of them; a partitioned load (each connection one server, key number mod 3) does
 * not put keys where the ring does, which the same check notices.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { RunningServer } from '../../support/servers.js';
import { REPO_ROOT } from '../../support/servers.js';
import type { Sidecar } from '../../../server/src/sidecar/sidecar.js';
import { RawClient, RingFile, ask, fileSidecar, holders, ringJson, startUpstreams, stopAll } from './helpers.js';

const LOADGEN = join(REPO_ROOT, 'bench', 'loadgen.mjs');
const KEYS = 3000;

let servers: RunningServer[] = [];
let ring: RingFile;
let sidecar: Sidecar | undefined;

beforeAll(async () => {
  servers = await startUpstreams(3);
  ring = new RingFile();
  ring.write(ringJson(1, servers.map((s) => ({ port: s.port }))));
  sidecar = await fileSidecar(ring);
}, 60_000);

afterAll(async () => {
  await sidecar?.stop();
  await stopAll(servers);
  ring?.remove();
});

interface LoadResult { code: number | null; stderr: string; json?: { hits: number; misses: number; errors: number; ops: number } }

function loadgen(args: string[]): Promise<LoadResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [LOADGEN, '--conns', '4', '--depth', '16', '--keys', String(KEYS), '--warmup', '0',
      '--duration', '0.3', '--max-seconds', '30', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop();
      resolve({ code, stderr: err, json: code === 0 && last ? JSON.parse(last) : undefined });
    });
  });
}

const ports = () => servers.map((s) => String(s.port)).join(',');

test('--route ketama stores every key where the sidecar looks for it', async () => {
  const direct = await loadgen(['--port', ports(), '--route', 'ketama', '--set-ratio', '0']);
  expect(direct.code).toBe(0);
  expect(direct.json!.misses).toBe(0);
  expect(direct.json!.errors).toBe(0);
  expect(direct.json!.hits).toBeGreaterThan(1000);
  // Every key once, on exactly one server (a sample: all three servers hold some).
  const owners = new Set<number>();
  for (let id = 0; id < KEYS; id += 97) {
    const held = await holders(servers, `key:${String(id).padStart(12, '0')}`);
    expect(held).toHaveLength(1);
    owners.add(held[0]!);
  }
  expect(owners.size).toBe(3);
  // Through the sidecar, storing nothing itself: every get finds its key.
  const through = await loadgen(['--port', String(sidecar!.port), '--no-populate', '--set-ratio', '0']);
  expect(through.code).toBe(0);
  expect(through.json!.hits).toBeGreaterThan(1000);
  expect({ misses: through.json!.misses, errors: through.json!.errors }).toEqual({ misses: 0, errors: 0 });
}, 60_000);

test('the partitioned default does not follow the ring (the check above can fail)', async () => {
  for (const s of servers) {
    const c = await RawClient.connect(s.port);
    expect(await ask(c, 'flush_all\r\n', 'OK\r\n')).toBe('OK\r\n');
    c.close();
  }
  const direct = await loadgen(['--port', ports(), '--set-ratio', '0']);
  expect(direct.code).toBe(0);
  expect(direct.json!.misses).toBe(0);
  const through = await loadgen(['--port', String(sidecar!.port), '--no-populate', '--set-ratio', '0']);
  expect(through.code).toBe(0);
  // About two thirds of the keys are on a server other than their ring owner.
  expect(through.json!.misses).toBeGreaterThan(through.json!.ops / 3);
}, 60_000);

test('--route ketama with one port, or an unknown route, is refused with a message naming the flag', async () => {
  const one = await loadgen(['--port', String(servers[0]!.port), '--route', 'ketama']);
  expect(one.code).not.toBe(0);
  expect(one.stderr).toContain('--route ketama is for --mode load with several ports');
  const bad = await loadgen(['--port', ports(), '--route', 'nearest']);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain('--route must be partition or ketama, got nearest');
}, 30_000);
