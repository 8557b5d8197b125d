/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * KUBELET TEST DOUBLE (DESIGN.md, "Kubernetes in tests"): runs one real `cachalot-server` process per pod on
 * loopback, so that scaling, restarts and node loss are exercised with real data. It is a client of the API
 * server double like a real kubelet is of a real API server: it watches Pods over HTTP with the real
 * @kubernetes/client-node and reports their status through the `pods/status` subresource.
 *
 * One Kubelet per node name. For each pod bound to its node it:
 * - maps every persistentVolumeClaim volume to a directory named after the claim's uid (a pod recreated on
 *   the same claim finds its flash files; a new claim of the same name starts empty), and every other volume
 *   to a per-pod directory, where a `secret` volume's keys are written and kept up to date as the kubelet's
 *   atomic writer does (secret-volumes.ts);
 * - rewrites the container's arguments for loopback (`rewriteArgs`): its own 127.x.y.z address (`-l`), a
 *   free memcached port (`-p`), a free metrics port (`--metrics-port`, `--metrics-listen`), and the paths of
 *   `-o ext_path=DIR:SIZE`, `-o ssl_chain_cert|ssl_key|ssl_ca_cert=FILE`, `-Y FILE` and the sidecar's
 *   `--auth-file`, `--tls-ca`, `--tls-cert`, `--tls-key` through the mounts;
 * - builds the container's environment (values and the downward API) and expands `$(VAR)` in its args;
 * - gives it API credentials as a kubelet mounts a ServiceAccount token (serviceAccountCredentials);
 * - starts `node dist/server/src/cache/main.js ARGS` (or the program `KubeletOptions.program` names for the pod,
 *   e.g. cachalot-sidecar for router pods), logs to `<root>/logs/`, reports phase Running and podIP, and
 *   probes `/readyz` (the container's readinessProbe path) to set the Ready condition;
 * - restarts a container that exits on its own (restartPolicy Always), counting restarts;
 * - on graceful deletion (the API server keeps a deleted pod Terminating, with deletionTimestamp, until its
 *   kubelet confirms; the StatefulSet controller recreates the pod only once it is gone): marks the pod
 *   un-Ready, runs the preStop sleep (capped), sends SIGTERM, waits for the exit (SIGKILL after the
 *   termination grace period, capped), then confirms with a delete of gracePeriodSeconds=0 on that uid.
 * It also renews its node's Lease in `kube-node-lease` every `heartbeatMs`, as a real kubelet's heartbeat;
 * node-lifecycle.ts turns a lease that stopped being renewed into a NotReady node.
 * `powerOff()` is node loss: every process is SIGKILLed and the kubelet stops talking to the API server.
 *
 * Pods are reached through `LoopbackNetwork.resolve`, which maps the ring's DNS names
 * (`<pod>.<service>.<ns>.svc.cluster.local:11211`) to the current pod's loopback address and port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubernetesObjectApi, PatchStrategy, ListWatch, Watch, setHeaderOptions, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { SecretVolumes } from './secret-volumes.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SERVER_MAIN = join(REPO_ROOT, 'dist', 'server', 'src', 'cache', 'main.js');
const MEMCACHED_CONTAINER_PORT = 11211;

export interface Endpoint {
  host: string;
  port: number;
  metricsPort: number;
  pod: string;
  namespace: string;
  uid: string;
}

/**
 * Loopback "pod network" and cluster DNS: hands out one 127.0.0.x address per pod incarnation (x in 2..254,
 * from a random start, never 127.0.0.1) and maps pod DNS names to the live endpoint. Ports are picked free on
 * each address, so two test runs on one machine that meet on an address still do not collide.
 */
export class LoopbackNetwork {
  private next = Math.floor(Math.random() * 253);
  private readonly endpoints = new Map<string, Endpoint>();

  allocateAddress(): string {
    return `127.0.0.${2 + (this.next++ % 253)}`;
  }

  register(ep: Endpoint): void {
    this.endpoints.set(`${ep.namespace}/${ep.pod}`, ep);
  }

  unregister(namespace: string, pod: string, uid: string): void {
    const key = `${namespace}/${pod}`;
    if (this.endpoints.get(key)?.uid === uid) this.endpoints.delete(key);
  }

  endpoint(namespace: string, pod: string): Endpoint | undefined {
    return this.endpoints.get(`${namespace}/${pod}`);
  }

  /**
   * Cluster DNS for pods behind a headless Service: `<pod>.<service>.<ns>.svc.cluster.local` on the memcached
   * container port resolves to where that pod's server listens now. undefined: no such pod running.
   */
  resolve(host: string, port: number): { host: string; port: number } | undefined {
    const m = /^([^.]+)\.([^.]+)\.([^.]+)\.svc\.cluster\.local$/.exec(host);
    if (!m || port !== MEMCACHED_CONTAINER_PORT) return undefined;
    const ep = this.endpoints.get(`${m[3]}/${m[1]}`);
    return ep ? { host: ep.host, port: ep.port } : undefined;
  }
}

/** A free TCP port on `host` (bound and released; the short race is acceptable for tests). */
export function freePortOn(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface LoopbackRewrite {
  address: string;
  port: number;
  metricsPort: number;
  /** container mountPath -> host directory */
  mounts: Record<string, string>;
}

/** Maps a container path through the volume mounts (longest mountPath first); unmapped paths are an error. */
export function mapPath(path: string, mounts: Record<string, string>): string {
  const hit = Object.keys(mounts)
    .sort((a, b) => b.length - a.length)
    .find((mp) => path === mp || path.startsWith(mp.endsWith('/') ? mp : `${mp}/`));
  if (hit === undefined) throw new Error(`container path ${path} is on no volume mount (${Object.keys(mounts).join(', ') || 'none'})`);
  return join(mounts[hit]!, path.slice(hit.length));
}

/** -o suboptions whose value is a file the server reads (the -Z files). */
const FILE_SUBOPTIONS = ['ssl_chain_cert=', 'ssl_key=', 'ssl_ca_cert='];
/** Flags whose value is a file: the server's -Y, and cachalot-sidecar's (router pods) TLS and auth files. */
const FILE_FLAGS = new Set(['-Y', '--auth-file', '--listen-auth-file', '--tls-ca', '--tls-cert', '--tls-key', '--listen-tls-cert', '--listen-tls-key', '--listen-tls-ca']);

/**
 * The operator's server arguments (`-p 11211 -m … -t … -I … -o ext_path=/data/flash:SIZE …`) rewritten for
 * loopback. Listen and metrics flags the operator may have set are replaced, not duplicated.
 */
export function rewriteArgs(args: readonly string[], rw: LoopbackRewrite): string[] {
  const out: string[] = [];
  const dropWithValue = new Set(['-p', '--port', '-l', '--listen', '--metrics-port', '--metrics-listen']);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (dropWithValue.has(a)) {
      i++;
      continue;
    }
    if (/^--(port|listen|metrics-port|metrics-listen)=/.test(a) || /^-[pl]\d|^-l[0-9.]/.test(a)) continue;
    if (a === '-o' || a === '--extended') {
      out.push(a, rewriteSuboptions(args[++i] ?? '', rw.mounts));
      continue;
    }
    if (a.startsWith('--extended=')) {
      out.push(`--extended=${rewriteSuboptions(a.slice('--extended='.length), rw.mounts)}`);
      continue;
    }
    if (FILE_FLAGS.has(a)) {
      out.push(a, mapPath(args[++i] ?? '', rw.mounts));
      continue;
    }
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0 && FILE_FLAGS.has(a.slice(0, eq))) {
      out.push(`${a.slice(0, eq + 1)}${mapPath(a.slice(eq + 1), rw.mounts)}`);
      continue;
    }
    out.push(a);
  }
  out.push('-p', String(rw.port), '-l', rw.address, '--metrics-port', String(rw.metricsPort), '--metrics-listen', rw.address);
  return out;
}

