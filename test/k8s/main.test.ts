/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The cachalot-operator entry point as a real process: operator/src compiled on its own (into
 * node_modules/.cache, so the shared dist/ is untouched), started with --kubeconfig pointing at the API server
 * double, reconciling, serving /healthz and /metrics, and releasing its Lease on SIGTERM.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheCluster, eventually, startEnv, stored, type Env } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = join(ROOT, 'node_modules/.cache/cachalot-operator-main-test');

function compileOperator(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const tsconfig = join(OUT, 'tsconfig.json');
  writeFileSync(tsconfig, JSON.stringify({ extends: join(ROOT, 'tsconfig.json'), compilerOptions: { outDir: OUT, rootDir: ROOT, sourceMap: false }, include: [join(ROOT, 'operator/src/**/*.ts')] }));
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], { cwd: ROOT, timeout: 120_000 }, (err, stdout) => (err ? reject(new Error(`tsc: ${stdout}`)) : resolve())),
  );
}

let env: Env;
let dir: string;
let child: ChildProcess | undefined;

// tsc on a loaded 2-core machine can take a while; the compile is setup, not what is being tested.
beforeAll(async () => {
  await compileOperator();
}, 180_000);

afterEach(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await env?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('cachalot-operator entry point', () => {
  it('runs with --kubeconfig, leads, reconciles, serves health and metrics, and releases the Lease on SIGTERM', async () => {
    env = await startEnv();
    dir = mkdtempSync(join(tmpdir(), 'cachalot-main-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, env.api.kubeconfigYaml());
    const proc = spawn(process.execPath, [join(OUT, 'operator/src/main.js'), '--kubeconfig', kubeconfig, '--metrics-bind-address', '127.0.0.1:0', '--leader-election-namespace', 'default'], {
      env: { PATH: process.env.PATH ?? '', POD_NAME: 'operator-pod-1', CACHALOT_OPERATOR_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));

    const running = await eventually(() => out.split('\n').map((l) => { try { return JSON.parse(l); } catch { return undefined; } }).find((l) => l?.msg === 'cachalot-operator running'), 'startup log line');
    expect(running.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${running.metrics}/healthz`)).status).toBe(200);
    await eventually(() => stored(env, 'coordination.k8s.io/v1', 'leases', 'default', 'cachalot-operator-leader')?.spec.holderIdentity === 'operator-pod-1', 'Lease held by POD_NAME');

    await env.objects.create(cacheCluster('web', { replicas: 2 }));
    await eventually(() => stored(env, 'cachalot.io/v1alpha1', 'cacheclusters', 'default', 'web')?.status?.readyReplicas === 2, 'reconciled by the process');
    const metrics = await (await fetch(`${running.metrics}/metrics`)).text();
    expect(metrics).toMatch(/cachalot_operator_reconcile_total\{result="success"\} [1-9]/);
    expect(metrics).toContain('cachalot_operator_leader 1');
    expect(metrics).toContain('process_cpu_seconds_total');

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stored(env, 'coordination.k8s.io/v1', 'leases', 'default', 'cachalot-operator-leader').spec.holderIdentity).toBe('');
  });

  it('exits 2 with a message naming the flag on bad usage', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile(process.execPath, [join(OUT, 'operator/src/main.js'), '--metrics-bind-address', 'nope'], (err, _o, stderr) => resolve({ code: err ? (err as any).code : 0, stderr })),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--metrics-bind-address must be HOST:PORT');
  });
});
