/**
 * The real sidecar process started inside a cgroup with a CPU quota (cgroup v1's cpu controller, or v2's
 * cpu.max), as a container with `resources.limits.cpu` runs it: under one CPU it does not spin unless
 * --spin-us is given, and says so; with two CPUs it spins as by default. Needs root and a writable cpu
 * controller (this machine: cgroup v1); skipped, with the reason, where a cgroup cannot be made.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, freePort, startServer, stopServer, waitForExit, type RunningServer } from '../../support/servers.js';
import { RawClient, RingFile, ask, ringJson } from './helpers.js';
import { requirePrereq } from '../../support/prereq.js';

const SIDECAR_MAIN = join(REPO_ROOT, 'dist', 'server', 'src', 'sidecar', 'main.js');

/** A new cgroup with a CFS quota of `cpus`, returned as the directory whose cgroup.procs takes a PID. */
function makeCgroup(name: string, cpus: number): string {
  const period = 100_000;
  const quota = Math.round(cpus * period);
  const v1 = '/sys/fs/cgroup/cpu';
  if (existsSync(join(v1, 'cpu.cfs_quota_us'))) {
    const dir = join(v1, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'cpu.cfs_period_us'), String(period));
    writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quota));
    return dir;
  }
  const v2 = '/sys/fs/cgroup';
  if (existsSync(join(v2, 'cgroup.controllers')) && readFileSync(join(v2, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('cpu')) {
    const dir = join(v2, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'cpu.max'), `${quota} ${period}`);
    return dir;
  }
  throw new Error('no cgroup v1 cpu controller at /sys/fs/cgroup/cpu and no cgroup v2 cpu controller at /sys/fs/cgroup');
}

function removeCgroup(dir: string): void {
  for (let i = 0; i < 50; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch {
      execFileSync('sleep', ['0.05']);
    }
  }
}

let unavailable: string | null = null;
const cgroups: string[] = [];
try {
  if (!existsSync(SIDECAR_MAIN)) throw new Error(`${SIDECAR_MAIN} is not built`);
  if (process.getuid?.() !== 0) throw new Error('not root: cannot create cgroups');
  const probe = makeCgroup(`cachalot-probe-${process.pid}`, 0.5);
  removeCgroup(probe);
} catch (err) {
  unavailable = (err as Error).message;
}
const maybe = requirePrereq('a cgroup with a CPU quota (root, cgroup v1 cpu or v2 cpu controller)', unavailable === null, unavailable ?? '').describe;

maybe('the sidecar under a cgroup CPU limit', () => {
  const ring = new RingFile();
  let n = 0;

  afterAll(() => {
    ring.remove();
    for (const dir of cgroups) removeCgroup(dir);
  });

  /** Starts the sidecar inside a fresh cgroup of `cpus`; returns its spin_us from `stats` and its log. */
  async function spinUnder(cpus: number, extra: string[]): Promise<{ spinUs: number; log: string }> {
    const dir = makeCgroup(`cachalot-test-${process.pid}-${n++}`, cpus);
    cgroups.push(dir);
    ring.write(ringJson(1, [{ port: 1 }]));
    const port = await freePort();
    // The shell moves itself into the cgroup, then becomes the sidecar (same PID, so it stays there).
    const script = `echo $$ > ${dir}/cgroup.procs && exec "$0" "$@"`;
    let sidecar: RunningServer | undefined;
    try {
      sidecar = await startServer({
        name: 'cachalot-sidecar',
        argv: ['sh', '-c', script, process.execPath, SIDECAR_MAIN, '--ring-file', ring.path, '-p', String(port),
          '-l', '127.0.0.1', '--metrics-port', '0', '--log-level', 'info', ...extra],
      }, port);
      const c = await RawClient.connect(port);
      const stats = await ask(c, 'stats\r\n', 'END\r\n');
      c.close();
      const m = /STAT spin_us (\d+)\r\n/.exec(stats);
      if (!m) throw new Error(`no spin_us in stats: ${stats}`);
      return { spinUs: Number(m[1]), log: sidecar.output() };
    } finally {
      if (sidecar) {
        await stopServer(sidecar);
        await waitForExit(sidecar, 5_000);
      }
    }
  }

  test('half a CPU: no spinning by default, and the log says why', async () => {
    const r = await spinUnder(0.5, []);
    expect(r.spinUs).toBe(0);
    expect(r.log).toContain("the cgroup's CPU limit is 0.5 CPUs, under one: spinning is off");
  }, 30_000);

  test('half a CPU with --spin-us given: as given', async () => {
    const r = await spinUnder(0.5, ['--spin-us', '50']);
    expect(r.spinUs).toBe(50);
    expect(r.log).not.toContain('spinning is off');
  }, 30_000);

  test('two CPUs: the default spin', async () => {
    const r = await spinUnder(2, []);
    expect(r.spinUs).toBe(100);
    expect(r.log).not.toContain('spinning is off');
  }, 30_000);
});
