/**
 * A real cachalot-sidecar process beside the e2e cluster: it follows the ring ConfigMap through the API server
 * double (--ring-configmap, as the router Deployment and API-watching sidecars do) and reaches pods through
 * pod-dns-shim.mjs, fed here with LoopbackNetwork's live addresses of every member the ring names (its
 * `previous` included).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePortOn } from './kubelet.js';
import { Mc, waitUntil, type E2ECluster } from './harness.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SIDECAR_MAIN = join(HERE, '..', '..', 'dist', 'server', 'src', 'sidecar', 'main.js');
const SHIM = join(HERE, 'pod-dns-shim.mjs');

interface Member { host: string; port: number }

export interface SidecarProcessOptions {
  /** More sidecar flags (e.g. --tls-ca, --auth-file, --server-connections). */
  extraArgs?: string[];
  /** pino level (default warn); its log lines (stdout) are kept for `logged`. */
  logLevel?: string;
  /**
   * A member that first appears in the ring after start() resolves only this long after the test first saw
   * it (default 0): cluster DNS publishes a new pod's name after its endpoint turns Ready, while a sidecar
   * reading the ring from the API can route to it sooner.
   */
  newMemberDnsDelayMs?: number;
}

export class SidecarProcess {
  private proc: ChildProcess | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stderr = '';
  private stdout = '';
  port = 0;
  private readonly dnsFile: string;
  private readonly kubeconfig: string;
  /** The mapping last written for the shim. */
  private written: Record<string, string> = {};
  /** When each `host:port` was first seen in the ring (0: before the sidecar started). */
  private readonly firstSeen = new Map<string, number>();
  private started = false;

  constructor(private readonly c: E2ECluster, private readonly namespace: string, private readonly name: string, readonly tag = 'sidecar',
    private readonly options: SidecarProcessOptions = {}) {
    this.dnsFile = join(c.root, `${tag}-pod-dns.json`);
    this.kubeconfig = join(c.root, `${tag}-kubeconfig.yaml`);
  }

  async start(): Promise<void> {
    writeFileSync(this.kubeconfig, this.c.api.kubeconfigYaml());
    await this.refresh();
    this.started = true;
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), 100);
    this.port = await freePortOn('127.0.0.1');
    this.proc = spawn(process.execPath, ['--import', SHIM, SIDECAR_MAIN, '--ring-configmap', `${this.namespace}/${this.name}-ring`,
      '--port', String(this.port), '--listen', '127.0.0.1', '--metrics-port', '0', '--log-level', this.options.logLevel ?? 'warn',
      '--request-timeout-ms', '2000', ...(this.options.extraArgs ?? [])], {
      env: { ...process.env, KUBECONFIG: this.kubeconfig, CACHALOT_E2E_POD_DNS: this.dnsFile, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout!.on('data', (d: Buffer) => {
      this.stdout = (this.stdout + d.toString()).slice(-64_000);
    });
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    await waitUntil(`${this.tag} listening`, async () => {
      if (this.proc?.exitCode !== null) throw new Error(`${this.tag} exited: ${this.stderr}`);
      try {
        (await Mc.connect('127.0.0.1', this.port)).close();
        return true;
      } catch {
        return undefined;
      }
    }, 20_000, 100);
  }

  /** Whether the sidecar's recent log (the last 64 KB of stdout) has a line containing `text`. */
  logged(text: string): boolean {
    return this.stdout.includes(text);
  }

  /** The ring version the sidecar routes by (its `stats`). */
  async ringVersion(): Promise<number> {
    const mc = await Mc.connect('127.0.0.1', this.port);
    try {
      const [r] = await mc.pipeline(Buffer.from('stats\r\n'), ['stats']);
      return Number(r!.stats.get('ring_version') ?? -1);
    } finally {
      mc.close();
    }
  }

  private async refresh(): Promise<void> {
    const r = await fetch(`${this.c.api.url}/api/v1/namespaces/${this.namespace}/configmaps/${this.name}-ring`);
    if (r.status !== 200) return;
    const doc = JSON.parse(((await r.json()) as { data: Record<string, string> }).data['ring.json']!) as
      { members: Member[]; previous?: { members: Member[] } };
    const map: Record<string, string> = {};
    const now = Date.now();
    const delay = this.options.newMemberDnsDelayMs ?? 0;
    for (const m of [...doc.members, ...(doc.previous?.members ?? [])]) {
      const name = `${m.host}:${m.port}`;
      if (!this.firstSeen.has(name)) this.firstSeen.set(name, this.started ? now : 0);
      if (now < this.firstSeen.get(name)! + delay) continue;
      const ep = this.c.network.resolve(m.host, m.port);
      if (ep) map[name] = `${ep.host}:${ep.port}`;
    }
    const tmp = `${this.dnsFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(map));
    renameSync(tmp, this.dnsFile);
    this.written = map;
  }

  /** The shim sends `host:port` to where the pod serves now (a mapping written since it started). */
  reaches(host: string, port: number): boolean {
    const ep = this.c.network.resolve(host, port);
    return ep !== undefined && this.written[`${host}:${port}`] === `${ep.host}:${ep.port}`;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}
