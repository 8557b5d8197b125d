/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * End-to-end wiring: the API server double, the control-plane double (control-plane.ts), one kubelet double
 * per node (kubelet.ts) running real cachalot-server processes on loopback, and the real operator in-process;
 * with `routers: true` also Deployments (deployments.ts) and Services (services.ts), the router pods running
 * real cachalot-sidecar processes (router-pods.ts).
 * Also the test's view of the data plane: a ketama router over the published ring (the sidecar's own
 * continuum code) and a small pipelining memcached client that connects to 127.x.y.z addresses.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, StorageV1Api, type V1Pod } from '@kubernetes/client-node';
import { ApiServerDouble } from '../k8s/apiserver/index.js';
import { installCrd } from '../k8s/helpers.js';
import { installChartRbac } from '../k8s/chart.js';
import { Operator } from '../../operator/src/operator.js';
import { createLogger } from '../../operator/src/log.js';
import { Continuum } from '../../server/src/ring/continuum.js';
import { parseRingDocument, type RingMemberSpec, type RingSpec } from '../../server/src/ring/document.js';
import { parseReply, storageCommand, type Reply, type ReplyShape } from '../support/mcclient.js';
import { ControlPlane } from './control-plane.js';
import { NodeLifecycle } from './node-lifecycle.js';
import { Kubelet, LoopbackNetwork, SERVER_MAIN, type ServerExit } from './kubelet.js';
import { DeploymentController } from './deployments.js';
import { ServiceProxies } from './services.js';
import { routerProgram } from './router-pods.js';

export interface E2ECluster {
  api: ApiServerDouble;
  kc: KubeConfig;
  core: CoreV1Api;
  network: LoopbackNetwork;
  controlPlane: ControlPlane;
  nodeLifecycle: NodeLifecycle;
  kubelets: Map<string, Kubelet>;
  operator: Operator;
  root: string;
  /** With ClusterOptions.routers: the Deployment controller double (router pods) and the Service double. */
  deployments?: DeploymentController;
  services?: ServiceProxies;
  /** Node loss: the kubelet's machine dies (SIGKILL), then its Node object is deleted. */
  loseNode(name: string): Promise<void>;
  /** The kubelet's machine dies (SIGKILL) and its Node stays: the node lifecycle double marks it NotReady. */
  powerOffNode(name: string): void;
  stop(): Promise<void>;
  /**
   * Declares that the scenario makes the server of pod `namespace/name` exit on its own: exactly `count`
   * times, or at least `count` with `atLeast` (a crash loop), before the next checkExits().
   */
  expectExits(pod: string, count: number, atLeast?: boolean): void;
  /** Throws naming every server exit since the last check that expectExits() did not declare, or a declared
   *  count that did not happen; then starts over. Tests call it after each test (afterEach). */
  checkExits(): void;
}

const live = new Set<E2ECluster>();
// Last resort if jest tears the worker down without afterAll finishing: no server outlives the test run.
process.once('exit', () => {
  for (const c of live) for (const k of c.kubelets.values()) k.killAll();
});

/** How long a node's lease may go unrenewed before it is NotReady (Kubernetes: 40 s). Short for the test, yet
 * long enough that a busy machine stalling the test process does not make a live node NotReady. */
export const MONITOR_GRACE_PERIOD_MS = 3000;

/** One server per node is the operator's default (a required pod anti-affinity): the suite scales to 5
 * members and then replaces a lost node's member, so it needs 5 nodes plus a spare. */
export const DEFAULT_NODES = ['node-a', 'node-b', 'node-c', 'node-d', 'node-e', 'node-f'];

export interface ClusterOptions {
  /** Per-pod server arguments, passed to every kubelet double (KubeletOptions.podArgs). */
  podArgs?: (pod: V1Pod) => string[];
  /**
   * Run Deployments and Services too (deployments.ts, services.ts): the operator's router pods become real
   * cachalot-sidecar processes (router-pods.ts) and the client Service a loopback proxy to them.
   */
  routers?: boolean;
  /** Arguments added to every router pod's cachalot-sidecar (e.g. --no-transition-fill). */
  routerArgs?: string[];
}

