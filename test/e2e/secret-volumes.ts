/**
 * SECRET VOLUMES FOR THE KUBELET DOUBLE (kubelet.ts): a pod's `secret` volume becomes a directory laid out as
 * the kubelet's atomic writer (pkg/volume/util/atomic_writer.go) lays it out, and is updated in place the same
 * way when the Secret changes:
 *
 *   <dir>/..2026_12_07_22_15_01.123456789/auth     the payload, in a timestamped hidden directory
 *   <dir>/..data -> ..2026_12_07_22_15_01.123456789
 *   <dir>/auth -> ..data/auth                     one symlink per key (or items[].path)
 *
 * An update writes a new timestamped directory, points `..data_tmp` at it and renames that over `..data` (the
 * one atomic step: a reader sees the old payload or the new one, never a mix of files), adds the symlinks of
 * new keys, removes those of dropped keys, and deletes the old directory. A pod sees a Secret change after a
 * delay drawn per pod and per change from [0, maxDelayMs] (a real kubelet: its sync period plus the Secret
 * cache's TTL, about a minute), so that pods of one StatefulSet pick a change up at different times, as on a
 * cluster. A deleted Secret leaves the files as they were (the kubelet cannot fetch it either).
 *
 * Modelled: `secretName`, `items` (key, path, mode), `defaultMode`, `optional`. A missing Secret that is not
 * optional fails the pod's start (the kubelet's FailedMount), which the kubelet double retries.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CoreV1Api, ListWatch, Watch, type KubeConfig, type V1Pod, type V1Secret, type V1Volume } from '@kubernetes/client-node';

/** The kubelet's defaultMode for secret volumes (0644). */
const DEFAULT_MODE = 0o644;
const DATA_DIR = '..data';
const DATA_TMP = '..data_tmp';

/** The file payload of one volume: relative path -> bytes and mode. */
export type Payload = Map<string, { bytes: Buffer; mode: number }>;

/** What the atomic writer puts in a secret volume for this Secret (undefined: the Secret is missing). */
export function secretPayload(volume: V1Volume, secret: V1Secret | undefined): Payload | undefined {
  const src = volume.secret!;
  if (!secret) return undefined;
  const data = secret.data ?? {};
  const mode = src.defaultMode ?? DEFAULT_MODE;
  const out: Payload = new Map();
  if (src.items && src.items.length > 0) {
    for (const item of src.items) {
      const value = data[item.key];
      if (value === undefined) {
        if (src.optional) continue;
        throw new Error(`MountVolume.SetUp failed for volume "${volume.name}": references non-existent secret key: ${item.key}`);
      }
      out.set(item.path, { bytes: Buffer.from(value, 'base64'), mode: item.mode ?? mode });
    }
  } else {
    for (const [key, value] of Object.entries(data)) out.set(key, { bytes: Buffer.from(value, 'base64'), mode });
  }
  return out;
}

/** The payload `..data` points at now, or undefined before the first write. */
function currentPayload(dir: string): Map<string, Buffer> | undefined {
  if (!existsSync(join(dir, DATA_DIR))) return undefined;
  const out = new Map<string, Buffer>();
  const walk = (rel: string): void => {
    for (const e of readdirSync(join(dir, DATA_DIR, rel), { withFileTypes: true })) {
      const path = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(path);
      else out.set(path, readFileSync(join(dir, DATA_DIR, path)));
    }
  };
  walk('');
  return out;
}

/** A name like the atomic writer's: `..` and the UTC time to the nanosecond (os.MkdirTemp adds randomness). */
function timestampedName(): string {
  const d = new Date();
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const nanos = `${p(d.getUTCMilliseconds(), 3)}${p(Math.floor(Math.random() * 1e6), 6)}`;
  return `..${d.getUTCFullYear()}_${p(d.getUTCMonth() + 1)}_${p(d.getUTCDate())}_${p(d.getUTCHours())}_${p(d.getUTCMinutes())}_${p(d.getUTCSeconds())}.${nanos}`;
}

/**
 * Writes `payload` into `dir` as the kubelet's atomic writer does; true if anything changed. A payload equal
 * to the one in place changes nothing (no new directory, no rename).
 */
export function writeAtomically(dir: string, payload: Payload): boolean {
  mkdirSync(dir, { recursive: true });
  const current = currentPayload(dir);
  if (current && current.size === payload.size && [...payload].every(([k, v]) => current.get(k)?.equals(v.bytes))) return false;
  const oldTs = current ? readlinkSync(join(dir, DATA_DIR)) : undefined;
  const ts = timestampedName();
  for (const [path, { bytes, mode }] of payload) {
    const file = join(dir, ts, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, bytes);
    chmodSync(file, mode);
  }
  mkdirSync(join(dir, ts), { recursive: true });
  rmSync(join(dir, DATA_TMP), { force: true });
  symlinkSync(ts, join(dir, DATA_TMP));
  renameSync(join(dir, DATA_TMP), join(dir, DATA_DIR));
  // User-visible names: one symlink per top-level entry, through ..data, created once.
  const top = new Set([...payload.keys()].map((p) => p.split('/')[0]!));
  for (const name of top) {
    const link = join(dir, name);
    if (!existsSync(link)) symlinkSync(join(DATA_DIR, name), link);
  }
  for (const name of current ? new Set([...current.keys()].map((p) => p.split('/')[0]!)) : []) {
    if (!top.has(name)) unlinkSync(join(dir, name));
  }
  if (oldTs !== undefined && oldTs !== ts) rmSync(join(dir, oldTs), { recursive: true, force: true });
  return true;
}

