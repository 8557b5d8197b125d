/**
 * The CPU limit of the cgroup this process runs in (a container's `resources.limits.cpu`), so that spinning
 * (`--spin-us`, batch.ts) is not on by default where it would hurt: a spin keeps the process on a CPU for up
 * to --spin-us after a light turn, and under a CFS quota of less than one CPU that time is taken from the
 * quota, after which the kernel stops the whole container until the next period (100 ms by default) — the
 * opposite of the microseconds the spin is for.
 *
 * cgroup v2: `cpu.max` ("max 100000" or "<quota> <period>") in the process's cgroup (from /proc/self/cgroup,
 * line "0::/path") and its ancestors; cgroup v1: `cpu.cfs_quota_us` (-1: none) and `cpu.cfs_period_us` under
 * the cpu controller's mount. Inside a container the cgroup is usually the root of what is mounted, so the
 * mount's own files are read too. The smallest limit found wins; null when there is none or nothing can be
 * read.
 */
import { readFileSync } from 'node:fs';

export type ReadText = (path: string) => string | undefined;

const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/** CPUs allowed by a cgroup v2 `cpu.max` text; null for "max" or anything unreadable. */
export function parseCpuMax(text: string): number | null {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max') return null;
  const q = Number(quota);
  const p = period === undefined ? 100_000 : Number(period);
  return Number.isFinite(q) && q > 0 && Number.isFinite(p) && p > 0 ? q / p : null;
}

/** CPUs allowed by cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` texts; null for -1 or unreadable. */
export function parseCfs(quotaText: string, periodText: string): number | null {
  const q = Number(quotaText.trim());
  const p = Number(periodText.trim());
  return Number.isFinite(q) && q > 0 && Number.isFinite(p) && p > 0 ? q / p : null;
}

/** The directories from the cgroup path up to the root ("/a/b" -> "/a/b", "/a", ""). */
function ancestors(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '' && p !== '..' && p !== '.');
  const out: string[] = [];
  for (let n = parts.length; n >= 0; n--) out.push(parts.slice(0, n).map((p) => `/${p}`).join(''));
  return out;
}

function smallest(values: Array<number | null>): number | null {
  let min: number | null = null;
  for (const v of values) if (v !== null && (min === null || v < min)) min = v;
  return min;
}

const V1_MOUNTS = ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/cpuacct,cpu'];

/** CPUs this process may use under its cgroup's CFS quota, or null when unlimited or unknown. */
export function cpuQuota(read: ReadText = readText): number | null {
  const cgroups = read('/proc/self/cgroup');
  if (cgroups === undefined) return null;
  const found: Array<number | null> = [];
  for (const line of cgroups.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, id, controllers, path] = m;
    if (id === '0' && controllers === '') {
      for (const dir of ancestors(path!)) {
        const text = read(`/sys/fs/cgroup${dir}/cpu.max`);
        if (text !== undefined) found.push(parseCpuMax(text));
      }
    } else if (controllers!.split(',').includes('cpu')) {
      for (const mount of V1_MOUNTS) {
        for (const dir of ancestors(path!)) {
          const quota = read(`${mount}${dir}/cpu.cfs_quota_us`);
          const period = read(`${mount}${dir}/cpu.cfs_period_us`);
          if (quota !== undefined && period !== undefined) found.push(parseCfs(quota, period));
        }
      }
    }
  }
  return smallest(found);
}

/**
 * The spin time to use: the one given on the command line; else the default, unless the cgroup allows
 * less than one CPU, where spinning is off (`reason` says so for the log).
 */
export function spinForQuota(spinUs: number, given: boolean, quota: number | null): { spinUs: number; reason?: string } {
  if (given || spinUs === 0 || quota === null || quota >= 1) return { spinUs };
  return { spinUs: 0, reason: `the cgroup's CPU limit is ${Math.round(quota * 1000) / 1000} CPUs, under one: spinning is off (--spin-us turns it on)` };
}