export async function startCluster(nodes: string[] = DEFAULT_NODES, options: ClusterOptions = {}): Promise<E2ECluster> {
  if (!existsSync(SERVER_MAIN)) throw new Error(`${SERVER_MAIN} is missing: run npm run build first`);
  const root = mkdtempSync(join(tmpdir(), 'cachalot-e2e-'));
  const api = new ApiServerDouble({ bookmarkIntervalMs: 200 });
  await api.start();
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfigYaml());
  await installCrd(api.url);
  // The operator runs as the chart's ServiceAccount, with exactly the chart's RBAC.
  const operatorIdentity = await installChartRbac(api);
  const operatorKc = new KubeConfig();
  operatorKc.loadFromString(api.kubeconfigYaml('default', operatorIdentity.token));
  const core = kc.makeApiClient(CoreV1Api);
  for (const n of nodes) {
    await core.createNode({
      body: {
        metadata: { name: n, labels: { 'kubernetes.io/hostname': n } },
        status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }] },
      } as any,
    });
  }
  // Statically provisioned local PVs, as docs/operator.md sets them up: node-loss recovery is on by default.
  await kc.makeApiClient(StorageV1Api).createStorageClass({ body: { metadata: { name: 'local-storage' }, provisioner: 'kubernetes.io/no-provisioner', volumeBindingMode: 'WaitForFirstConsumer' } });
  const network = new LoopbackNetwork();
  const controlPlane = await new ControlPlane(kc).start();
  const nodeLifecycle = new NodeLifecycle(kc, { monitorGracePeriodMs: MONITOR_GRACE_PERIOD_MS }).start();
  const kubelets = new Map<string, Kubelet>();
  const seenExits = new Set<ServerExit>();
  let declared = new Map<string, { count: number; atLeast: boolean }>();
  const cluster: E2ECluster = {
    expectExits(pod, count, atLeast = false) {
      declared.set(pod, { count, atLeast });
    },
    checkExits() {
      const fresh = [...kubelets.values()].flatMap((k) => k.unexpectedExits).filter((e) => !seenExits.has(e));
      for (const e of fresh) seenExits.add(e);
      const byPod = new Map<string, ServerExit[]>();
      for (const e of fresh) byPod.set(`${e.namespace}/${e.pod}`, [...(byPod.get(`${e.namespace}/${e.pod}`) ?? []), e]);
      const problems: string[] = [];
      for (const [pod, exits] of byPod) {
        const want = declared.get(pod);
        const how = exits.map((e) => `code ${e.code}, signal ${e.signal}`).join('; ');
        const log = `its log at the first exit:\n${exits[0]!.logTail}`;
        if (!want) problems.push(`${pod}: the server exited ${exits.length} time(s) on its own (${how}) and the test did not stop it; ${log}`);
        else if (want.atLeast ? exits.length < want.count : exits.length !== want.count) {
          problems.push(`${pod}: the server exited ${exits.length} time(s) on its own (${how}); the test expected ${want.atLeast ? 'at least ' : ''}${want.count}; ${log}`);
        }
      }
      for (const [pod, want] of declared) if (!byPod.has(pod)) problems.push(`${pod}: expected ${want.atLeast ? 'at least ' : ''}${want.count} exit(s) of its server, saw none`);
      declared = new Map();
      if (problems.length) throw new Error(`unexpected server exits:\n${problems.join('\n')}`);
    },
    api, kc, core, network, controlPlane, nodeLifecycle, kubelets, root,
    operator: undefined as unknown as Operator,
    async loseNode(name) {
      kubelets.get(name)?.powerOff();
      await core.deleteNode({ name });
    },
    powerOffNode(name) {
      kubelets.get(name)?.powerOff();
    },
    async stop() {
      const errors: unknown[] = [];
      const attempt = async (f: () => Promise<unknown>): Promise<void> => {
        try {
          await f();
        } catch (e) {
          errors.push(e);
        }
      };
      await attempt(() => cluster.operator?.stop() ?? Promise.resolve());
      nodeLifecycle.stop();
      await attempt(() => controlPlane.stop());
      await attempt(() => cluster.deployments?.stop() ?? Promise.resolve());
      await attempt(() => cluster.services?.stop() ?? Promise.resolve());
      await Promise.all([...kubelets.values()].map((k) => attempt(() => k.stop())));
      for (const k of kubelets.values()) k.killAll();
      await attempt(() => api.stop());
      live.delete(cluster);
      if (!process.env.CACHALOT_E2E_KEEP) rmSync(root, { recursive: true, force: true });
      if (errors.length) throw errors[0];
    },
  };
  live.add(cluster);
  try {
    let program: ReturnType<typeof routerProgram> | undefined;
    if (options.routers) {
      cluster.services = await new ServiceProxies(kc, network, join(root, 'cluster-dns.json')).start();
      cluster.deployments = await new DeploymentController(kc).start();
      program = routerProgram(cluster.services.dnsFile, options.routerArgs);
    }
    for (const n of nodes) kubelets.set(n, await new Kubelet({ kc, node: n, network, root, extraArgs: ['--log-level', 'warn'], podArgs: options.podArgs, program }).start());
    cluster.operator = new Operator(operatorKc, {
      leaderElection: false,
      log: createLogger(process.env.CACHALOT_OPERATOR_LOG_LEVEL ?? 'silent'),
      controller: { queue: { baseDelayMs: 20, maxDelayMs: 1000 }, stallTimeoutMs: 5000 },
    });
    await cluster.operator.start();
  } catch (e) {
    await cluster.stop().catch(() => undefined);
    throw e;
  }
  return cluster;
}

/** Polls until `probe` returns a value (not undefined/false), bounded by a deadline. */
export async function waitUntil<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// ---- the ring, as a client routes by it ----------------------------------------------------------------------