/**
 * A container's `$(VAR)` references expanded as the kubelet does for `command` and `args`: `$(VAR)` becomes
 * VAR's value when the container's environment defines it and stays as written otherwise; `$$` is a literal `$`.
 */
export function expandEnvRefs(args: readonly string[], env: Record<string, string | undefined>): string[] {
  return args.map((a) => a.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (ref, name: string | undefined) => {
    if (name === undefined) return '$';
    const v = env[name];
    return v === undefined ? ref : v;
  }));
}

function rewriteSuboptions(value: string, mounts: Record<string, string>): string {
  return value
    .split(',')
    .map((part) => {
      const file = FILE_SUBOPTIONS.find((p) => part.startsWith(p));
      if (file !== undefined) return `${file}${mapPath(part.slice(file.length), mounts)}`;
      if (!part.startsWith('ext_path=')) return part;
      const v = part.slice('ext_path='.length);
      const colon = v.lastIndexOf(':');
      if (colon <= 0) return part;
      return `ext_path=${mapPath(v.slice(0, colon), mounts)}:${v.slice(colon + 1)}`;
    })
    .join(',');
}

/**
 * Starts a client-node informer and resolves once its first list is in the cache. Not `await
 * informer.start()`: that also waits for the watch's response headers, which the API server double only
 * sends with the first event (it does not flush headers), so on a quiet resource it would never resolve.
 */
