/**
 * The cachalot-sidecar process as users start it (dist/server/src/sidecar/main.js, what `npm run sidecar`
 * runs): config errors name the flag and exit 2 (64 for a file a flag names that cannot be used); it serves memcached on its port and Prometheus metrics on
 * its own; SIGTERM answers what was already sent and exits 0.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, freePort, startServer, stopServer, waitForExit, type RunningServer } from '../../support/servers.js';
import { writeFileSync } from 'node:fs';
import { ApiServerDouble } from '../../k8s/apiserver/index.js';
import { RawClient, RingFile, ask, eventually, ringJson, startUpstreams, stopAll } from './helpers.js';
import { requirePrereq } from '../../support/prereq.js';

const SIDECAR_MAIN = join(REPO_ROOT, 'dist', 'server', 'src', 'sidecar', 'main.js');
const built = existsSync(SIDECAR_MAIN);
const maybe = requirePrereq('cachalot-sidecar build (dist/)', built, `${SIDECAR_MAIN} does not exist (npm run build)`).describe;

function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [SIDECAR_MAIN, ...args], { timeout: 15_000, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

maybe('cachalot-sidecar command line', () => {
  test('--help prints usage and exits 0', () => {
    const r = runCli(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--ring-file');
    expect(r.stdout).toContain('--server-failure-limit');
  });

  test.each([
    [[], '--ring-file/--ring-configmap: exactly one ring source is required'],
    [['--ring-file', 'x', '--bogus'], '--bogus: unknown option'],
    [['--ring-file', 'x', '--request-timeout-ms', 'abc'], "--request-timeout-ms: expected an integer in [1, 600000], got 'abc'"],
    [['--ring-file', 'x', '--ejected', 'maybe'], "--ejected: must be 'miss' or 'next', got 'maybe'"],
    [['--ring-configmap', 'Bad_NS/x'], '--ring-configmap: expected NAMESPACE/NAME'],
    [['--ring-file', 'x', '-I', '5g'], '--max-item-size: expected a size'],
  ])('%j is refused with exit code 2 and a message naming the flag', (args, message) => {
    const r = runCli(args as string[]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
  });

  // A file a flag names that cannot be used is memcached's EX_USAGE, as for cachalot-server's -Y and -Z files.
  test.each([
    [['--auth-file', 'no-such-auth-file'], '--auth-file no-such-auth-file: ENOENT'],
    [['--tls-ca', 'no-such-ca.crt'], '--tls-ca no-such-ca.crt: ENOENT'],
  ])('%j is refused with exit code 64 and a message naming the flag', (args, message) => {
    const r = runCli(['--ring-file', 'x', ...(args as string[])]);
    expect(r.status).toBe(64);
    expect(r.stderr).toContain(message);
  });

  test('--tls-cert without --tls-key is a flag problem: exit code 2', () => {
    const r = runCli(['--ring-file', 'x', '--tls-ca', 'no-such-ca.crt', '--tls-cert', 'c.pem']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--tls-cert: needs --tls-key');
  });
});

maybe('cachalot-sidecar process', () => {
  let servers: RunningServer[] = [];
  let sidecar: RunningServer | undefined;
  let ring: RingFile;
  let metricsPort = 0;

  beforeAll(async () => {
    servers = await startUpstreams(2);
    ring = new RingFile();
    ring.write(ringJson(3, servers.map((s) => ({ port: s.port }))));
    const port = await freePort();
    metricsPort = await freePort();
    sidecar = await startServer({
      name: 'cachalot-sidecar',
      argv: [process.execPath, SIDECAR_MAIN, '--ring-file', ring.path, '-p', String(port), '-l', '127.0.0.1',
        '--metrics-port', String(metricsPort), '--metrics-listen', '127.0.0.1', '--log-level', 'warn'],
    }, port);
  }, 60_000);

  afterAll(async () => {
    await stopServer(sidecar);
    await stopAll(servers);
    ring?.remove();
  });

  test('serves keys across its ring and exposes metrics', async () => {
    const c = await RawClient.connect(sidecar!.port);
    let script = '';
    for (let i = 0; i < 20; i++) script += `set m${i} 0 0 2\r\nv${i % 10}\r\n`;
    await ask(c, script + 'mn\r\n', 'MN\r\n');
    expect(await ask(c, 'get m1 m2 m3\r\n', 'END\r\n')).toBe('VALUE m1 0 2\r\nv1\r\nVALUE m2 0 2\r\nv2\r\nVALUE m3 0 2\r\nv3\r\nEND\r\n');
    c.close();
    const ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
    expect(ready.status).toBe(200);
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(text).toContain('cachalot_sidecar_ring_version 3');
    expect(text).toContain('cachalot_sidecar_ring_members{state="active"} 2');
    for (const s of servers) {
      expect(text).toMatch(new RegExp(`cachalot_sidecar_upstream_requests_total\\{upstream="127.0.0.1:${s.port}"\\} [1-9]`));
      expect(text).toContain(`cachalot_sidecar_upstream_request_duration_seconds_bucket{le="+Inf",upstream="127.0.0.1:${s.port}"}`);
      expect(text).toContain(`cachalot_sidecar_upstream_ejected{upstream="127.0.0.1:${s.port}"} 0`);
    }
    expect(text).toContain('cachalot_sidecar_commands_total{command="get"} 3');
  });

  test('SIGTERM: requests already sent are answered, then the process exits 0', async () => {
    const c = await RawClient.connect(sidecar!.port);
    let script = '';
    for (let i = 0; i < 200; i++) script += `get m${i % 20}\r\n`;
    await c.send(script);
    sidecar!.process.kill('SIGTERM');
    const r = await c.read((d) => d.toString('latin1').split('END\r\n').length - 1 >= 200, 3_000, 10_000);
    expect(r.data.toString('latin1').split('END\r\n').length - 1).toBe(200);
    expect(await waitForExit(sidecar!, 10_000)).toBe(true);
    expect(sidecar!.process.exitCode).toBe(0);
    c.close();
  });
});


maybe('cachalot-sidecar process with --ring-configmap (KUBECONFIG pointing at the API server double)', () => {
  let servers: RunningServer[] = [];
  let sidecar: RunningServer | undefined;
  let api: ApiServerDouble | undefined;
  const ring = new RingFile(); // only for its temp directory (the kubeconfig goes there)

  beforeAll(async () => {
    servers = await startUpstreams(1);
    api = new ApiServerDouble();
    await api.start();
    const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-ring', namespace: 'default' },
      data: { 'ring.json': ringJson(9, [{ port: servers[0]!.port }]) } };
    const r = await fetch(`${api.url}/api/v1/namespaces/default/configmaps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(r.status).toBe(201);
    const kubeconfig = join(ring.dir, 'kubeconfig');
    writeFileSync(kubeconfig, api.kubeconfigYaml());
    const port = await freePort();
    sidecar = await startServer({
      name: 'cachalot-sidecar',
      argv: [process.execPath, SIDECAR_MAIN, '--ring-configmap', 'default/web-ring', '-p', String(port), '-l', '127.0.0.1',
        '--metrics-port', '0', '--log-level', 'warn'],
      env: { KUBECONFIG: kubeconfig },
    }, port);
  }, 60_000);

  afterAll(async () => {
    await stopServer(sidecar);
    await stopAll(servers);
    await api?.stop();
    ring.remove();
  });

  test('reads the ring from the API and routes by it', async () => {
    const c = await RawClient.connect(sidecar!.port);
    await eventually(async () => (await ask(c, 'stats\r\n', 'END\r\n')).includes('STAT ring_version 9\r\n'), 'ring version 9');
    expect(await ask(c, 'set viaapi 0 0 2\r\nok\r\n', '\r\n')).toBe('STORED\r\n');
    c.close();
    const direct = await RawClient.connect(servers[0]!.port);
    expect(await ask(direct, 'get viaapi\r\n', 'END\r\n')).toBe('VALUE viaapi 0 2\r\nok\r\nEND\r\n');
    direct.close();
  });
});