/** A ketama router over one ring document: the sidecar's own continuum, active members only (ring/document.ts). */
export class RingRouter {
  readonly spec: RingSpec;
  readonly active: readonly RingMemberSpec[];
  private readonly continuum: Continuum;

  constructor(ringJson: string) {
    this.spec = parseRingDocument(ringJson);
    this.active = this.spec.members.filter((m) => m.state === 'active');
    this.continuum = new Continuum(this.active, this.spec.vnodes);
  }

  owner(key: string): RingMemberSpec {
    const i = this.continuum.ownerOf(Buffer.from(key, 'latin1'));
    if (i < 0) throw new Error('empty ring');
    return this.active[i]!;
  }

  /** Keys grouped by owning member name. */
  partition(keys: Iterable<string>): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const k of keys) {
      const m = this.owner(k).name;
      let list = out.get(m);
      if (!list) out.set(m, (list = []));
      list.push(k);
    }
    return out;
  }
}

// ---- a memcached client for 127.x.y.z ------------------------------------------------------------------------

/** A pipelining text-protocol client (replies matched to requests strictly in order; framing by test/support). */
export class Mc {
  private buf: Buffer = Buffer.alloc(0);
  private readonly queue: { shape: ReplyShape; resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private failed: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      while (this.queue.length > 0) {
        const head = this.queue[0]!;
        let parsed;
        try {
          parsed = parseReply(this.buf, head.shape);
        } catch (e) {
          this.fail(e as Error);
          return;
        }
        if (parsed === null) return;
        this.queue.shift();
        const raw = Buffer.from(this.buf.subarray(0, parsed.consumed));
        this.buf = this.buf.subarray(parsed.consumed);
        head.resolve({ ...parsed.reply, raw });
      }
    });
    const onEnd = (): void => this.fail(new Error('connection closed by the server'));
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', (e) => this.fail(e));
  }

  private fail(e: Error): void {
    if (!this.failed) this.failed = e;
    for (const p of this.queue.splice(0)) p.reject(this.failed);
    this.socket.destroy();
  }

  static connect(host: string, port: number, timeoutMs = 5000): Promise<Mc> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new Mc(socket));
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  /** A client over a socket already connected (a TLS socket after its handshake, for servers with -Z). */
  static over(socket: net.Socket): Mc {
    return new Mc(socket);
  }

  pipeline(bytes: Buffer, shapes: readonly ReplyShape[], timeoutMs = 15_000): Promise<Reply[]> {
    if (this.failed) return Promise.reject(this.failed);
    const all = Promise.all(shapes.map((shape) => new Promise<Reply>((resolve, reject) => this.queue.push({ shape, resolve, reject }))));
    this.socket.write(bytes);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = new Error(`no reply within ${timeoutMs} ms`);
        this.fail(e);
        reject(e);
      }, timeoutMs);
    });
    return Promise.race([all, timeout]).finally(() => clearTimeout(timer));
  }

  /** Sets every entry; returns the keys whose reply was not STORED. */
  async setMany(entries: [string, Buffer][], batch = 200): Promise<string[]> {
    const bad: string[] = [];
    for (let i = 0; i < entries.length; i += batch) {
      const part = entries.slice(i, i + batch);
      const replies = await this.pipeline(Buffer.concat(part.map(([k, v]) => storageCommand('set', k, v))), part.map(() => 'line'));
      replies.forEach((r, j) => {
        if (r.line !== 'STORED') bad.push(`${part[j]![0]}: ${r.line}`);
      });
    }
    return bad;
  }

  /** Gets each key (one `get` per key, pipelined): the value, or undefined for a miss. */
  async getMany(keys: string[], batch = 200): Promise<Map<string, Buffer | undefined>> {
    const out = new Map<string, Buffer | undefined>();
    for (let i = 0; i < keys.length; i += batch) {
      const part = keys.slice(i, i + batch);
      const replies = await this.pipeline(Buffer.from(part.map((k) => `get ${k}\r\n`).join(''), 'latin1'), part.map(() => 'values'));
      replies.forEach((r, j) => {
        const k = part[j]!;
        if (r.line !== 'END') throw new Error(`get ${k}: ${r.line}`);
        if (r.values.length > 1 || (r.values[0] && r.values[0].key !== k)) throw new Error(`get ${k}: unexpected reply ${r.raw.toString('latin1', 0, 200)}`);
        out.set(k, r.values[0]?.data);
      });
    }
    return out;
  }

  /** The connection failed or was closed (the server restarted): open a new one. */
  get isFailed(): boolean {
    return this.failed !== null;
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Steps build on each other: once one fails, the later ones fail at once (naming the first failure) instead
 * of each waiting out its deadlines on a cluster in an unknown state. One per test file.
 */
export function sequentialSteps(): (name: string, fn: () => Promise<void>, timeoutMs: number) => void {
  let failedStep: string | undefined;
  return (name, fn, timeoutMs) => {
    test(name, async () => {
      if (failedStep) throw new Error(`not run: an earlier step failed (${failedStep})`);
      failedStep = name;
      await fn();
      failedStep = undefined;
    }, timeoutMs);
  };
}