export async function startInformer(inf: { start(): Promise<void>; latestResourceVersion(): string }, what: string, timeoutMs = 10_000): Promise<void> {
  let failure: unknown;
  inf.start().catch((e: unknown) => {
    failure = e;
  });
  const deadline = Date.now() + timeoutMs;
  while (inf.latestResourceVersion() === '') {
    if (failure) throw failure;
    if (Date.now() > deadline) throw new Error(`${what}: no list within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface PodProcess {
  namespace: string;
  name: string;
  uid: string;
  address: string;
  port: number;
  metricsPort: number;
  argv: string[];
  env: NodeJS.ProcessEnv;
  logFile: string;
  volumeDirs: string[];
  child?: ChildProcess;
  exited: Promise<void>;
  restartCount: number;
  ready: boolean;
  stopping: boolean;
  startedAt: string;
  probeTimer?: NodeJS.Timeout;
  probing: boolean;
  statusChain: Promise<void>;
  pod: V1Pod;
}

/** What a pod runs in place of cachalot-server (KubeletOptions.program): e.g. cachalot-sidecar for router pods. */
export interface PodProgram {
  /** The script node runs. */
  main: string;
  /** node's own flags, before the script (e.g. `--import` of a test shim). */
  nodeArgs?: string[];
  /** Arguments after the container's rewritten ones, in place of extraArgs and podArgs (which are the servers'). */
  extraArgs?: string[];
  /** Added to the container's environment. */
  env?: Record<string, string>;
}

export interface KubeletOptions {
  kc: KubeConfig;
  node: string;
  network: LoopbackNetwork;
  /** Temp directory for volumes and logs (shared by the kubelets of one test cluster). */
  root: string;
  serverMain?: string;
  /** /readyz probe period (the pod's readinessProbe.periodSeconds is 5 s: too slow for a test). */
  probeIntervalMs?: number;
  /** Cap on the preStop sleep (the operator asks for 5 s). */
  preStopCapMs?: number;
  /** Cap on the termination grace period before SIGKILL. */
  killAfterMs?: number;
  /** Delay before restarting a container that exited on its own. */
  restartDelayMs?: number;
  /**
   * Server arguments for one pod, after extraArgs: what a pod's spec would get from wiring the double does not
   * model (e.g. a ring file the test mirrors from the ConfigMap, where a cluster would mount or watch it).
   */
  podArgs?: (pod: V1Pod) => string[];
  /** Extra server arguments (e.g. --log-level). */
  extraArgs?: string[];
  /** Node lease renewal period (a real kubelet renews every 10 s). */
  heartbeatMs?: number;
  /** A Secret change reaches a pod's secret volumes within this many ms (secret-volumes.ts; a kubelet: ~1 min). */
  secretSyncMaxMs?: number;
  /** The program for one pod, or undefined for cachalot-server (the default for every pod). */
  program?: (pod: V1Pod) => PodProgram | undefined;
}

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
/** Lease renewTime is a MicroTime: RFC 3339 with microseconds. */
export const microTime = (d = new Date()): string => d.toISOString().replace(/Z$/, '000Z');

const stamp = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A server process that exited on its own (not stopped by the kubelet). */
/** The last lines of a container log (at most 1,500 bytes), for a failure message. */
function logTail(file: string): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-1500).split('\n').slice(1).join('\n').trim();
  } catch (e) {
    return `(no log: ${(e as Error).message})`;
  }
}

export interface ServerExit {
  namespace: string;
  pod: string;
  uid: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The end of the container's log when it exited: why, for the failure message. */
  logTail: string;
}

export class Kubelet {
  readonly node: string;
  private readonly core: CoreV1Api;
  private readonly informer;
  private readonly procs = new Map<string, PodProcess>();
  private readonly starting = new Set<string>();
  /** uids whose final delete (grace 0) is in flight. */
  private readonly confirming = new Set<string>();
  /** volume dir -> exit of the process using it: a new incarnation waits for the old one to let go. */
  private readonly volumesInUse = new Map<string, Promise<void>>();
  private stopped = false;
  private syncScheduled = false;
  private resync?: NodeJS.Timeout;
  private heartbeat?: NodeJS.Timeout;
  private leases?: KubernetesObjectApi;
  /** The pods' secret volumes (written before a server starts, updated when their Secret changes). */
  readonly secrets: SecretVolumes;
  /** Every error a sync step hit (kept for assertions and for the test's failure messages). */
  readonly errors: string[] = [];
  /** Container restarts (a server that exited on its own), for the test's log. */
  readonly events: string[] = [];
  /** Servers that exited without being stopped (each one restarted, restartCount + 1): the harness fails a
   * test on any that it did not declare (harness.ts, checkExits). */
  readonly unexpectedExits: ServerExit[] = [];

  constructor(private readonly opts: KubeletOptions) {
    this.node = opts.node;
    this.core = opts.kc.makeApiClient(CoreV1Api);
    this.informer = new ListWatch<V1Pod>('/api/v1/pods', new Watch(opts.kc), () => this.core.listPodForAllNamespaces(), false);
    this.secrets = new SecretVolumes(opts.kc, startInformer, { maxDelayMs: opts.secretSyncMaxMs });
    const kick = (): void => this.kick();
    this.informer.on('add', kick);
    this.informer.on('update', kick);
    this.informer.on('delete', kick);
    this.informer.on('error', () => {
      if (!this.stopped) setTimeout(() => this.informer.start().catch(() => undefined), 200);
    });
  }

  async start(): Promise<this> {
    await startInformer(this.informer, `kubelet ${this.node}: pods`);
    this.resync = setInterval(() => this.kick(), 500);
    await this.renewLease();
    this.heartbeat = setInterval(() => void this.renewLease().catch((e) => this.note(e, 'node lease')), this.opts.heartbeatMs ?? 250);
    this.kick();
    return this;
  }

  private async renewLease(): Promise<void> {
    if (this.stopped) return;
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.node, namespace: NODE_LEASE_NAMESPACE }, spec: { holderIdentity: this.node, leaseDurationSeconds: 40, renewTime: microTime() } };
    this.leases ??= KubernetesObjectApi.makeApiClient(this.opts.kc);
    await this.leases.patch(lease, undefined, undefined, 'e2e-kubelet', true, PatchStrategy.ServerSideApply);
  }

  /** Pods this kubelet runs now, by name. */
  runningPods(): { namespace: string; name: string; uid: string; pid: number | undefined; restartCount: number; ready: boolean; address: string; argv: string[] }[] {
    return [...this.procs.values()].map((p) => ({ namespace: p.namespace, name: p.name, uid: p.uid, pid: p.child?.pid, restartCount: p.restartCount, ready: p.ready, address: p.address, argv: [...p.argv] }));
  }

  /** Graceful: SIGTERM every server and wait (used at the end of a test). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resync);
    clearInterval(this.heartbeat);
    this.secrets.stop();
    await this.informer.stop().catch(() => undefined);
    await Promise.all([...this.procs.values()].map((p) => this.terminate(p, false)));
  }

  /** Node loss: the machine is gone. SIGKILL, no more API calls. */
  powerOff(): void {
    this.stopped = true;
    clearInterval(this.resync);
    clearInterval(this.heartbeat);
    this.secrets.stop();
    void this.informer.stop().catch(() => undefined);
    for (const p of this.procs.values()) {
      p.stopping = true;
      clearInterval(p.probeTimer);
      p.child?.kill('SIGKILL');
      this.opts.network.unregister(p.namespace, p.name, p.uid);
    }
    this.procs.clear();
  }

  /** Synchronous last resort for process exit hooks. */
  killAll(): void {
    for (const p of this.procs.values()) p.child?.kill('SIGKILL');
  }

  private kick(): void {
    if (this.syncScheduled || this.stopped) return;
    this.syncScheduled = true;
    setImmediate(() => {
      this.syncScheduled = false;
      this.sync();
    });
  }

  private note(err: unknown, what: string): void {
    const code = (err as { code?: number }).code;
    if (code === 404 || this.stopped) return;
    this.errors.push(`${what}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }

  private sync(): void {
    if (this.stopped) return;
    const seen = new Set<string>();
    for (const pod of this.informer.list()) {
      if (pod.spec?.nodeName !== this.node) continue;
      const uid = pod.metadata!.uid!;
      seen.add(uid);
      const proc = this.procs.get(uid);
      if (proc) proc.pod = pod;
      if (pod.metadata?.deletionTimestamp) {
        if (proc && !proc.stopping) void this.terminate(proc, true).catch((e) => this.note(e, `stopping ${pod.metadata?.name}`));
        else if (!proc && !this.starting.has(uid)) void this.confirmDeletion(pod);
        continue;
      }
      if (!proc && !this.starting.has(uid) && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed') {
        this.starting.add(uid);
        this.startPod(pod)
          .catch((e) => this.note(e, `starting ${pod.metadata?.name}`))
          .finally(() => {
            this.starting.delete(uid);
            this.kick();
          });
      }
    }
    // Pods removed without going through Terminating (force deletion): stop their servers all the same.
    for (const p of this.procs.values()) if (!seen.has(p.uid) && !p.stopping && !this.starting.has(p.uid)) void this.terminate(p, false);
  }

  private async startPod(pod: V1Pod): Promise<void> {
    const ns = pod.metadata!.namespace ?? 'default';
    const name = pod.metadata!.name!;
    const uid = pod.metadata!.uid!;
    const container = pod.spec!.containers[0]!;
    // Volumes: a claim's directory is named by the claim's uid, so a recreated claim starts empty.
    const volumeDirs: Record<string, string> = {};
    for (const v of pod.spec!.volumes ?? []) {
      if (v.persistentVolumeClaim) {
        const pvc = await this.core.readNamespacedPersistentVolumeClaim({ name: v.persistentVolumeClaim.claimName, namespace: ns });
        volumeDirs[v.name] = join(this.opts.root, 'volumes', `${v.persistentVolumeClaim.claimName}-${pvc.metadata!.uid}`);
      } else {
        volumeDirs[v.name] = join(this.opts.root, 'pods', uid, v.name);
      }
    }
    const mounts: Record<string, string> = {};
    for (const m of container.volumeMounts ?? []) {
      const dir = volumeDirs[m.name];
      if (!dir) throw new Error(`pod ${ns}/${name}: volumeMount ${m.name} has no volume`);
      mounts[m.mountPath] = dir;
    }
    const dirs = Object.values(mounts);
    // A volume still held by the previous incarnation (force-deleted pod) is released when that process exits.
    await Promise.all(dirs.map((d) => this.volumesInUse.get(d)));
    for (const d of dirs) mkdirSync(d, { recursive: true });
    for (const v of pod.spec!.volumes ?? []) if (v.secret) await this.secrets.mount(pod, v, volumeDirs[v.name]!);

    // A container's home is its own, never the host's (a ~/.kube/config there would be credentials the pod lacks).
    const home = join(this.opts.root, 'pods', uid, 'home');
    mkdirSync(home, { recursive: true });
    const credentials = await this.serviceAccountCredentials(pod);
    const address = this.opts.network.allocateAddress();
    const port = await freePortOn(address);
    const metricsPort = await freePortOn(address);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', HOME: home, ...credentials };
    for (const e of container.env ?? []) {
      if (e.value !== undefined) env[e.name] = expandEnvRefs([e.value], env)[0];
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = name;
      else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = ns;
      else if (e.valueFrom?.fieldRef?.fieldPath === 'status.podIP') env[e.name] = address;
    }
    const program = this.opts.program?.(pod);
    const containerArgs = rewriteArgs(expandEnvRefs(container.args ?? [], env), { address, port, metricsPort, mounts });
    const argv = program
      ? [...(program.nodeArgs ?? []), program.main, ...containerArgs, ...(program.extraArgs ?? [])]
      : [this.opts.serverMain ?? SERVER_MAIN, ...containerArgs, ...(this.opts.extraArgs ?? []), ...(this.opts.podArgs?.(pod) ?? [])];
    Object.assign(env, program?.env);
    mkdirSync(join(this.opts.root, 'logs'), { recursive: true });
    const proc: PodProcess = {
      namespace: ns, name, uid, address, port, metricsPort, argv, env,
      logFile: join(this.opts.root, 'logs', `${ns}_${name}_${uid}.log`),
      volumeDirs: dirs, exited: Promise.resolve(), restartCount: 0, ready: false, stopping: false, startedAt: stamp(),
      probing: false, statusChain: Promise.resolve(), pod,
    };
    if (this.stopped) return;
    this.procs.set(uid, proc);
    this.launch(proc);
    const released = proc.exited;
    for (const d of dirs) this.volumesInUse.set(d, released);
    this.opts.network.register({ host: address, port, metricsPort, pod: name, namespace: ns, uid });
    this.reportStatus(proc);
    proc.probeTimer = setInterval(() => void this.probe(proc), this.opts.probeIntervalMs ?? 100);
  }

  /**
   * The pod's API credentials, as a kubelet mounts them: when automountServiceAccountToken (the pod's, else
   * its ServiceAccount's, else true) asks for a token, one is requested for the pod's ServiceAccount through
   * TokenRequest (`create serviceaccounts/token`, bound to the pod) and handed to the container. A real pod
   * gets it as the file /var/run/secrets/kubernetes.io/serviceaccount/token plus KUBERNETES_SERVICE_HOST/PORT
   * (client-node's in-cluster config, over https); here it is a kubeconfig naming the API server double (plain
   * http) with that token, in KUBECONFIG, which client-node's loadFromDefault reads first. A ServiceAccount
   * that does not exist fails the start (retried on the next sync), as its admission refuses such a pod; the
   * `default` account, which every real namespace has and the double does not create, gives no token.
   */
  private async serviceAccountCredentials(pod: V1Pod): Promise<Record<string, string>> {
    const ns = pod.metadata!.namespace ?? 'default';
    const account = pod.spec!.serviceAccountName ?? 'default';
    let sa;
    try {
      sa = await this.core.readNamespacedServiceAccount({ name: account, namespace: ns });
    } catch (e) {
      if ((e as { code?: number }).code === 404 && account === 'default') return {};
      throw new Error(`pod ${ns}/${pod.metadata!.name}: ServiceAccount ${account}: ${(e as Error).message.split('\n')[0]}`);
    }
    if (!(pod.spec!.automountServiceAccountToken ?? sa.automountServiceAccountToken ?? true)) return {};
    const request = await this.core.createNamespacedServiceAccountToken({
      name: account, namespace: ns,
      body: { spec: { audiences: [], expirationSeconds: 3607, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name!, uid: pod.metadata!.uid! } } },
    });
    const dir = join(this.opts.root, 'pods', pod.metadata!.uid!, 'serviceaccount');
    mkdirSync(dir, { recursive: true });
    const kubeconfig = join(dir, 'kubeconfig');
    const server = this.opts.kc.getCurrentCluster()!.server;
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'pod',
      // client-node refuses plain http unless TLS verification is (vacuously) off, as the double's own kubeconfig does.
      clusters: [{ name: 'cluster', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: account, user: { token: request.status!.token } }],
      contexts: [{ name: 'pod', context: { cluster: 'cluster', user: account, namespace: ns } }],
    }));
    return { KUBECONFIG: kubeconfig };
  }

  private launch(proc: PodProcess): void {
    const fd = openSync(proc.logFile, 'a');
    const child = spawn(process.execPath, proc.argv, { env: proc.env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    proc.child = child;
    proc.startedAt = stamp();
    proc.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        resolve();
        if (proc.stopping || this.stopped) return;
        // restartPolicy Always: the container comes back on the same pod, address and volumes.
        proc.restartCount++;
        proc.ready = false;
        this.events.push(`${proc.namespace}/${proc.name}: server exited on its own (code ${code}, signal ${signal}); restarting`);
        this.unexpectedExits.push({ namespace: proc.namespace, pod: proc.name, uid: proc.uid, code, signal, logTail: logTail(proc.logFile) });
        this.reportStatus(proc);
        setTimeout(() => {
          if (!proc.stopping && !this.stopped) {
            this.launch(proc);
            for (const d of proc.volumeDirs) this.volumesInUse.set(d, proc.exited);
          }
        }, this.opts.restartDelayMs ?? 300);
      });
    });
  }

  private async probe(proc: PodProcess): Promise<void> {
    if (proc.probing || proc.stopping) return;
    proc.probing = true;
    let ok = false;
    try {
      const r = await fetch(`http://${proc.address}:${proc.metricsPort}/readyz`, { signal: AbortSignal.timeout(1000) });
      ok = r.status === 200;
      await r.arrayBuffer();
    } catch {
      ok = false;
    } finally {
      proc.probing = false;
    }
    if (ok !== proc.ready && !proc.stopping) {
      proc.ready = ok;
      this.reportStatus(proc);
    }
  }

  /** Status writes for one pod are serialized; each sends the whole status (merge patch on pods/status). */
  private reportStatus(proc: PodProcess, phase = 'Running'): void {
    if (this.stopped) return;
    // Never write a newer incarnation's status (same name, other uid).
    const cached = this.informer.get(proc.name, proc.namespace);
    if (cached && cached.metadata?.uid !== proc.uid) return;
    const now = stamp();
    const ready = proc.ready && !proc.stopping ? 'True' : 'False';
    const status = {
      phase,
      hostIP: '127.0.0.1',
      podIP: proc.address,
      podIPs: [{ ip: proc.address }],
      startTime: proc.startedAt,
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
        { type: 'Initialized', status: 'True', lastTransitionTime: now },
        { type: 'ContainersReady', status: ready, lastTransitionTime: now },
        { type: 'Ready', status: ready, lastTransitionTime: now },
      ],
      containerStatuses: [
        {
          name: proc.pod.spec?.containers[0]?.name ?? 'server',
          image: proc.pod.spec?.containers[0]?.image ?? '',
          imageID: '',
          ready: ready === 'True',
          started: true,
          restartCount: proc.restartCount,
          state: { running: { startedAt: proc.startedAt } },
        },
      ],
    };
    proc.statusChain = proc.statusChain
      .then(() => this.core.patchNamespacedPodStatus({ name: proc.name, namespace: proc.namespace, body: { status } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)))
      .then(() => undefined)
      .catch((e) => this.note(e, `status of ${proc.name}`));
  }

  /** preStop sleep (capped), SIGTERM, wait (SIGKILL after the grace period), then confirm the deletion. */
  private async terminate(proc: PodProcess, confirm: boolean): Promise<void> {
    if (proc.stopping) return proc.exited;
    proc.stopping = true;
    clearInterval(proc.probeTimer);
    this.reportStatus(proc);
    const c = proc.pod.spec?.containers[0];
    // The `sleep` action, or an exec of `sleep N` (what the operator uses, to work on Kubernetes < 1.30).
    const hook = c?.lifecycle?.preStop as any;
    const execSleep = hook?.exec?.command?.[0]?.endsWith('sleep') ? hook.exec.command[1] : undefined;
    const preStop = Number(hook?.sleep?.seconds ?? execSleep ?? 0) * 1000;
    await new Promise((r) => setTimeout(r, Math.min(preStop, this.opts.preStopCapMs ?? 200)));
    const graceMs = Math.min((proc.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000, this.opts.killAfterMs ?? 20_000);
    const child = proc.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await proc.exited;
      clearTimeout(killer);
    }
    await proc.statusChain;
    this.opts.network.unregister(proc.namespace, proc.name, proc.uid);
    this.procs.delete(proc.uid);
    this.secrets.unmount(proc.uid);
    if (confirm && !this.stopped) await this.confirmDeletion(proc.pod);
  }

  /**
   * The kubelet's last word on a Terminating pod: delete with gracePeriodSeconds=0, only that incarnation
   * (uid precondition: a pod recreated under the same name is left alone).
   */
  private async confirmDeletion(pod: V1Pod): Promise<void> {
    const uid = pod.metadata!.uid!;
    if (this.confirming.has(uid)) return;
    this.confirming.add(uid);
    try {
      await this.core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace: pod.metadata!.namespace ?? 'default', gracePeriodSeconds: 0, body: { preconditions: { uid } } });
    } catch (e) {
      if ((e as { code?: number }).code !== 409) this.note(e, `deleting ${pod.metadata!.name}`);
    } finally {
      this.confirming.delete(uid);
    }
  }
}
