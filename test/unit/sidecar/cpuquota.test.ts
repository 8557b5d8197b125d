/**
 * cpuquota.ts: the cgroup CPU limit read from fake cgroup files (v2 and v1, with the limit on the process's own
 * cgroup or an ancestor, or nowhere), and the spin policy built on it.
 */
import { cpuQuota, parseCfs, parseCpuMax, spinForQuota } from '../../../server/src/sidecar/cpuquota.js';

function files(map: Record<string, string>): (path: string) => string | undefined {
  return (path) => map[path];
}

test('cpu.max and cfs texts', () => {
  expect(parseCpuMax('max 100000\n')).toBeNull();
  expect(parseCpuMax('50000 100000\n')).toBe(0.5);
  expect(parseCpuMax('250000 100000')).toBe(2.5);
  expect(parseCpuMax('')).toBeNull();
  expect(parseCpuMax('garbage here')).toBeNull();
  expect(parseCfs('-1\n', '100000\n')).toBeNull();
  expect(parseCfs('20000\n', '100000\n')).toBe(0.2);
  expect(parseCfs('x', '100000')).toBeNull();
});

test('cgroup v2: the process cgroup\'s cpu.max, or the smallest limit up the tree', () => {
  expect(cpuQuota(files({
    '/proc/self/cgroup': '0::/kubepods/pod1/c1\n',
    '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': '30000 100000\n',
    '/sys/fs/cgroup/kubepods/pod1/cpu.max': '200000 100000\n',
    '/sys/fs/cgroup/kubepods/cpu.max': 'max 100000\n',
  }))).toBe(0.3);
  // A container whose cgroup is the root of its namespace: the mount's own cpu.max.
  expect(cpuQuota(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '75000 100000\n' }))).toBe(0.75);
  // The limit on an ancestor only (a pod-level limit).
  expect(cpuQuota(files({
    '/proc/self/cgroup': '0::/pod/c\n',
    '/sys/fs/cgroup/pod/c/cpu.max': 'max 100000\n',
    '/sys/fs/cgroup/pod/cpu.max': '50000 100000\n',
  }))).toBe(0.5);
  expect(cpuQuota(files({ '/proc/self/cgroup': '0::/a\n', '/sys/fs/cgroup/a/cpu.max': 'max 100000\n' }))).toBeNull();
});

test('cgroup v1: cpu.cfs_quota_us under the cpu controller\'s mount', () => {
  expect(cpuQuota(files({
    '/proc/self/cgroup': '5:memory:/x\n4:cpu,cpuacct:/kubepods/pod/c\n',
    '/sys/fs/cgroup/cpu,cpuacct/kubepods/pod/c/cpu.cfs_quota_us': '40000\n',
    '/sys/fs/cgroup/cpu,cpuacct/kubepods/pod/c/cpu.cfs_period_us': '100000\n',
  }))).toBe(0.4);
  expect(cpuQuota(files({
    '/proc/self/cgroup': '1:cpu:/\n',
    '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n',
    '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
  }))).toBeNull();
});

test('nothing readable: no limit known', () => {
  expect(cpuQuota(files({}))).toBeNull();
  expect(cpuQuota(files({ '/proc/self/cgroup': 'nonsense\n' }))).toBeNull();
});

test('spin policy: off under one CPU unless --spin-us was given', () => {
  expect(spinForQuota(100, false, null)).toEqual({ spinUs: 100 });
  expect(spinForQuota(100, false, 1)).toEqual({ spinUs: 100 });
  expect(spinForQuota(100, false, 4)).toEqual({ spinUs: 100 });
  const off = spinForQuota(100, false, 0.5);
  expect(off.spinUs).toBe(0);
  expect(off.reason).toContain('0.5 CPUs');
  expect(spinForQuota(100, true, 0.5)).toEqual({ spinUs: 100 });
  expect(spinForQuota(0, false, 0.5)).toEqual({ spinUs: 0 });
});
