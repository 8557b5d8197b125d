/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * SERVICE TEST DOUBLE for the end-to-end tests: what kube-proxy, the Endpoints controller and cluster DNS do
 * for a Service, on loopback. A client of the API server double over HTTP (the real @kubernetes/client-node).
 *
 * - **ClusterIP.** Every Service with a selector and a cluster IP (not headless) gets its own 127.0.0.x address
 *   from the LoopbackNetwork, and one TCP listener on it per Service port (a free port: two test runs on one
 *   machine may meet on an address). Each new connection goes to one endpoint, round-robin, and stays there:
 *   kube-proxy balances connections, not requests. Endpoints are the pods the selector matches in the
 *   Service's namespace that are Ready and not Terminating (all running ones with
 *   `publishNotReadyAddresses`), reached where the kubelet double runs them; the target port (a number, or a
 *   container port's name) is mapped to that pod's live memcached or metrics port. With no endpoint, the
 *   connection is closed at once, as a connection refused.
 * - **DNS.** `<svc>.<ns>.svc.cluster.local` on a Service port resolves to its listener (`resolve`), and, as a
 *   headless Service's pod records, `<hostname>.<subdomain>.<ns>.svc.cluster.local` on a container port
 *   resolves to the pod's live address. Both are written, every 100 ms when changed, to a JSON file
 *   (`dnsFile`, "host:port" -> "127.0.0.x:port") that pod-dns-shim.mjs reads in the processes the kubelet
 *   double runs (router pods), as a pod's resolver would ask cluster DNS.
 *
 * Not modelled: session affinity, traffic policies, NodePorts and load balancers (a Service of those types
 * gets its cluster IP listener only), EndpointSlices as objects, topology-aware routing. A connection
 * already open to a pod that leaves stays open until the pod closes it, as with kube-proxy's conntrack.
 */
import { renameSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { CoreV1Api, ListWatch, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { freePortOn, startInformer, type LoopbackNetwork } from './kubelet.js';

type Obj = KubernetesObject & { spec?: any; status?: any };

const MEMCACHED_CONTAINER_PORT = 11211;
const CLUSTER_DOMAIN = 'svc.cluster.local';

interface Listener {
  servicePort: number;
  targetPort: number | string;
  server: net.Server;
  port: number;
  sockets: Set<net.Socket>;
}

interface ServiceProxy {
  namespace: string;
  name: string;
  address: string;
  listeners: Listener[];
  next: number;
  /** Connections accepted, and how many went to each pod (for the tests' assertions). */
  accepted: number;
  byPod: Map<string, number>;
  refused: number;
}

function isReady(p: Obj): boolean {
  return p.status?.phase === 'Running' && (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
}

export class ServiceProxies {
  private readonly core: CoreV1Api;
  private readonly informers;
  private readonly proxies = new Map<string, ServiceProxy>();
  private readonly pending = new Set<string>();
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private lastDns = '';
  readonly errors: string[] = [];

  constructor(kc: KubeConfig, private readonly network: LoopbackNetwork, readonly dnsFile: string) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.informers = {
      services: new ListWatch<Obj>('/api/v1/services', new Watch(kc), () => this.core.listServiceForAllNamespaces() as any, false),
      pods: new ListWatch<Obj>('/api/v1/pods', new Watch(kc), () => this.core.listPodForAllNamespaces() as any, false),
    };
    for (const inf of Object.values(this.informers)) {
      inf.on('error', () => {
        if (!this.stopped) setTimeout(() => void inf.start().catch(() => undefined), 200);
      });
    }
    this.informers.services.on('add', () => this.sync());
    this.informers.services.on('update', () => this.sync());
    this.informers.services.on('delete', () => this.sync());
  }

  async start(): Promise<this> {
    await Promise.all(Object.entries(this.informers).map(([what, i]) => startInformer(i, `service proxies: ${what}`)));
    this.writeDns();
    this.timer = setInterval(() => {
      this.sync();
      this.writeDns();
    }, 100);
    this.sync();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.all(Object.values(this.informers).map((i) => i.stop().catch(() => undefined)));
    await Promise.all([...this.proxies.values()].map((p) => this.close(p)));
    this.proxies.clear();
  }

  /** Where `<svc>.<ns>.svc.cluster.local:port` (or `<svc>.<ns>`, `<svc>.<ns>.svc`) is served now. */
  resolve(host: string, port: number): { host: string; port: number } | undefined {
    const m = /^([^.]+)\.([^.]+)(?:\.svc(?:\.cluster\.local)?)?$/.exec(host);
    if (!m) return undefined;
    const p = this.proxies.get(`${m[2]}/${m[1]}`);
    const l = p?.listeners.find((x) => x.servicePort === port);
    return p && l ? { host: p.address, port: l.port } : undefined;
  }

  /** Connections the Service `namespace/name` accepted, by the pod each went to, and those refused for want of an endpoint. */
  connections(namespace: string, name: string): { accepted: number; byPod: Map<string, number>; refused: number } {
    const p = this.proxies.get(`${namespace}/${name}`);
    return { accepted: p?.accepted ?? 0, byPod: new Map(p?.byPod ?? []), refused: p?.refused ?? 0 };
  }

  /** The pods a Service's connections go to now (Ready ones, or all running with publishNotReadyAddresses). */
  endpoints(namespace: string, name: string): string[] {
    const svc = this.informers.services.get(name, namespace);
    return svc ? this.endpointPods(svc).map((p) => p.metadata!.name!) : [];
  }

  private endpointPods(svc: Obj): Obj[] {
    const ns = svc.metadata!.namespace!;
    const selector: Record<string, string> = svc.spec?.selector ?? {};
    if (Object.keys(selector).length === 0) return [];
    const notReadyToo = svc.spec?.publishNotReadyAddresses === true;
    return this.informers.pods
      .list(ns)
      .filter((p) => !p.metadata?.deletionTimestamp && Object.entries(selector).every(([k, v]) => p.metadata?.labels?.[k] === v))
      .filter((p) => (notReadyToo ? p.status?.phase === 'Running' : isReady(p)))
      .filter((p) => this.network.endpoint(ns, p.metadata!.name!)?.uid === p.metadata!.uid)
      .sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!));
  }

  /** The live host port for a Service's targetPort on one pod, through the pod's container ports. */
  private podPort(pod: Obj, targetPort: number | string): { host: string; port: number } | undefined {
    const ep = this.network.endpoint(pod.metadata!.namespace!, pod.metadata!.name!);
    if (!ep) return undefined;
    const ports: any[] = (pod.spec?.containers ?? []).flatMap((c: any) => c.ports ?? []);
    const cp = typeof targetPort === 'string' && !/^\d+$/.test(targetPort) ? ports.find((p) => p.name === targetPort) : ports.find((p) => p.containerPort === Number(targetPort)) ?? { containerPort: Number(targetPort) };
    if (!cp) return undefined;
    if (cp.containerPort === MEMCACHED_CONTAINER_PORT) return { host: ep.host, port: ep.port };
    if (cp.name === 'metrics') return { host: ep.host, port: ep.metricsPort };
    return undefined;
  }

  private sync(): void {
    if (this.stopped) return;
    const want = new Map<string, Obj>();
    for (const svc of this.informers.services.list()) {
      if (svc.spec?.clusterIP === 'None' || !svc.spec?.selector) continue;
      want.set(`${svc.metadata!.namespace}/${svc.metadata!.name}`, svc);
    }
    for (const [key, p] of this.proxies) {
      if (!want.has(key)) {
        this.proxies.delete(key);
        void this.close(p);
      }
    }
    for (const [key, svc] of want) {
      const p = this.proxies.get(key);
      const ports = (svc.spec?.ports ?? []).map((x: any) => `${x.port}>${x.targetPort ?? x.port}`).join(',');
      if (p && p.listeners.map((l) => `${l.servicePort}>${l.targetPort}`).join(',') === ports) continue;
      if (this.pending.has(key)) continue;
      this.pending.add(key);
      this.open(svc, p)
        .catch((e) => this.errors.push(`${key}: ${e instanceof Error ? e.message : String(e)}`))
        .finally(() => this.pending.delete(key));
    }
  }

  private async open(svc: Obj, old: ServiceProxy | undefined): Promise<void> {
    const ns = svc.metadata!.namespace!;
    const name = svc.metadata!.name!;
    const key = `${ns}/${name}`;
    if (old) await this.close(old);
    const proxy: ServiceProxy = { namespace: ns, name, address: old?.address ?? this.network.allocateAddress(), listeners: [], next: 0, accepted: 0, byPod: new Map(), refused: 0 };
    for (const sp of svc.spec?.ports ?? []) {
      const port = await freePortOn(proxy.address);
      const l: Listener = { servicePort: sp.port, targetPort: sp.targetPort ?? sp.port, server: net.createServer(), port, sockets: new Set() };
      l.server.on('connection', (client) => this.forward(proxy, l, client));
      await new Promise<void>((resolve, reject) => {
        l.server.once('error', reject);
        l.server.listen(port, proxy.address, () => resolve());
      });
      proxy.listeners.push(l);
    }
    if (this.stopped) return this.close(proxy);
    this.proxies.set(key, proxy);
  }

  private forward(proxy: ServiceProxy, l: Listener, client: net.Socket): void {
    const svc = this.informers.services.get(proxy.name, proxy.namespace);
    const pods = svc ? this.endpointPods(svc) : [];
    let to: { host: string; port: number } | undefined;
    let pod = '';
    for (let i = 0; i < pods.length && !to; i++) {
      const p = pods[proxy.next++ % pods.length]!;
      to = this.podPort(p, l.targetPort);
      pod = p.metadata!.name!;
    }
    if (!to) {
      proxy.refused++;
      client.destroy();
      return;
    }
    proxy.accepted++;
    proxy.byPod.set(pod, (proxy.byPod.get(pod) ?? 0) + 1);
    const upstream = net.connect(to);
    l.sockets.add(client);
    l.sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.pipe(upstream);
    upstream.pipe(client);
    const done = (): void => {
      l.sockets.delete(client);
      l.sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', done);
    upstream.on('error', done);
    client.on('close', done);
    upstream.on('close', done);
  }

  private close(p: ServiceProxy): Promise<void> {
    return Promise.all(p.listeners.map((l) => new Promise<void>((resolve) => {
      for (const s of l.sockets) s.destroy();
      l.server.close(() => resolve());
    }))).then(() => undefined);
  }

  /** Service and headless pod records, "host:port" -> "127.0.0.x:port", for pod-dns-shim.mjs. */
  private writeDns(): void {
    const map: Record<string, string> = {};
    for (const p of this.proxies.values()) {
      for (const l of p.listeners) map[`${p.name}.${p.namespace}.${CLUSTER_DOMAIN}:${l.servicePort}`] = `${p.address}:${l.port}`;
    }
    for (const pod of this.informers.pods.list()) {
      const { hostname, subdomain } = pod.spec ?? {};
      // Kept while Terminating: the operator's headless Service publishes not-ready addresses.
      if (!hostname || !subdomain) continue;
      const ns = pod.metadata!.namespace!;
      const to = this.network.resolve(`${hostname}.${subdomain}.${ns}.${CLUSTER_DOMAIN}`, MEMCACHED_CONTAINER_PORT);
      if (to) map[`${hostname}.${subdomain}.${ns}.${CLUSTER_DOMAIN}:${MEMCACHED_CONTAINER_PORT}`] = `${to.host}:${to.port}`;
    }
    const text = JSON.stringify(map);
    if (text === this.lastDns) return;
    const tmp = `${this.dnsFile}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.dnsFile);
    this.lastDns = text;
  }
}
