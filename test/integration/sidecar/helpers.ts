// Shared wiring for the sidecar's integration tests: real cachalot-server processes on loopback, an in-process
// Sidecar reading its ring from a temp file, and a raw client. Waits are bounded; every process is killed by
// stopAll() in afterAll (and by test/support/servers.ts's exit hook as a backstop).
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import {
  CACHALOT_MAIN, startOnFreePort, startServer, stopServer, type RunningServer,
} from '../../support/servers.js';
import { RawClient } from '../../support/rawclient.js';
import { defaultConfig, type SidecarConfig } from '../../../server/src/sidecar/config.js';
import { FileRingSource } from '../../../server/src/ring/file.js';
import type { RingSource } from '../../../server/src/ring/source.js';
import { Sidecar } from '../../../server/src/sidecar/sidecar.js';

export { RawClient };

/** One cachalot-server with one worker thread and no metrics port. */
export function startUpstream(port?: number): Promise<RunningServer> {
  const build = (p: number) => ({
    name: 'cachalot',
    argv: [process.execPath, CACHALOT_MAIN, '-p', String(p), '-l', '127.0.0.1', '-t', '1', '-m', '64', '--metrics-port', '0'],
    env: { CACHALOT_METRICS_PORT: '0' },
  });
  return port === undefined ? startOnFreePort(build) : startServer(build(port), port);
}

export async function startUpstreams(n: number): Promise<RunningServer[]> {
  const out: RunningServer[] = [];
  for (let i = 0; i < n; i++) out.push(await startUpstream());
  return out;
}

export interface MemberInput {
  port: number;
  state?: 'active' | 'draining';
  weight?: number;
  host?: string;
}

export function ringJson(version: number, members: MemberInput[]): string {
  return JSON.stringify({
    cluster: 'test', namespace: 'default', version, hash: 'ketama-md5', vnodes: 40,
    members: members.map((m, i) => ({
      name: `test-${i}`, host: m.host ?? '127.0.0.1', port: m.port, weight: m.weight ?? 1, state: m.state ?? 'active',
    })),
  });
}

export class RingFile {
  readonly dir = mkdtempSync(join(tmpdir(), 'cachalot-sidecar-'));
  readonly path = join(this.dir, 'ring.json');
  private seq = 0;

  /** Replaces the file atomically (write + rename), as the kubelet's symlink swap does. */
  write(text: string): void {
    const tmp = join(this.dir, `.ring.${this.seq++}`);
    writeFileSync(tmp, text);
    renameSync(tmp, this.path);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const quietLog = pino({ level: process.env.SIDECAR_TEST_LOG ?? 'silent' });

export async function startSidecar(source: RingSource, overrides: Partial<SidecarConfig> = {}): Promise<Sidecar> {
  const config: SidecarConfig = { ...defaultConfig(), port: 0, metricsPort: 0, ringFile: 'unused', ...overrides };
  const sidecar = new Sidecar(config, source, quietLog);
  await sidecar.start();
  return sidecar;
}

export function fileSidecar(ring: RingFile, overrides: Partial<SidecarConfig> = {}): Promise<Sidecar> {
  return startSidecar(new FileRingSource(ring.path, overrides.ringPollMs ?? 50), overrides);
}

export async function stopAll(servers: Array<RunningServer | undefined>): Promise<void> {
  await Promise.all(servers.map((s) => stopServer(s)));
}

/** Sends `request` and reads until the reply ends with `terminator` (bounded: 5 s). */
export async function ask(c: RawClient, request: string | Buffer, terminator: string): Promise<string> {
  await c.send(request);
  const r = await c.readUntil(terminator, 5_000, 5_000);
  return r.data.toString('latin1');
}

/** Sends `request` and reads until `count` replies ending in `terminator` arrived (bounded: 10 s). */
export async function askCount(c: RawClient, request: string | Buffer, terminator: string, count: number): Promise<string> {
  await c.send(request);
  const term = Buffer.from(terminator, 'latin1');
  const r = await c.read((d) => {
    let n = 0;
    for (let i = d.indexOf(term); i >= 0 && n < count; i = d.indexOf(term, i + term.length)) n++;
    return n >= count;
  }, 5_000, 10_000);
  return r.data.toString('latin1');
}

/** Polls until probe() is truthy: bounded in tries and time; the caller asserts on the state reached. */
export async function eventually<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string,
  tries = 200, intervalMs = 10): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe();
    if (v !== undefined && v !== false) return v as T;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Which upstream holds key (by a direct get to each): indices of the servers that have it. */
export async function holders(servers: RunningServer[], key: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < servers.length; i++) {
    const c = await RawClient.connect(servers[i]!.port);
    const r = await ask(c, `get ${key}\r\n`, 'END\r\n');
    c.close();
    if (r.startsWith('VALUE ')) out.push(i);
  }
  return out;
}
