/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The Grafana dashboard the chart ships queries only metrics the code exports, and shows what an operator of
 * this cache looks at. The exported names are collected from a running cachalot-server with a flash tier
 * (its /metrics), a running cachalot-sidecar (its /metrics) and the operator's registry, not from a list.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet, startCachalotServer, type Cachalot } from '../support/cachalot.js';
import { freePort, stopServer } from '../support/servers.js';
import { RawClient } from '../support/rawclient.js';
import { RingFile, ask, ringJson, startSidecar } from '../integration/sidecar/helpers.js';
import { FileRingSource } from '../../server/src/ring/file.js';
import { OperatorMetrics } from '../../operator/src/metrics.js';

const dashboard = JSON.parse(readFileSync(new URL('../../charts/cachalot-operator/dashboards/cachalot.json', import.meta.url), 'utf8'));
const panels: any[] = dashboard.panels;
const exprsOf = (p: any): string[] => (p.targets ?? []).map((t: any) => t.expr);
const METRIC = /\b(?:memcached|cachalot)_[a-z0-9_]+/g;

/** Metric names a Prometheus text exposition declares; a histogram also answers to _bucket, _sum and _count. */
function declared(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    out.add(m[1]!);
    if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(m[1]! + s);
  }
  return out;
}

let exported: Set<string>;
let server: Cachalot | undefined;
let dir: string | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cachalot-dash-'));
  server = await startCachalotServer({ threads: 1, memoryMb: 16, extra: ['-o', `ext_path=${dir}:64m`] });
  const serverText = (await httpGet(server.metricsPort, '/metrics')).body;
  const ring = new RingFile();
  ring.write(ringJson(1, [{ port: server.port }]));
  const sidecar = await startSidecar(new FileRingSource(ring.path, 50), { metricsPort: await freePort(), metricsListen: '127.0.0.1' });
  let sidecarText: string;
  try {
    // One request through it, so that per-upstream series exist as well as their declarations.
    const c = await RawClient.connect(sidecar.port);
    expect(await ask(c, 'set k 0 0 1\r\nv\r\n', '\r\n')).toBe('STORED\r\n');
    c.close();
    sidecarText = (await httpGet(sidecar.metricsPort, '/metrics')).body;
  } finally {
    await sidecar.stop();
    ring.remove();
  }
  const operatorText = await new OperatorMetrics().registry.metrics();
  exported = new Set([...declared(serverText), ...declared(sidecarText), ...declared(operatorText)]);
}, 60_000);

afterAll(async () => {
  await stopServer(server?.server);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('charts/cachalot-operator/dashboards/cachalot.json', () => {
  it('the collection is live: server, flash, sidecar and operator families were all scraped', () => {
    for (const m of ['memcached_commands_total', 'memcached_extstore_bytes_written_total', 'cachalot_sidecar_ring_version', 'cachalot_operator_ring_version']) expect(exported).toContain(m);
  });

  it('every panel query uses only exported metric names', () => {
    const unknown: string[] = [];
    for (const p of panels) for (const e of exprsOf(p)) for (const m of e.match(METRIC) ?? []) if (!exported.has(m)) unknown.push(`panel ${p.id} "${p.title}": ${m}`);
    expect(unknown).toEqual([]);
  });

  it('every panel but a row has a query; ids are unique; panels do not overlap', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) if (p.type !== 'row') expect([p.title, exprsOf(p).length > 0]).toEqual([p.title, true]);
    const cells = new Set<string>();
    for (const p of panels) {
      const { x, y, w, h } = p.gridPos;
      for (let i = x; i < x + w; i++) for (let j = y; j < y + h; j++) {
        expect([p.id, cells.has(`${i},${j}`)]).toEqual([p.id, false]);
        cells.add(`${i},${j}`);
      }
    }
  });

  const uses = (metric: string) => panels.filter((p) => exprsOf(p).some((e) => e.includes(metric)));
  it.each([
    ['per-command latency p50 and p99', 'cachalot_command_duration_seconds_bucket', ['histogram_quantile(0.5,', 'histogram_quantile(0.99,']],
    ['gets served from flash', 'cachalot_flash_gets_total', []],
    ['flash bytes written', 'memcached_extstore_bytes_written_total', []],
    ['flash bytes read', 'memcached_extstore_bytes_read_total', []],
    ['flash space used', 'memcached_extstore_bytes_used', ['memcached_extstore_bytes_limit']],
    ['recovery after restart', 'cachalot_flash_recovered_objects', []],
    ['sidecar upstream latency', 'cachalot_sidecar_upstream_request_duration_seconds_bucket', ['histogram_quantile(0.99,']],
    ['sidecar ejections', 'cachalot_sidecar_upstream_ejections_total', []],
    ['ring version seen by sidecars', 'cachalot_sidecar_ring_version', ['cachalot_operator_ring_version']],
    ['ring transitions published', 'cachalot_operator_ring_version', []],
  ])('shows %s', (_what, metric, alsoIn) => {
    const ps = uses(metric);
    expect(ps.length).toBeGreaterThan(0);
    const text = ps.flatMap(exprsOf).join('\n');
    for (const s of alsoIn) expect(text).toContain(s);
  });
});
