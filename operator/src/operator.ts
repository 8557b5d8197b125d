/**
 * One cachalot-operator instance: metrics/health HTTP server, leader election, and the controller, which runs
 * only while this instance leads (a new Controller per term, so nothing from a previous term leaks into it).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { Controller, type ControllerOptions } from './controller/controller.js';
import { EventRecorder } from './controller/events.js';
import { DEFAULT_LEASE_NAME, LeaderElector, type LeaderElectionConfig } from './leader.js';

export { DEFAULT_LEASE_NAME };
import { createLogger, type Logger } from './log.js';
import { OperatorMetrics } from './metrics.js';

export interface OperatorOptions {
  namespace?: string;
  /** false: run the controller without a Lease (a single replica). */
  leaderElection?: (Partial<LeaderElectionConfig> & { namespace: string }) | false;
  /** Port for /metrics, /healthz, /readyz; 0 picks a free one; undefined serves nothing. */
  metricsPort?: number;
  metricsHost?: string;
  /** Called when leadership is lost; main exits so the pod restarts clean. */
  onLostLeadership?: () => void;
  log?: Logger;
  controller?: Omit<Partial<ControllerOptions>, 'log' | 'metrics' | 'recorder'>;
  defaultMetrics?: boolean;
}

export class Operator {
  readonly metrics: OperatorMetrics;
  readonly log: Logger;
  readonly identity: string;
  private controller?: Controller;
  private elector?: LeaderElector;
  private server?: Server;
  private starting?: Promise<void>;
  private stopping = false;
  metricsUrl = '';

  constructor(private readonly kc: KubeConfig, private readonly opts: OperatorOptions = {}) {
    this.metrics = new OperatorMetrics(opts.defaultMetrics ?? false);
    this.log = opts.log ?? createLogger();
    this.identity = (opts.leaderElection && opts.leaderElection.identity) || `${hostname()}-${process.pid}`;
  }

  get isLeader(): boolean {
    return this.elector ? this.elector.isLeader : this.controller !== undefined;
  }

  get activeController(): Controller | undefined {
    return this.controller;
  }

  async start(): Promise<void> {
    if (this.opts.metricsPort !== undefined) await this.serve(this.opts.metricsPort, this.opts.metricsHost ?? '0.0.0.0');
    const le = this.opts.leaderElection;
    if (le) {
      this.elector = new LeaderElector(
        this.kc,
        { name: DEFAULT_LEASE_NAME, ...le, identity: this.identity },
        {
          onStartedLeading: () => {
            this.starting = this.startController();
          },
          onStoppedLeading: async () => {
            // Stop first: a controller still starting (its informers retrying an unreachable API server) is
            // told to give up, instead of this waiting for a start that may never finish.
            await this.stopController();
            await this.starting;
            if (!this.stopping) this.opts.onLostLeadership?.();
          },
        },
        this.log,
        this.metrics,
      );
      this.elector.start();
    } else {
      await this.startController();
    }
  }

  /** crash=true leaves the Lease held, as a killed process would. */
  async stop(crash = false): Promise<void> {
    this.stopping = true;
    if (this.elector) await this.elector.stop(!crash);
    await this.stopController();
    await this.starting;
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise<void>((r) => this.server!.close(() => r()));
      this.server = undefined;
    }
  }

  private async startController(): Promise<void> {
    const recorder = new EventRecorder(this.kc, 'cachalot-operator', this.identity, this.log, this.metrics);
    const c = new Controller(this.kc, { ...this.opts.controller, ...(this.opts.namespace ? { namespace: this.opts.namespace } : {}), log: this.log, metrics: this.metrics, recorder });
    this.controller = c;
    await c.start();
  }

  private async stopController(): Promise<void> {
    const c = this.controller;
    this.controller = undefined;
    if (c) await c.stop();
  }

  private async serve(port: number, host: string): Promise<void> {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/metrics') {
        this.metrics.registry
          .metrics()
          .then((text) => {
            res.writeHead(200, { 'Content-Type': this.metrics.registry.contentType });
            res.end(text);
          })
          .catch((err: unknown) => {
            res.writeHead(500);
            res.end(String(err));
          });
        return;
      }
      if (path === '/healthz') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok');
        return;
      }
      if (path === '/readyz') {
        // A follower is ready (it is doing its job: waiting); a leader once its caches have synced.
        const ready = !this.isLeader || (this.controller?.hasSynced() ?? false);
        res.writeHead(ready ? 200 : 503, { 'Content-Type': 'text/plain' });
        res.end(ready ? 'ok' : 'informers not synced');
        return;
      }
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((resolve) => this.server!.listen(port, host, resolve));
    const addr = this.server.address() as AddressInfo;
    this.metricsUrl = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}`;
  }
}