interface Mounted {
  podUid: string;
  namespace: string;
  volume: V1Volume;
  dir: string;
  timer?: NodeJS.Timeout;
}

export interface SecretVolumesOptions {
  /** A Secret change reaches each pod's files after a delay drawn from [0, maxDelayMs]. */
  maxDelayMs?: number;
}

/** kubelet.ts's startInformer (passed in: this module is imported by kubelet.ts). */
export type InformerStarter = (inf: { start(): Promise<void>; latestResourceVersion(): string }, what: string) => Promise<void>;

/** One kubelet's secret volumes: a Secret informer (started with the first secret volume) and the mounts. */
export class SecretVolumes {
  private informer: ListWatch<V1Secret> | undefined;
  private starting: Promise<void> | undefined;
  private readonly mounts: Mounted[] = [];
  private stopped = false;
  /** Every update written to a pod's volume after its first write: `<ns>/<secret> -> <pod uid>`. */
  readonly updates: string[] = [];
  /** Updates that could not be written (the files stay as they were). */
  readonly errors: string[] = [];

  constructor(private readonly kc: KubeConfig, private readonly startInformer: InformerStarter, private readonly opts: SecretVolumesOptions = {}) {}

  private start(): Promise<void> {
    if (!this.starting) {
      const core = this.kc.makeApiClient(CoreV1Api);
      const inf = new ListWatch<V1Secret>('/api/v1/secrets', new Watch(this.kc), () => core.listSecretForAllNamespaces(), false);
      const changed = (s: V1Secret): void => this.changed(s);
      inf.on('add', changed);
      inf.on('update', changed);
      inf.on('error', () => {
        if (!this.stopped) setTimeout(() => inf.start().catch(() => undefined), 200);
      });
      this.informer = inf;
      this.starting = this.startInformer(inf, 'kubelet secrets');
    }
    return this.starting;
  }

  /** Writes the volume's files before the container starts; throws (FailedMount) if the Secret is missing. */
  async mount(pod: V1Pod, volume: V1Volume, dir: string): Promise<void> {
    await this.start();
    const namespace = pod.metadata!.namespace ?? 'default';
    const name = volume.secret!.secretName!;
    const payload = secretPayload(volume, this.informer!.get(name, namespace));
    if (payload === undefined && !volume.secret!.optional) {
      throw new Error(`MountVolume.SetUp failed for volume "${volume.name}": secret "${name}" not found`);
    }
    writeAtomically(dir, payload ?? new Map());
    this.unmountDir(dir);
    this.mounts.push({ podUid: pod.metadata!.uid!, namespace, volume, dir });
  }

  /** The pod is gone: no more updates to its volumes. */
  unmount(podUid: string): void {
    for (let i = this.mounts.length - 1; i >= 0; i--) {
      if (this.mounts[i]!.podUid !== podUid) continue;
      clearTimeout(this.mounts[i]!.timer);
      this.mounts.splice(i, 1);
    }
  }

  /** A start retried after a FailedMount mounts the same directory again. */
  private unmountDir(dir: string): void {
    for (let i = this.mounts.length - 1; i >= 0; i--) {
      if (this.mounts[i]!.dir !== dir) continue;
      clearTimeout(this.mounts[i]!.timer);
      this.mounts.splice(i, 1);
    }
  }

  private changed(secret: V1Secret): void {
    const ns = secret.metadata?.namespace ?? 'default';
    for (const m of this.mounts) {
      if (m.namespace !== ns || m.volume.secret!.secretName !== secret.metadata?.name || m.timer) continue;
      m.timer = setTimeout(() => {
        m.timer = undefined;
        if (this.stopped || !this.mounts.includes(m)) return;
        // The Secret as it is when the pod's sync comes round, not as it was when the change was seen.
        try {
          const payload = secretPayload(m.volume, this.informer!.get(m.volume.secret!.secretName!, m.namespace));
          if (payload !== undefined && writeAtomically(m.dir, payload)) this.updates.push(`${ns}/${secret.metadata?.name} -> ${m.podUid}`);
        } catch (e) {
          // A key the volume names is gone: the kubelet keeps the files it wrote and reports the error.
          this.errors.push((e as Error).message);
        }
      }, Math.floor(Math.random() * ((this.opts.maxDelayMs ?? 1000) + 1)));
    }
  }

  stop(): void {
    this.stopped = true;
    for (const m of this.mounts) clearTimeout(m.timer);
    this.mounts.length = 0;
    void this.informer?.stop().catch(() => undefined);
  }
}
